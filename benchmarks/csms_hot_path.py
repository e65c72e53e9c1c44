"""Server CPU per OCPP call on the hot path, in one process, without sockets.

``csms_throughput.py`` measures whole servers over loopback; on a shared machine its figures
follow the scheduler. This one measures what a call costs the server's process (every
thread: the event loop, the store's writer, telemetry's ingest) by driving the handlers
directly: N stations, each a task sending its next frame to ``route_message`` as soon as the
previous one is answered (a station waits for its answer, so the store's group commit sees
up to N writes at once), with

- ``sqlite`` / ``postgres``: chargegrid's ``Csms`` as ``serve`` runs it (the store, telemetry
  to a fresh embedded store, the planning service), the adapters' ``V16Connection`` /
  ``V201Connection`` and the message log, fed the frames the throughput benchmark sends;
- ``stock``: the throughput benchmark's stock-library central system (``ocpp`` ``ChargePoint``
  subclasses with ``@on`` handlers, state in memory) fed the same frames.

What a call costs outside this (WebSocket framing, the socket, the load generator) is left
out on both sides. Reported per call: process CPU (``time.process_time``, all threads) and,
under valgrind (``--callgrind``), instructions: the run starts with instrumentation off and
turns it on only for the measured calls, so start-up and setup are not counted; the count is
the same on a busy machine.

    python benchmarks/csms_hot_path.py --calls txevent201 meter16 --targets stock sqlite
    python benchmarks/csms_hot_path.py --calls txevent201 --targets sqlite --messages 2000 \\
        --callgrind            # re-runs itself under valgrind, prints instructions per call
    python benchmarks/csms_hot_path.py --calls meter16 --targets sqlite --cprofile out.prof
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import csms_throughput as ct  # noqa: E402
from csms.event_loop import choose, run  # noqa: E402

__all__ = ["main"]

_VERSION = {"meter16": "1.6", "txevent201": "2.0.1", "txevent21": "2.1", "heartbeat16": "1.6"}


class _Sink:
    """A station's connection: keeps the last answer, wakes the station."""

    def __init__(self) -> None:
        self.last = ""
        self.answers = 0

    async def send(self, message: str) -> None:
        self.last = message
        self.answers += 1

    async def close(self, code: int = 1000, reason: str = "") -> None:
        del code, reason


async def _setup(route: Callable[[str], Any], sink: _Sink, load: ct.Load) -> None:
    """The station's boot and transaction start, through its own handler."""
    boot = ct._BOOT16 if _VERSION[load.kind] == "1.6" else ct._BOOT2
    await route(boot)
    if load.kind == "meter16":
        await route(ct._START16 % ct._now())
        load.tx_id = int(json.loads(sink.last)[2]["transactionId"])
    elif load.kind in ("txevent201", "txevent21"):
        await route(ct._TX_STARTED % (ct._now(), load.station_tx_id))
    if not sink.last.startswith("[3"):
        raise RuntimeError(f"setup refused: {sink.last[:200]}")


async def _drive(
    routes: list[tuple[Callable[[str], Any], _Sink, ct.Load]], per_station: int, first: int
) -> int:
    async def one(route: Callable[[str], Any], sink: _Sink, load: ct.Load) -> int:
        refused = 0
        for seq in range(first, first + per_station):
            await route(load.frame(seq))
            if not sink.last.startswith("[3"):
                refused += 1
        return refused

    return sum(await asyncio.gather(*(one(*r) for r in routes)))


def _thread_cpu() -> dict[str, float]:
    """CPU seconds per thread name (threads of one name summed)."""
    import threading

    import psutil

    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for t in psutil.Process().threads():
        name = re.sub(r"_\d+$", "", names.get(t.id, "other"))
        out[name] = out.get(name, 0.0) + t.user_time + t.system_time
    return out


def _py_spy(out: str | None) -> subprocess.Popen[bytes] | None:
    """py-spy sampling every thread of this process into ``out`` (collapsed stacks)."""
    if not out:
        return None
    spy = subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(os.getpid()),
            "--threads",
            "--nonblocking",
            "--rate",
            "500",
            "--format",
            "raw",
            "--output",
            out,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached before the calls begin
    return spy


class _Callgrind:
    """Instrumentation on and off from inside the process (``callgrind_control``)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _control(self, *args: str) -> None:
        if self.enabled:
            subprocess.run(
                ["callgrind_control", *args, str(os.getpid())],
                check=True,
                stdout=subprocess.DEVNULL,
            )

    def on(self) -> None:
        self._control("--instr=on")

    def off(self) -> None:
        self._control("--dump")
        self._control("--instr=off")


async def _measure(
    routes: list[tuple[Callable[[str], Any], _Sink, ct.Load]],
    args: argparse.Namespace,
    flush: Callable[[], Any],
) -> dict[str, Any]:
    await _drive(routes, args.warmup, 1)
    await flush()
    grind = _Callgrind(args.in_callgrind)
    profile = cProfile.Profile() if args.cprofile else None
    spy = _py_spy(args.py_spy)
    grind.on()
    if profile is not None:
        profile.enable()
    threads0 = _thread_cpu()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    refused = await _drive(routes, args.messages // len(routes), 1 + args.warmup)
    await flush()  # what the calls left to the writer and telemetry threads counts too
    cpu1, wall1 = time.process_time(), time.perf_counter()
    threads1 = _thread_cpu()
    if profile is not None:
        profile.disable()
        profile.dump_stats(args.cprofile)
    grind.off()
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
    calls = len(routes) * (args.messages // len(routes))
    return {
        "calls": calls,
        "refused": refused,
        "cpu_us_per_call": 1e6 * (cpu1 - cpu0) / calls,
        "wall_s": wall1 - wall0,
        "thread_us_per_call": {
            name: round(1e6 * (cpu - threads0.get(name, 0.0)) / calls, 1)
            for name, cpu in sorted(threads1.items())
            if cpu - threads0.get(name, 0.0) > 0
        },
    }


async def run_stock(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    classes = ct.stock_classes()
    version = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}[_VERSION[kind]]
    routes = []
    for i in range(args.stations):
        sink = _Sink()
        cp = classes[version](f"BENCH{i:05d}", sink)
        load = ct.Load(kind, i)
        await _setup(cp.route_message, sink, load)
        routes.append((cp.route_message, sink, load))

    async def flush() -> None:
        pass

    return await _measure(routes, args, flush)


async def run_chargegrid(kind: str, target: str, args: argparse.Namespace) -> dict[str, Any]:
    from chargegrid.clock import WallClock
    from csms.app import Csms
    from csms.config import Settings
    from csms.ocpp.message_log import LoggedConnection, MessageLog
    from csms.ocpp.v16 import V16Connection
    from csms.ocpp.v21 import V21Connection
    from csms.ocpp.v201 import V201Connection
    from csms.store.base import StationRecord

    work = Path(tempfile.mkdtemp(prefix="hotpath-"))
    pg_db = None
    try:
        if target == "sqlite":
            url = f"sqlite+aiosqlite:///{work / 'csms.db'}"
        else:
            import sqlalchemy as sa

            pg_db = f"chargegrid_hot_{secrets.token_hex(4)}"
            await ct.pg_admin(f'CREATE DATABASE "{pg_db}"')
            url = (
                sa.make_url(ct.PG_ADMIN)
                .set(drivername="postgresql+asyncpg", database=pg_db)
                .render_as_string(hide_password=False)
            )
        settings = Settings(
            database={"url": url},
            server={"port": 0},
            telemetry={
                "embedded_path": work / "telemetry.sqlite3",
                "outbox_path": work / "outbox.sqlite3",
            },
        )
        cls = {"1.6": V16Connection, "2.0.1": V201Connection, "2.1": V21Connection}
        log = MessageLog(now=WallClock().now, per_station=settings.server.message_log_frames)
        async with Csms(settings) as csms:
            routes = []
            for i in range(args.stations):
                station_id = f"BENCH{i:05d}"
                await csms.store.put_station(StationRecord(station_id))
                sink = _Sink()
                conn = cls[_VERSION[kind]](
                    station_id, LoggedConnection(sink, station_id, log), csms.central
                )

                async def route(raw: str, conn: Any = conn, station_id: str = station_id) -> None:
                    log.record(station_id, "in", raw)
                    await conn.route_message(raw)

                load = ct.Load(kind, i)
                await _setup(route, sink, load)
                routes.append((route, sink, load))
            telemetry = csms.telemetry

            async def flush() -> None:
                if telemetry is not None:
                    await asyncio.to_thread(telemetry.pipeline.flush)

            writer = getattr(csms.store, "writer", None)
            before = (writer.batches, writer.ops) if writer is not None else (0, 0)
            row = await _measure(routes, args, flush)
            if writer is not None:
                batches, ops = writer.batches - before[0], writer.ops - before[1]
                row["writes_per_commit"] = round(ops / batches, 1) if batches else None
            return row
    finally:
        if pg_db is not None:
            await ct.pg_admin(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


def _callgrind(args: argparse.Namespace, kind: str, target: str) -> float:
    """Instructions per call: this script re-run under callgrind, measured calls only."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        argv = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}.%p",
            sys.executable,
            __file__,
            "--calls",
            kind,
            "--targets",
            target,
            "--stations",
            str(args.stations),
            "--messages",
            str(args.messages),
            "--warmup",
            str(args.warmup),
            "--loop",
            args.loop,
            "--in-callgrind",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        calls = int(re.findall(r"calls (\d+)", done.stdout)[-1]) if done.returncode == 0 else 0
        total = 0
        for dump in Path(tmp).glob("callgrind.out.*"):
            match = re.search(r"^totals:\s+(\d+)", dump.read_text(errors="replace"), re.M)
            if match:
                total += int(match.group(1))
        if not calls or not total:
            raise SystemExit(f"callgrind run failed: {done.stderr[-2000:]}")
        return total / calls


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = []
    for kind in args.calls:
        for target in args.targets:
            if args.callgrind:
                ir = _callgrind(args, kind, target)
                results.append({"calls_kind": kind, "target": target, "ir_per_call": ir})
                print(f"{kind:<11} {target:<9} {ir / 1e6:8.3f} M instructions per call", flush=True)
                continue
            if target == "stock":
                row = asyncio.run(run_stock(kind, args))
            else:  # on the loop serve runs on (decision 0250) unless --loop says otherwise
                loop = choose(args.loop, tls=False)
                row = run(run_chargegrid(kind, target, args), loop=loop)
                row["event_loop"] = loop
            row.update(calls_kind=kind, target=target, stations=args.stations)
            results.append(row)
            print(
                f"{kind:<11} {target:<9} calls {row['calls']} "
                f"{row['cpu_us_per_call']:8.1f} us CPU per call  refused {row['refused']}  "
                f"({row['calls'] / row['wall_s']:.0f} calls/s, "
                f"{row.get('writes_per_commit', '-')} writes per commit)  threads (us/call) "
                f"{row['thread_us_per_call']}",
                flush=True,
            )
    if not args.in_callgrind:
        for row in results:
            key = "ir_per_call" if args.callgrind else "cpu_us_per_call"
            base = next(
                (
                    r
                    for r in results
                    if r["target"] == "stock" and r["calls_kind"] == row["calls_kind"]
                ),
                None,
            )
            if base is not None and row is not base:
                print(
                    f"  {row['calls_kind']:<11} {row['target']:<9} "
                    f"x{base[key] / row[key]:.2f} of the stock peer's calls per unit"
                )
    with contextlib.suppress(OSError):
        ct.RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        if not args.in_callgrind:
            (ct.RESULTS / f"csms_hot_path-{stamp}.json").write_text(
                json.dumps({"args": vars(args), "rows": results}, indent=2, default=str)
            )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--calls", nargs="+", default=["txevent201", "meter16"], choices=sorted(_VERSION)
    )
    p.add_argument(
        "--targets",
        nargs="+",
        default=["stock", "sqlite", "postgres"],
        choices=["stock", "sqlite", "postgres"],
    )
    p.add_argument("--stations", type=int, default=100, help="concurrent stations (default 100)")
    p.add_argument(
        "--messages", type=int, default=5000, help="measured calls in all (default 5000)"
    )
    p.add_argument("--warmup", type=int, default=3, help="unmeasured calls per station first")
    p.add_argument(
        "--callgrind",
        action="store_true",
        help="instructions per call under valgrind's callgrind instead of CPU time",
    )
    p.add_argument("--cprofile", metavar="FILE", help="cProfile the measured calls into FILE")
    p.add_argument(
        "--py-spy",
        metavar="FILE",
        help="sample every thread during the measured calls with py-spy (collapsed stacks)",
    )
    p.add_argument(
        "--loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="chargegrid's event loop (server.event_loop; default auto, as serve); the stock "
        "peer always runs on the standard loop",
    )
    p.add_argument("--in-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.stations < 1 or args.messages < args.stations or args.warmup < 0:
        p.error("need at least one station, one message per station, warmup >= 0")
    if args.callgrind and not shutil.which("valgrind"):
        p.error("--callgrind needs valgrind")
    return args


if __name__ == "__main__":
    raise SystemExit(main())
