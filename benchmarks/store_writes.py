"""Store write throughput: many concurrent callers, each write durable before it returns.

Models the steady load of ~1,000 connected stations: Heartbeats (``record_seen``),
StatusNotifications (``record_status``) and MeterValues (``add_samples``, six samples per
call), called from many concurrent asyncio tasks. Measures each operation, and a mix of the
three, for a few seconds on each backend and prints writes/s and latency; the in-memory
store, measured in the same run, is the baseline (the cost of the harness itself).

    python benchmarks/store_writes.py --backends memory,sqlite,postgresql --duration-s 3

PostgreSQL gets a fresh, uniquely named database that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chargegrid.measurands import MEASURAND_UNITS
from chargegrid.measurands import Measurand as M
from csms.domain import ConnectorStatus, MeterSample, StatusReport
from csms.store import MemoryStore, SqlStore, StationRecord, Store, StoredSample

__all__ = ["main"]

OPERATIONS = ("record_seen", "record_status", "add_samples", "mixed")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
MEASURANDS = tuple(
    (m, MEASURAND_UNITS[m], phase)
    for m, phase in (
        (M.ENERGY_ACTIVE_IMPORT_REGISTER, None),
        (M.POWER_ACTIVE_IMPORT, None),
        (M.CURRENT_IMPORT, "L1"),
        (M.CURRENT_IMPORT, "L2"),
        (M.CURRENT_IMPORT, "L3"),
        (M.SOC, None),
    )
)
STATUSES = (ConnectorStatus.AVAILABLE, ConnectorStatus.PREPARING, ConnectorStatus.CHARGING)


def _make_call(store: Store, op: str, stations: int) -> Callable[[int, int], Awaitable[Any]]:
    """The write for caller ``task`` making its ``n``-th call (every call is new data)."""

    def station(task: int, n: int) -> str:
        return f"CP{(task + n * 7919) % stations:05d}"

    if op == "record_seen":

        async def seen(task: int, n: int) -> None:
            await store.record_seen(station(task, n), T0 + timedelta(seconds=n, microseconds=task))

        return seen
    if op == "record_status":

        async def status(task: int, n: int) -> None:
            await store.record_status(
                StatusReport(
                    station(task, n),
                    1 + n % 2,
                    1,
                    STATUSES[n % len(STATUSES)],
                    T0 + timedelta(seconds=n, microseconds=task),
                )
            )

        return status

    if op == "mixed":
        # What the stations send, in turn: a heartbeat, a status, a MeterValues.
        calls = [_make_call(store, kind, stations) for kind in OPERATIONS[:3]]

        async def mixed(task: int, n: int) -> Any:
            return await calls[(task + n) % 3](task, n)

        return mixed

    async def samples(task: int, n: int) -> int:
        ts = T0 + timedelta(seconds=n, microseconds=task)
        sid = station(task, n)
        return await store.add_samples(
            [
                StoredSample(sid, 1, 1, None, MeterSample(ts, m, float(n), unit, phase))
                for m, unit, phase in MEASURANDS
            ]
        )

    return samples


async def _measure(
    store: Store,
    op: str,
    *,
    concurrency: int,
    duration_s: float,
    stations: int,
    rate_per_s: float = 0.0,
) -> dict[str, Any]:
    """Closed loop (each caller calls again at once) or, with ``rate_per_s``, an offered
    load spread over the callers; latency then counts from the scheduled time, so a store
    that falls behind shows it."""
    call = _make_call(store, op, stations)
    latencies: list[float] = []
    begin = time.perf_counter()
    stop_at = begin + duration_s
    interval_s = concurrency / rate_per_s if rate_per_s > 0 else 0.0

    async def worker(task: int) -> None:
        n = 0
        while True:
            scheduled = begin + interval_s * (n + task / concurrency)
            now = time.perf_counter()
            if max(now, scheduled) >= stop_at:
                return
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
            started = max(scheduled, now) if interval_s else now
            await call(task, n)
            latencies.append(time.perf_counter() - started)
            n += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - begin
    latencies.sort()
    return {
        "operation": op,
        "offered_per_s": rate_per_s or None,
        "calls": len(latencies),
        "writes_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
    }


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    dropped: str | None = None
    store: Store
    if backend == "memory":
        store = MemoryStore()
    elif backend == "sqlite":
        store = SqlStore(f"sqlite+aiosqlite:///{tmp / 'bench.db'}", **_options(args))
    elif backend == "postgresql":
        name = f"chargegrid_bench_{secrets.token_hex(4)}"
        await _admin(args.postgres_admin_url, f'CREATE DATABASE "{name}"')
        dropped = name
        base = args.postgres_admin_url.rsplit("/", 1)[0].replace("postgresql://", "")
        store = SqlStore(f"postgresql+asyncpg://{base}/{name}", **_options(args))
    else:
        raise SystemExit(f"unknown backend {backend!r}")
    results = []
    try:
        await store.open()
        for i in range(args.stations):
            await store.put_station(StationRecord(f"CP{i:05d}"))
        for op in args.operations:
            before = (0, 0, 0.0)
            if isinstance(store, SqlStore):
                before = (store.writer.batches, store.writer.ops, store.writer.busy_s)
            r = await _measure(
                store,
                op,
                concurrency=args.concurrency,
                duration_s=args.duration_s,
                stations=args.stations,
                rate_per_s=args.rate_per_s,
            )
            r["backend"] = backend
            if isinstance(store, SqlStore):
                w = store.writer
                r["batches"] = w.batches - before[0]
                r["mean_batch_ops"] = round((w.ops - before[1]) / max(r["batches"], 1), 1)
                r["mean_batch_ms"] = round((w.busy_s - before[2]) * 1000 / max(r["batches"], 1), 2)
            results.append(r)
            print(
                f"{backend:>10} {op:>14}: {r['writes_per_s']:>9.1f} writes/s  "
                f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
                + (
                    f"  batches {r['mean_batch_ops']} ops / {r['mean_batch_ms']} ms"
                    if "batches" in r
                    else ""
                ),
                flush=True,
            )
    finally:
        await store.close()
        if dropped is not None:
            await _admin(
                args.postgres_admin_url, f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)'
            )
    return results


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"max_batch_ops": args.max_batch_ops, "sqlite_synchronous": args.sqlite_synchronous}


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        for backend in args.backends:
            results.extend(await _run_backend(backend, args, Path(tmp)))
    baseline = {r["operation"]: r["writes_per_s"] for r in results if r["backend"] == "memory"}
    for r in results:
        base = baseline.get(r["operation"])
        r["ratio_to_memory"] = round(r["writes_per_s"] / base, 4) if base else None
    return {
        "benchmark": "store_writes",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "concurrency": args.concurrency,
            "duration_s": args.duration_s,
            "stations": args.stations,
            "rate_per_s": args.rate_per_s,
            "max_batch_ops": args.max_batch_ops,
            "sqlite_synchronous": args.sqlite_synchronous,
            "samples_per_call": len(MEASURANDS),
        },
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backends",
        type=lambda s: s.split(","),
        default=["memory", "sqlite", "postgresql"],
        help="comma-separated: memory, sqlite, postgresql (default: all three)",
    )
    parser.add_argument(
        "--operations",
        type=lambda s: s.split(","),
        default=list(OPERATIONS),
        help=f"comma-separated subset of {', '.join(OPERATIONS)}",
    )
    parser.add_argument("--concurrency", type=int, default=200, help="concurrent callers")
    parser.add_argument("--duration-s", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--stations", type=int, default=1000, help="stations the load spans")
    parser.add_argument(
        "--rate-per-s",
        type=float,
        default=0.0,
        help="offered calls/s over all callers (default 0: each caller as fast as it can)",
    )
    parser.add_argument("--max-batch-ops", type=int, default=256, help="group commit bound")
    parser.add_argument("--sqlite-synchronous", default="FULL", help="SQLite PRAGMA synchronous")
    parser.add_argument(
        "--postgres-admin-url",
        default=os.environ.get(
            "CHARGEGRID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="asyncpg URL of a database to create the benchmark database from",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="directory for the JSON result (default: benchmarks/results)",
    )
    args = parser.parse_args(argv)
    report = asyncio.run(_run(args))
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.output / f"store_writes-{stamp}.json"
    path.write_text(json.dumps(report, indent=2))
    for r in report["results"]:
        if r["backend"] != "memory" and r["ratio_to_memory"] is not None:
            print(f"{r['backend']:>10} {r['operation']:>14}: {r['ratio_to_memory']:.3f} x memory")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
