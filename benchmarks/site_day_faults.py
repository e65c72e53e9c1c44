"""The site day's failure runs (benchmarks/site_day.py): each breaks one thing at
``fault_h`` (mid-cap) on the run with storage control and V2G.

- ``silent``: a storage unit stops reporting (it still follows its last schedule, which
  runs out to Idle);
- ``alarm``: a unit overheats (its ambient jumps to 90 degrees C): it trips to 0 W and raises
  its over-temperature alarm; the ambient falls back an hour later and the alarm clears;
- ``controller``: the site's storage controller is stopped and started again two control
  intervals later;
- ``kill``: the central system runs as a subprocess on an SQLite store; it is killed with
  SIGKILL and started again on the same store (the stations reconnect by themselves).

The central system of the kill run is :mod:`benchmarks.site_day_csms` on the same virtual
clock (the same start, speed and wall-clock anchor).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.site_day_causes import Probe
from benchmarks.site_day_run import (
    DayOptions,
    InProcess,
    PlanWatch,
    RunSpec,
)
from chargegrid.clock import VirtualClock
from simulators import Fleet
from simulators.swap import SwapArrival

__all__ = ["FAILURE_RUNS", "FAULTS", "Subprocess", "subprocess_central"]

ROOT = Path(__file__).resolve().parents[1]

FAILURE_RUNS = tuple(
    RunSpec(f"fault:{name}", storage_control=True, v2g=True, failure=name)
    for name in ("silent", "alarm", "controller", "kill")
)


async def _until(clock: VirtualClock, at: datetime) -> None:
    await clock.sleep(max(0.0, (at - clock.now()).total_seconds()))


def _fault_at(opt: DayOptions) -> datetime:
    return opt.shape.cap_start + timedelta(minutes=30)


async def silent(central: Any, fleet: Fleet, clock: VirtualClock, notes: list[str]) -> None:
    runner = fleet.storage_runners[0]
    station = runner.device
    await _until(clock, _fault_at(central.opt))
    step = station.step

    def quiet(now: datetime) -> list[Any]:
        return [r for r in step(now) if r.action != "MeterValues"]

    station.step = quiet  # type: ignore[method-assign]
    notes.append(f"{runner.station_id} silent from {clock.now():%H:%M:%S}")


async def alarm(central: Any, fleet: Fleet, clock: VirtualClock, notes: list[str]) -> None:
    unit = fleet.storage_runners[0].device.unit
    await _until(clock, _fault_at(central.opt) - timedelta(minutes=10))
    unit.set_ambient(90.0)
    notes.append(f"{unit.spec.unit_id} ambient 90 C from {clock.now():%H:%M:%S}")
    await _until(clock, clock.now() + timedelta(hours=1))
    unit.set_ambient(unit.spec.ambient_c)
    notes.append(f"ambient back at {clock.now():%H:%M:%S}")


async def controller(
    central: InProcess, fleet: Fleet, clock: VirtualClock, notes: list[str]
) -> None:
    await _until(clock, _fault_at(central.opt))
    loop = central.csms.planning.loops["siteday"]
    ctl = loop.storage
    assert ctl is not None
    await ctl.stop()
    notes.append(f"controller stopped at {clock.now():%H:%M:%S}")
    await clock.sleep(2 * central.opt.control_s)
    ctl.start()
    notes.append(f"controller started at {clock.now():%H:%M:%S}")


async def kill(central: Subprocess, fleet: Fleet, clock: VirtualClock, notes: list[str]) -> None:
    await _until(clock, _fault_at(central.opt))
    central.kill()
    notes.append(f"CSMS killed (SIGKILL) at {clock.now():%H:%M:%S}")
    await asyncio.to_thread(central.start, prepare=False)
    notes.append(f"CSMS listening again at {clock.now():%H:%M:%S}")


FAULTS: dict[str, Callable[..., Any]] = {
    "silent": silent,
    "alarm": alarm,
    "controller": controller,
    "kill": kill,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def options_json(run: RunSpec, opt: DayOptions, *, anchor: datetime) -> str:
    data = {"run": asdict(run), "options": asdict(opt), "anchor": anchor.isoformat()}
    return json.dumps(data, default=str)


@dataclass
class Subprocess:
    """The central system as ``python -m benchmarks.site_day_csms`` on an SQLite file."""

    run: RunSpec
    opt: DayOptions
    anchor: datetime
    folder: Path
    port: int = field(default_factory=_free_port)
    watch: PlanWatch = field(default_factory=PlanWatch)  # no bus here: nothing seen
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/"

    def start(self, *, prepare: bool) -> None:
        """Start it and wait until it says it is ready (prepared and listening)."""
        db = f"sqlite+aiosqlite:///{self.folder / 'siteday.db'}"
        argv = [sys.executable, "-m", "benchmarks.site_day_csms", "--database-url", db]
        argv += ["--port", str(self.port)]
        argv += ["--options", options_json(self.run, self.opt, anchor=self.anchor)]
        if prepare:
            argv.append("--prepare")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        log = (self.folder / "csms.log").open("ab")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if line != "ready":
            raise RuntimeError(f"the central system did not start: {line!r}, see {log.name}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    async def setup(self, arrivals: list[SwapArrival]) -> None:
        await asyncio.to_thread(self.start, prepare=True)

    def report_pv(self, at: datetime, pv_w: float) -> None:
        """The subprocess reports the PV itself (it runs the site's energy management)."""

    def probe(self, base: Probe, devices_w: dict[str, float]) -> Probe:
        """The central system's side is in another process: what the harness sees only."""
        return base

    def counters(self) -> dict[str, int]:
        """Not known: the central system is another process."""
        return {}


@contextlib.asynccontextmanager
async def subprocess_central(
    run: RunSpec, opt: DayOptions, clock: VirtualClock
) -> AsyncIterator[Subprocess]:
    anchor = datetime.now(UTC) - timedelta(seconds=clock.monotonic() / clock.speed)
    with tempfile.TemporaryDirectory(prefix="siteday-") as folder:
        central = Subprocess(run, opt, anchor, Path(folder))
        try:
            yield central
        finally:
            central.kill()
