"""CSMS throughput: N concurrent OCPP 1.6 stations on loopback against ``chargegrid serve``.

Each station sends Heartbeat, StatusNotification and MeterValues in turn, either as fast as
answers come back (``--interval-s 0``, saturation: calls/s) or paced (one call every
``--interval-s`` per station: round-trip latency at a realistic load). The server runs in
its own process, persistence on (SQLite, PostgreSQL); the same load runs in the same
invocation against a bare central system made of the ``ocpp`` library's example-style
handlers (no persistence, library validation) as the baseline. The load generator is lean
and runs in ``--load-procs`` processes (pre-encoded frames over ``websockets``, answers
checked by their first byte, no ocpp client), and every row reports the server's CPU per
call (calls per server CPU-second, the server's child processes included) beside calls/s:
on two shared cores calls/s alone says as much about the load generator as the server.
``chargegrid serve`` runs as in production (telemetry to the embedded store, the API and the
planner on); ``--telemetry on off`` adds rows with telemetry disabled.

Prints a table and writes ``benchmarks/results/csms_throughput-<time>.json``.

    python benchmarks/csms_throughput.py --stations 100 1000 --duration-s 20
    python benchmarks/csms_throughput.py --targets bare sqlite --stations 100 --duration-s 5
    python benchmarks/csms_throughput.py --stations 1000 --intervals 1 --telemetry on off
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PG_ADMIN = os.environ.get(
    "CHARGEGRID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# -- the bare baseline server (library example style) ------------------------------------
def serve_bare(port: int) -> None:
    import logging

    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call_result
    from ocpp.v16.enums import RegistrationStatus
    from websockets.asyncio.server import serve

    logging.basicConfig(level=logging.WARNING)

    class CentralSystemChargePoint(ChargePoint):  # type: ignore[misc]
        @on("BootNotification")
        def on_boot_notification(
            self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
        ) -> Any:
            return call_result.BootNotification(
                current_time=datetime.now(UTC).isoformat(),
                interval=10,
                status=RegistrationStatus.accepted,
            )

        @on("Heartbeat")
        def on_heartbeat(self) -> Any:
            return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

        @on("StatusNotification")
        def on_status_notification(self, **kwargs: Any) -> Any:
            return call_result.StatusNotification()

        @on("MeterValues")
        def on_meter_values(self, **kwargs: Any) -> Any:
            return call_result.MeterValues()

    async def on_connect(websocket: Any) -> None:
        charge_point_id = websocket.request.path.strip("/").split("/")[-1]
        cp = CentralSystemChargePoint(charge_point_id, websocket)
        with contextlib.suppress(Exception):
            await cp.start()

    async def main() -> None:
        async with serve(on_connect, "127.0.0.1", port, subprotocols=["ocpp1.6"]) as server:
            loop = asyncio.get_running_loop()
            stop = loop.create_future()
            loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
            await stop
            server.close()

    asyncio.run(main())


# -- servers ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


async def prepare_database(url: str, n: int) -> None:
    sys.path.insert(0, str(ROOT))
    from csms.store import open_store
    from csms.store.base import StationRecord

    store = open_store(url)
    await store.open()
    try:
        for i in range(n):
            await store.put_station(StationRecord(f"BENCH{i:05d}"))
    finally:
        await store.close()


async def pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class Target:
    """One server process to measure."""

    def __init__(self, kind: str, n: int, workdir: Path, telemetry: str = "on") -> None:
        self.kind = kind
        self.n = n
        self.telemetry = telemetry if kind != "bare" else "-"
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pg_db: str | None = None

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if self.kind == "bare":
            argv = [sys.executable, __file__, "--serve-bare", str(self.port)]
        else:
            if self.kind == "memory":
                url = "memory://"
                env["CHARGEGRID_SERVER__UNKNOWN_STATIONS"] = "accept"
            elif self.kind == "sqlite":
                db = self.workdir / f"bench-{self.n}.db"
                for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                    stale.unlink(missing_ok=True)
                url = f"sqlite+aiosqlite:///{db}"
            else:
                self.pg_db = f"chargegrid_bench_{secrets.token_hex(4)}"
                await pg_admin(f'CREATE DATABASE "{self.pg_db}"')
                import sqlalchemy as sa

                url = (
                    sa.make_url(PG_ADMIN)
                    .set(drivername="postgresql+asyncpg", database=self.pg_db)
                    .render_as_string(hide_password=False)
                )
            if self.kind != "memory":
                await prepare_database(url, self.n)
            argv = [
                sys.executable,
                "-m",
                "chargegrid",
                "--log-level",
                "WARNING",
                "serve",
                "--database-url",
                url,
                "--port",
                str(self.port),
            ]
            env["CHARGEGRID_SERVER__PING_INTERVAL_S"] = "60"
            env["CHARGEGRID_API__PORT"] = "0"  # the API stays on, on a free port
            # Fresh telemetry files for every run: the embedded store would otherwise grow
            # from run to run (and PostgreSQL runs would write into ./data).
            for name in ("embedded_path", "outbox_path"):
                path = self.workdir / f"telemetry-{name.split('_')[0]}-{self.kind}.sqlite3"
                for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                    stale.unlink(missing_ok=True)
                env[f"CHARGEGRID_TELEMETRY__{name.upper()}"] = str(path)
            if self.telemetry == "off":
                env["CHARGEGRID_TELEMETRY__ENABLED"] = "false"
        self.proc = await asyncio.to_thread(
            subprocess.Popen, argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL
        )
        await asyncio.to_thread(wait_port, self.port, self.proc)

    def _processes(self) -> list[Any]:
        """The server and any process it started (all of them count)."""
        import psutil

        assert self.proc is not None
        main = psutil.Process(self.proc.pid)
        return [main, *main.children(recursive=True)]

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._processes():
            with contextlib.suppress(Exception):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def rss_bytes(self) -> int:
        total = 0
        for p in self._processes():
            with contextlib.suppress(Exception):
                total += int(p.memory_info().rss)
        return total

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.pg_db is not None:
            await pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)')


# -- load ---------------------------------------------------------------------------------
# The load runs in ``--load-procs`` worker processes (spawned, each with its own event loop
# and its share of the stations), so one Python process is not the bottleneck. Frames are
# pre-encoded templates (only the message id, timestamp and meter reading change) and an
# answer is checked by its MessageTypeId byte, not parsed: the load costs little CPU per call.

_HEARTBEAT = '[2,"%d","Heartbeat",{}]'
_STATUS = (
    '[2,"%d","StatusNotification",{"connectorId":%d,"errorCode":"NoError",'
    '"status":"%s","timestamp":"%s"}]'
)
_METER = (
    '[2,"%d","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"%s","sampledValue":['
    '{"value":"%.1f","measurand":"Energy.Active.Import.Register","unit":"Wh"},'
    '{"value":"7.4","measurand":"Power.Active.Import","unit":"kW"},'
    '{"value":"32.0","measurand":"Current.Import","unit":"A","phase":"L1"},'
    '{"value":"230.1","measurand":"Voltage","unit":"V","phase":"L1-N"}]}]}]'
)
_STATUSES = ("Available", "Charging", "SuspendedEV")
_second = [-1, ""]


def _now() -> str:
    """RFC 3339 UTC with milliseconds; the date part is formatted once per second."""
    t = time.time()
    sec = int(t)
    if sec != _second[0]:
        _second[0] = sec
        _second[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_second[1]}.{int((t - sec) * 1000):03d}Z"


def frame(seq: int) -> str:
    """The ``seq``-th call of a station: Heartbeat, StatusNotification, MeterValues in turn."""
    kind = seq % 3
    if kind == 0:
        return _HEARTBEAT % seq
    if kind == 1:
        return _STATUS % (seq, 1 + seq % 2, _STATUSES[seq % 3], _now())
    return _METER % (seq, _now(), seq * 1.5)


async def station(
    url: str,
    i: int,
    interval_s: float,
    window: dict[str, float],
    latencies: list[float],
    errors: list[str],
    ready: asyncio.Event,
    connected: list[int],
) -> None:
    from websockets.asyncio.client import connect

    clock = time.perf_counter
    try:
        async with connect(
            f"{url}BENCH{i:05d}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            open_timeout=120,
            ping_interval=None,
            compression=None,
        ) as ws:
            await ws.send(
                '[2,"boot","BootNotification",'
                '{"chargePointVendor":"Bench","chargePointModel":"Load"}]'
            )
            await ws.recv()
            connected[0] += 1
            await ready.wait()
            start_at, measure_at, end_at = window["start"], window["measure"], window["end"]
            seq = random.randrange(3)
            next_at = start_at + (random.random() * interval_s if interval_s else 0.0)
            send, recv = ws.send, ws.recv
            while True:
                now = clock()
                if interval_s and next_at > now:
                    await asyncio.sleep(next_at - now)
                t0 = clock()
                if t0 >= end_at:
                    break
                await send(frame(seq))
                answer = await recv()
                t1 = clock()
                if answer[1:2] != "3":
                    errors.append(str(answer)[:200])
                if t0 >= measure_at:
                    latencies.append(t1 - t0)
                seq += 1
                next_at += interval_s
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")


def load_worker(url: str, indices: list[int], interval_s: float, pipe: Any) -> None:
    """One load process: connect ``indices``, report, wait for the window, run, report."""
    import array

    async def body() -> None:
        latencies: list[float] = []
        errors: list[str] = []
        connected = [0]
        ready = asyncio.Event()
        window: dict[str, float] = {}
        sem = asyncio.Semaphore(50)

        async def limited(i: int) -> None:
            async with sem:
                pass
            await station(url, i, interval_s, window, latencies, errors, ready, connected)

        tasks = []
        for n, i in enumerate(indices):
            tasks.append(asyncio.create_task(limited(i)))
            if n % 50 == 49:
                await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 180
        while connected[0] + len(errors) < len(indices) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        pipe.send(("connected", connected[0], errors[:5]))
        _, start_wall, measure_wall, end_wall = await asyncio.to_thread(pipe.recv)
        # wall-clock instants agreed with the parent, on this process's perf_counter
        offset = time.perf_counter() - time.time()
        window.update(
            start=start_wall + offset, measure=measure_wall + offset, end=end_wall + offset
        )
        ready.set()
        await asyncio.sleep(max(0.0, measure_wall - time.time()))
        cpu0 = sum(os.times()[:2])
        await asyncio.sleep(max(0.0, end_wall - time.time()))
        cpu1 = sum(os.times()[:2])
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        pipe.send(
            ("done", array.array("d", latencies).tobytes(), errors[:20], len(errors), cpu1 - cpu0)
        )

    asyncio.run(body())


async def run_load(
    target: Target, *, interval_s: float, duration_s: float, warmup_s: float, procs: int
) -> dict[str, Any]:
    import array
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    url = f"ws://127.0.0.1:{target.port}/ocpp/"
    procs = max(1, min(procs, target.n))
    workers = []
    for w in range(procs):
        mine, theirs = ctx.Pipe()
        indices = list(range(w, target.n, procs))
        proc = ctx.Process(target=load_worker, args=(url, indices, interval_s, theirs), daemon=True)
        proc.start()
        workers.append((proc, mine))
    try:
        connected = 0
        errors: list[str] = []
        for _, pipe in workers:
            _, count, first = await asyncio.to_thread(pipe.recv)
            connected += count
            errors += first
        start = time.time() + 0.5
        measure = start + warmup_s
        end = measure + duration_s
        for _, pipe in workers:
            pipe.send(("go", start, measure, end))
        await asyncio.sleep(max(0.0, measure - time.time()))
        cpu0 = await asyncio.to_thread(target.cpu_seconds)
        rss_peak = 0
        while time.time() < end:
            await asyncio.sleep(min(0.5, max(0.0, end - time.time())))
            rss_peak = max(rss_peak, await asyncio.to_thread(target.rss_bytes))
        cpu1 = await asyncio.to_thread(target.cpu_seconds)
        load_average = os.getloadavg()[0]
        lat_all: list[float] = []
        n_errors = 0
        loadgen_cpu = 0.0
        for _, pipe in workers:
            _, raw, first, count, cpu = await asyncio.to_thread(pipe.recv)
            values = array.array("d")
            values.frombytes(raw)
            lat_all.extend(values)
            errors += first
            n_errors += count
            loadgen_cpu += cpu
    finally:
        for proc, _ in workers:
            await asyncio.to_thread(proc.join, 10)
            if proc.is_alive():
                proc.kill()
    lat = sorted(lat_all)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    server_cpu_s = cpu1 - cpu0
    return {
        "target": target.kind,
        "telemetry": target.telemetry,
        "stations": target.n,
        "connected": connected,
        "interval_s": interval_s,
        "duration_s": duration_s,
        "load_procs": procs,
        "calls": len(lat),
        "calls_per_s": len(lat) / duration_s,
        "calls_per_server_cpu_s": len(lat) / server_cpu_s if server_cpu_s > 0 else float("nan"),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "server_rss_mb": rss_peak / 2**20,
        "server_cpu_pct": 100 * server_cpu_s / duration_s,
        "loadgen_cpu_pct": 100 * loadgen_cpu / duration_s,
        "load_average_1min": load_average,
        "errors": n_errors + (target.n - connected),
        "first_errors": errors[:5],
    }


def label(row: dict[str, Any]) -> str:
    tel = "" if row["telemetry"] in ("on", "-") else "/tel-off"
    return f"{row['target']}{tel}"


def print_row(row: dict[str, Any]) -> None:
    interval = row["interval_s"]
    mode = "saturate" if interval == 0 else f"1/{interval:g}s"
    print(
        f"{label(row):<16} n={row['stations']:<5} {mode:<9} {row['calls_per_s']:7.0f} calls/s  "
        f"{row['calls_per_server_cpu_s']:6.0f} calls/cpu-s  "
        f"p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:8.2f} ms  "
        f"rss {row['server_rss_mb']:6.1f} MB  cpu {row['server_cpu_pct']:3.0f}% "
        f"(loadgen {row['loadgen_cpu_pct']:3.0f}%, load {row['load_average_1min']:.1f})  "
        f"errors {row['errors']}",
        flush=True,
    )


async def main(args: argparse.Namespace) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    workdir = RESULTS / "work"
    workdir.mkdir(exist_ok=True)
    rows: list[dict[str, Any]] = []
    for n in args.stations:
        for kind in args.targets:
            for telemetry in args.telemetry if kind != "bare" else ["-"]:
                for interval in args.intervals:
                    target = Target(kind, n, workdir, telemetry)
                    await target.start()
                    try:
                        row = await run_load(
                            target,
                            interval_s=interval,
                            duration_s=args.duration_s,
                            warmup_s=args.warmup_s,
                            procs=args.load_procs,
                        )
                    finally:
                        await target.stop()
                    rows.append(row)
                    print_row(row)
    print()
    print("ratio to the bare baseline (calls/s, same stations and pacing):")
    for row in rows:
        if row["target"] == "bare":
            continue
        base = next(
            (
                b
                for b in rows
                if b["target"] == "bare"
                and b["stations"] == row["stations"]
                and b["interval_s"] == row["interval_s"]
            ),
            None,
        )
        if base and base["calls_per_s"]:
            row["ratio_to_bare"] = row["calls_per_s"] / base["calls_per_s"]
            print(
                f"  {label(row):<16} n={row['stations']:<5} interval {row['interval_s']:g}s: "
                f"x{row['ratio_to_bare']:.2f} calls/s, "
                f"x{row['calls_per_server_cpu_s'] / base['calls_per_server_cpu_s']:.2f} "
                "calls per server CPU-second"
            )
    out = RESULTS / f"csms_throughput-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"args": vars(args), "cpus": os.cpu_count(), "rows": rows}, indent=2))
    print(f"saved {out.relative_to(ROOT)}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--stations",
        type=int,
        nargs="+",
        default=[100, 1000],
        help="numbers of concurrent stations (default 100 1000)",
    )
    p.add_argument(
        "--targets",
        nargs="+",
        default=["bare", "sqlite", "postgres"],
        choices=["bare", "memory", "sqlite", "postgres"],
        help="servers to measure (memory: no persistence, for diagnosis)",
    )
    p.add_argument(
        "--intervals",
        type=float,
        nargs="+",
        default=[0.0, 1.0],
        metavar="S",
        help="seconds between one station's calls; 0 = as fast as answered (default 0 1)",
    )
    p.add_argument(
        "--telemetry",
        nargs="+",
        default=["on"],
        choices=["on", "off"],
        help="telemetry of the chargegrid targets (default on, as in production)",
    )
    p.add_argument(
        "--load-procs",
        type=int,
        default=2,
        help="load generator processes sharing the stations (default 2)",
    )
    p.add_argument("--duration-s", type=float, default=20.0, help="measured seconds per run")
    p.add_argument("--warmup-s", type=float, default=2.0, help="unmeasured seconds first")
    p.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_bare:
        serve_bare(arguments.serve_bare)
        raise SystemExit(0)
    raise SystemExit(asyncio.run(main(arguments)))
