"""Running simulated stations inside a test."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chargegrid.clock import Clock, ManualClock
from simulators.connector import ConnectorSpec
from simulators.ev import EVSpec
from simulators.fleet import build_runner
from simulators.runner import StationRunner
from simulators.station import StationSpec
from tests.waiting import wait_until

__all__ = [
    "chargegrid_sim",
    "ev_at",
    "parse_time",
    "run_to_next_wakeup",
    "running",
    "station_runner",
]


_ROOT = Path(__file__).resolve().parents[3]


async def chargegrid_sim(*args: str, timeout_s: float = 60.0) -> tuple[int, str, str]:
    """Run ``chargegrid sim ARGS`` in a child process: exit status, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chargegrid",
        "sim",
        *args,
        cwd=_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ev_at(start: datetime, arrive_min: float, leave_min: float | None, **kw: Any) -> EVSpec:
    return EVSpec(
        ev_id=kw.pop("ev_id", "EV-1"),
        arrival=start + timedelta(minutes=arrive_min),
        departure=None if leave_min is None else start + timedelta(minutes=leave_min),
        id_tag=kw.pop("id_tag", "TAG1"),
        **kw,
    )


def station_runner(
    url: str,
    clock: Clock,
    *,
    version: str,
    sessions: list[tuple[int, EVSpec]] | None = None,
    password: str | None = "secret",
    station_id: str = "SIM-0001",
    max_current_a: float = 32.0,
    connectors: int = 1,
) -> StationRunner:
    spec = StationSpec(
        station_id=station_id,
        ocpp_version=version,
        connectors=(ConnectorSpec(max_current_a=max_current_a),) * connectors,
    )
    return build_runner(
        spec, url=url, clock=clock, sessions=sessions, password=password, response_timeout_s=5.0
    )


@contextlib.asynccontextmanager
async def running(*runners: StationRunner) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(r.run()) for r in runners]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t


async def run_to_next_wakeup(
    clock: ManualClock, *, sleepers: int, what: str, by_s: float | None = None
) -> float:
    """Once what the test drives is idle (``sleepers`` waits on the clock: nothing in flight),
    move the clock to the soonest of them (or by ``by_s``); return the seconds it moved. No
    time passes while a message is on its way, so what the other side stamps is exactly when
    it was due."""
    wakeups = await wait_until(
        lambda: (w := clock.sleepers()) and len(w) >= sleepers and w, 30, f"{what} idle"
    )
    step = wakeups[0] - clock.monotonic() if by_s is None else by_s
    clock.advance(step)
    return step
