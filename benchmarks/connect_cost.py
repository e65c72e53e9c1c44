"""Server instructions per connecting station (handshake + BootNotification), under callgrind.

On a loaded machine the CPU milliseconds of a connection follow the scheduler; instruction
counts do not. This starts the server as ``csms_throughput.py`` does (``chargegrid serve`` on
SQLite or PostgreSQL with the stations registered, telemetry, API and planning on, or the
stock-library peer) under ``valgrind --tool=callgrind`` with instrumentation off, waits for
it to settle, turns instrumentation on (``callgrind_control``), connects ``--stations`` 1.6
stations ``--at-once`` at a time from this process (each: the WebSocket handshake, a
BootNotification, its answer; then it stays connected), waits until the server is idle
again, and counts every thread's instructions from there. What the server does idle in that
window (its timers; counted for ``--idle-s`` first, per second) is taken off, and keepalive
pings are off on both sides, so the figure does not follow the time valgrind takes. The
same for each target, in interleaved rounds:

    python benchmarks/connect_cost.py --targets stock sqlite postgres --rounds 2
    CHARGEGRID_SERVER__STATION_CACHE_MAX=0 python benchmarks/connect_cost.py --targets sqlite

The environment reaches the server (``CHARGEGRID_*`` settings compare builds in one run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import csms_throughput as ct  # noqa: E402

__all__ = ["main"]

_BOOT = '[2,"boot","BootNotification",{"chargePointVendor":"Bench","chargePointModel":"Load"}]'


#: Under valgrind the server runs some 50 times slower: its storm limits would send the
#: benchmark's handshakes away (503) or time them out; they are not what is measured here.
_SLOW_SERVER = {
    "CHARGEGRID_SERVER__SHED_HANDSHAKES_AFTER_S": "300",
    "CHARGEGRID_SERVER__HANDSHAKE_WAIT_MAX_S": "300",
    "CHARGEGRID_SECURITY__HANDSHAKE_TIMEOUT_S": "300",
    # No keepalive pings on either side: their cost grows with the wall time valgrind takes.
    "CHARGEGRID_SERVER__PING_INTERVAL_S": "86400",
}


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=subprocess.DEVNULL)


async def _connect_all(url: str, n: int, at_once: int) -> list[Any]:
    """``n`` stations connected and booted, ``at_once`` opening at a time; their sockets."""
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(at_once)
    opened: list[Any] = []

    async def one(i: int) -> None:
        async with gate:
            ws = await connect(
                f"{url}BENCH{i:05d}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                open_timeout=300,
                ping_interval=None,
                compression=None,
            )
            await ws.send(_BOOT)
            answer = str(await ws.recv())
            if answer[1:2] != "3":
                raise RuntimeError(f"boot refused: {answer[:200]}")
            opened.append(ws)

    await asyncio.gather(*(one(i) for i in range(n)))
    return opened


async def _settled(target: ct.Target, quiet_s: float = 1.0, timeout_s: float = 600) -> None:
    """Until the server's CPU use stays below 5 % for ``quiet_s`` (under valgrind a
    start-up or a burst of work takes a while to drain)."""
    deadline = time.monotonic() + timeout_s
    last = await asyncio.to_thread(target.cpu_seconds)
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet_s)
        now = await asyncio.to_thread(target.cpu_seconds)
        if now - last < 0.05 * quiet_s:
            return
        last = now
    raise SystemExit("server did not settle")


def _instructions(folder: Path, verbose: bool) -> list[int]:
    """Every thread's instructions in each dump taken while measuring, in order (the one
    at exit left out)."""
    parts: list[tuple[int, int]] = []
    for dump in folder.glob("callgrind.out.*"):
        text = dump.read_text(errors="replace")
        if verbose:
            print(dump.name, re.findall(r"^(?:totals|summary|part|trigger):.*$", text, re.M))
        total = re.search(r"^totals:\s+(\d+)", text, re.M)
        part = re.search(r"^part:\s+(\d+)", text, re.M)
        if total and part and "Program termination" not in text:
            parts.append((int(part.group(1)), int(total.group(1))))
    return [count for _, count in sorted(parts)]


async def measure(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        target = ct.Target(kind, args.stations, workdir)
        target.wrap = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}.%p",
        ]
        target.start_timeout_s = 900
        for name, value in _SLOW_SERVER.items():
            os.environ.setdefault(name, value)
        await target.start()
        sockets: list[Any] = []
        try:
            await _settled(target)
            assert target.proc is not None
            pid = target.proc.pid
            # What the server does idle (timers: planning, telemetry, the GC freezer) in a
            # second, to take off the connecting window, whose length valgrind sets.
            await asyncio.to_thread(_control, pid, "--instr=on")
            t0 = time.monotonic()
            await asyncio.sleep(args.idle_s)
            await asyncio.to_thread(_control, pid, "--dump")
            idle_s = time.monotonic() - t0
            t0 = time.monotonic()
            sockets = await _connect_all(
                f"ws://127.0.0.1:{target.port}/ocpp/", args.stations, args.at_once
            )
            connect_s = time.monotonic() - t0
            await _settled(target)  # the writes and events the connections started
            window_s = time.monotonic() - t0
            await asyncio.to_thread(_control, pid, "--dump")
            await asyncio.to_thread(_control, pid, "--instr=off")
        finally:
            for ws in sockets:
                with contextlib.suppress(Exception):
                    await ws.close()
            await target.stop()
        dumps = await asyncio.to_thread(_instructions, Path(tmp), args.verbose)
    if len(dumps) != 2:
        raise SystemExit(f"expected two dumps for {kind}, got {dumps}")
    idle_per_s = dumps[0] / idle_s
    total = dumps[1] - idle_per_s * window_s
    if not total:
        raise SystemExit(f"no instructions counted for {kind}")
    return {
        "target": kind,
        "stations": args.stations,
        "at_once": args.at_once,
        "instructions_per_station": total / args.stations,
        "idle_instructions_per_s": idle_per_s,
        "connect_s_under_valgrind": connect_s,
        "window_s_under_valgrind": window_s,
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    workdir = ct.RESULTS / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for round_no in range(1, args.rounds + 1):
        for kind in args.targets:
            row = await measure(kind, args, workdir)
            row["round"] = round_no
            rows.append(row)
            print(
                f"round {round_no} {kind:<9} {row['instructions_per_station'] / 1e6:7.3f} M "
                f"instructions per connecting station ({args.stations} stations, "
                f"{args.at_once} at once; idle {row['idle_instructions_per_s'] / 1e6:.1f} M/s "
                f"over {row['window_s_under_valgrind']:.0f} s taken off)",
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", nargs="+", default=["stock", "sqlite", "postgres"])
    p.add_argument("--stations", type=int, default=200)
    p.add_argument("--at-once", type=int, default=20, help="stations opening at a time")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--idle-s", type=float, default=20.0, help="idle seconds measured first")
    p.add_argument("--verbose", action="store_true", help="print every dump's totals")
    args = p.parse_args(argv)
    rows = asyncio.run(run(args))
    ct.RESULTS.mkdir(parents=True, exist_ok=True)
    out = ct.RESULTS / f"connect_cost-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"saved {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
