"""CSMS throughput: N concurrent OCPP 1.6 stations on loopback against ``chargegrid serve``.

Each station sends Heartbeat, StatusNotification and MeterValues in turn, either as fast as
answers come back (``--interval-s 0``, saturation: calls/s) or paced (one call every
``--interval-s`` per station: round-trip latency at a realistic load). The server runs in
its own process, persistence on (SQLite, PostgreSQL); the same load runs in the same
invocation against a bare central system made of the ``ocpp`` library's example-style
handlers (no persistence, library validation) as the baseline. The load generator sends raw
frames over ``websockets`` (no ocpp client) so it stays lean.

Prints a table and writes ``benchmarks/results/csms_throughput-<time>.json``.

    python benchmarks/csms_throughput.py --stations 100 1000 --duration-s 20
    python benchmarks/csms_throughput.py --targets bare sqlite --stations 100 --duration-s 5
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

    def __init__(self, kind: str, n: int, workdir: Path) -> None:
        self.kind = kind
        self.n = n
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
        self.proc = await asyncio.to_thread(
            subprocess.Popen, argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL
        )
        await asyncio.to_thread(wait_port, self.port, self.proc)

    def cpu_seconds(self) -> float:
        import psutil

        assert self.proc is not None
        t = psutil.Process(self.proc.pid).cpu_times()
        return float(t.user + t.system)

    def rss_bytes(self) -> int:
        import psutil

        assert self.proc is not None
        rss: int = psutil.Process(self.proc.pid).memory_info().rss
        return rss

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
def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def frames(i: int, seq: int) -> tuple[str, dict[str, Any]]:
    kind = seq % 3
    if kind == 0:
        return "Heartbeat", {}
    if kind == 1:
        return "StatusNotification", {
            "connectorId": 1 + seq % 2,
            "errorCode": "NoError",
            "status": ("Available", "Charging", "SuspendedEV")[seq % 3],
            "timestamp": _now(),
        }
    return "MeterValues", {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": _now(),
                "sampledValue": [
                    {
                        "value": f"{seq * 1.5:.1f}",
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                    },
                    {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
                    {"value": "32.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                    {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
                ],
            }
        ],
    }


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

    loop = asyncio.get_running_loop()
    try:
        async with connect(
            f"{url}BENCH{i:05d}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            open_timeout=60,
            ping_interval=None,
            compression=None,
        ) as ws:
            await ws.send(
                json.dumps(
                    [
                        2,
                        "boot",
                        "BootNotification",
                        {"chargePointVendor": "Bench", "chargePointModel": "Load"},
                    ]
                )
            )
            await ws.recv()
            connected[0] += 1
            await ready.wait()
            start_at, end_at = window["start"], window["end"]
            seq = random.randrange(3)
            next_at = start_at + (random.random() * interval_s if interval_s else 0.0)
            while True:
                now = loop.time()
                if interval_s and next_at > now:
                    await asyncio.sleep(next_at - now)
                t0 = loop.time()
                if t0 >= end_at:
                    break
                action, payload = frames(i, seq)
                await ws.send(json.dumps([2, str(seq), action, payload]))
                answer = json.loads(await ws.recv())
                t1 = loop.time()
                if answer[0] != 3:
                    errors.append(f"{action}: {answer[2]}")
                if t0 >= start_at:
                    latencies.append(t1 - t0)
                seq += 1
                next_at += interval_s
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")


async def run_load(
    target: Target, *, interval_s: float, duration_s: float, warmup_s: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    url = f"ws://127.0.0.1:{target.port}/ocpp/"
    latencies: list[float] = []
    errors: list[str] = []
    ready = asyncio.Event()
    connected = [0]
    far = loop.time() + 3600
    tasks = []
    sem = asyncio.Semaphore(100)

    async def limited(i: int, holder: dict[str, float]) -> None:
        async with sem:
            pass
        await station(url, i, interval_s, holder, latencies, errors, ready, connected)

    holder = {"start": far, "end": far}
    for i in range(target.n):
        tasks.append(asyncio.create_task(limited(i, holder)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    deadline = loop.time() + 120
    while connected[0] + len(errors) < target.n and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    holder["start"] = loop.time() + warmup_s
    holder["end"] = holder["start"] + duration_s
    ready.set()
    await asyncio.sleep(warmup_s)
    cpu0 = await asyncio.to_thread(target.cpu_seconds)
    own0 = sum(os.times()[:2])
    rss_peak = 0
    while loop.time() < holder["end"]:
        await asyncio.sleep(0.5)
        rss_peak = max(rss_peak, await asyncio.to_thread(target.rss_bytes))
    cpu1 = await asyncio.to_thread(target.cpu_seconds)
    own1 = sum(os.times()[:2])
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {
        "target": target.kind,
        "stations": target.n,
        "connected": connected[0],
        "interval_s": interval_s,
        "duration_s": duration_s,
        "calls": len(lat),
        "calls_per_s": len(lat) / duration_s,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "server_rss_mb": rss_peak / 2**20,
        "server_cpu_pct": 100 * (cpu1 - cpu0) / duration_s,
        "loadgen_cpu_pct": 100 * (own1 - own0) / duration_s,
        "load_average_1min": os.getloadavg()[0],
        "errors": len(errors),
        "first_errors": errors[:5],
    }


async def main(args: argparse.Namespace) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    workdir = RESULTS / "work"
    workdir.mkdir(exist_ok=True)
    rows: list[dict[str, Any]] = []
    for n in args.stations:
        for kind in args.targets:
            for interval in args.intervals:
                target = Target(kind, n, workdir)
                await target.start()
                try:
                    row = await run_load(
                        target,
                        interval_s=interval,
                        duration_s=args.duration_s,
                        warmup_s=args.warmup_s,
                    )
                finally:
                    await target.stop()
                rows.append(row)
                mode = "saturate" if interval == 0 else f"1/{interval:g}s"
                print(
                    f"{kind:<8} n={n:<5} {mode:<9} {row['calls_per_s']:9.0f} calls/s  "
                    f"p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:8.2f} ms  "
                    f"rss {row['server_rss_mb']:6.1f} MB  cpu {row['server_cpu_pct']:3.0f}% "
                    f"(loadgen {row['loadgen_cpu_pct']:3.0f}%, "
                    f"load {row['load_average_1min']:.1f})  "
                    f"errors {row['errors']}",
                    flush=True,
                )
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
                f"  {row['target']:<8} n={row['stations']:<5} interval {row['interval_s']:g}s: "
                f"x{row['ratio_to_bare']:.2f}"
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
