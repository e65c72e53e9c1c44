"""Telemetry throughput: listener -> durable outbox -> a local influxd, end to end.

Measures, in one run against a throwaway InfluxDB 1.x started in a temp dir:

1. CPU per point: the whole process's CPU time (every thread: the publishing one, the
   ingest and sender threads, encoding, outbox, HTTP) from the first publish until every
   point is accepted, per point (goal < 20 us), and the database server's CPU per point
   beside it. The thread CPU of ``EventBus.publish`` alone (the hand-over the OCPP path
   waits for) is reported too, but it is not the cost: the work happens on other threads
   of the same process, sharing its interpreter;
2. sustained points/s end to end: from the first publish until every point is accepted by
   influxd, with the SQLite outbox on (goal >= 50,000 points/s), checked with a count query;
3. the baseline: the same points built with influxdb-client's ``Point`` and written in the
   same batch size straight to ``/write`` without outbox, from the publishing thread (the
   naive design). influxdb-client's batching ``WriteApi`` cannot be the baseline here: it
   writes to ``/api/v2/write``, which InfluxDB before 1.8 does not have.

Prints the figures and saves them as JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chargegrid.measurands import MEASURAND_UNITS
from chargegrid.measurands import Measurand as M
from csms.domain import MeterSample
from csms.events import EventBus, MeterValuesReceived
from csms.telemetry import (
    InfluxV1Sink,
    InfluxV2Sink,
    Outbox,
    PointEncoder,
    TelemetryPipeline,
    TelemetryRecorder,
)

MEASURANDS = tuple(
    (m, phase, MEASURAND_UNITS[m])
    for m, phase in (
        (M.ENERGY_ACTIVE_IMPORT_REGISTER, None),
        (M.POWER_ACTIVE_IMPORT, None),
        (M.CURRENT_IMPORT, "L1"),
        (M.CURRENT_IMPORT, "L2"),
        (M.CURRENT_IMPORT, "L3"),
        (M.VOLTAGE, "L1-N"),
        (M.VOLTAGE, "L2-N"),
        (M.VOLTAGE, "L3-N"),
        (M.SOC, None),
        (M.TEMPERATURE, None),
    )
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_influxd(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("influxd")
    if binary is None:
        sys.exit("influxd not found: install Debian's influxdb package")
    http_port, rpc_port = _free_port(), _free_port()
    conf = root / "influxdb.conf"
    conf.write_text(
        f'reporting-enabled = false\nbind-address = "127.0.0.1:{rpc_port}"\n'
        f'[meta]\n  dir = "{root}/meta"\n'
        f'[data]\n  dir = "{root}/data"\n  wal-dir = "{root}/wal"\n  query-log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
        f'[http]\n  bind-address = "127.0.0.1:{http_port}"\n  log-enabled = false\n'
        '[continuous_queries]\n  enabled = false\n[logging]\n  level = "error"\n'
    )
    log = (root / "influxd.log").open("wb")
    proc = subprocess.Popen([binary, "run", "-config", str(conf)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{http_port}"
    for _ in range(400):
        try:
            if httpx.get(url + "/ping", timeout=0.5).status_code == 204:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("influxd did not start")


def make_events(
    n_events: int, stations: int, base: datetime, prefix: str = "CP"
) -> list[MeterValuesReceived]:
    events = []
    for i in range(n_events):
        station = i % stations
        at = base + timedelta(seconds=i // stations)
        samples = tuple(
            MeterSample(at, m, 1000.0 + i + k * 0.5, unit, phase=phase)
            for k, (m, phase, unit) in enumerate(MEASURANDS)
        )
        events.append(MeterValuesReceived(f"{prefix}{station:05d}", 1, 1, 100 + station, samples))
    return events


def count(url: str, db: str) -> int:
    r = httpx.get(url + "/query", params={"db": db, "q": 'SELECT count("value") FROM "meter"'})
    series = r.json()["results"][0].get("series")
    return 0 if not series else int(series[0]["values"][0][1])


def ocpp_path_cost(events: list[MeterValuesReceived]) -> float:
    """Thread CPU seconds per point of publishing with the telemetry listener subscribed."""
    recorder = TelemetryRecorder(max_buffer_items=len(events) + 1)
    bus = EventBus()
    recorder.attach(bus)
    t0 = time.thread_time()
    for event in events:
        bus.publish(event)
    spent = time.thread_time() - t0
    return spent / (len(events) * len(MEASURANDS))


def start_victoria_metrics(root: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("victoria-metrics")
    if binary is None:
        return None
    port = _free_port()
    log = (root / "vm.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={root / 'vm'}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    return None


def vm_count(url: str, prefix: str) -> int:
    httpx.get(url + "/internal/force_flush").raise_for_status()
    query = f'sum(count_over_time({{__name__="meter_value",station=~"{prefix}.*"}}[10d]))'
    r = httpx.get(url + "/api/v1/query", params={"query": query})
    result = r.json()["data"]["result"]
    return 0 if not result else int(float(result[0]["value"][1]))


def run_pipeline(
    url: str,
    events: list[MeterValuesReceived],
    batch: int,
    outbox_path: Path,
    *,
    v2: bool = False,
    server_pid: int | None = None,
) -> dict[str, float]:
    db = "bench_pipeline"
    sink: InfluxV1Sink | InfluxV2Sink = (
        InfluxV2Sink(url, token="t", org="o", bucket=db, precision="ms")
        if v2
        else InfluxV1Sink(url, database=db, precision="ms")
    )
    recorder = TelemetryRecorder(max_buffer_items=len(events) + 1)
    pipe = TelemetryPipeline(
        sink=sink,
        outbox=Outbox(outbox_path, max_bytes=2 * 1024**3),
        recorder=recorder,
        encoder=PointEncoder(max_past_s=1e9, max_future_s=1e9),
        batch_size_points=batch,
        batch_interval_s=0.2,
        flush_interval_s=0.01,
    )
    bus = EventBus()
    recorder.attach(bus)
    pipe.start()
    points = len(events) * len(MEASURANDS)
    t0 = time.perf_counter()
    p0 = time.process_time()
    s0 = _cpu_of(server_pid)
    c0 = time.thread_time()
    for event in events:
        bus.publish(event)
    publish_cpu = time.thread_time() - c0
    publish_wall = time.perf_counter() - t0
    if not pipe.flush(timeout_s=600):
        sys.exit("pipeline did not drain")
    elapsed = time.perf_counter() - t0
    process_cpu = time.process_time() - p0
    server_cpu = _cpu_of(server_pid) - s0
    pipe.close()
    stored = vm_count(url, events[0].station_id[:2]) if v2 else count(url, db)
    if stored != points:
        sys.exit(f"the server holds {stored} points, expected {points}")
    return {
        "points": points,
        "seconds": elapsed,
        "points_per_s": points / elapsed,
        "publish_wall_s": publish_wall,
        "ocpp_path_us_per_point_under_load": publish_cpu / points * 1e6,
        "process_cpu_us_per_point": process_cpu / points * 1e6,
        "server_cpu_us_per_point": server_cpu / points * 1e6,
        "write_requests": pipe.stats.write_requests,
    }


def _cpu_of(pid: int | None) -> float:
    """CPU seconds (user + system) of another process, e.g. the database server."""
    if pid is None:
        return 0.0
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def run_baseline(
    url: str, events: list[MeterValuesReceived], batch: int, server_pid: int | None = None
) -> dict[str, float]:
    """Point + direct /write from the publishing thread, no outbox."""
    from influxdb_client.client.write.point import Point
    from influxdb_client.domain.write_precision import WritePrecision

    db = "bench_baseline"
    sink = InfluxV1Sink(url, database=db, precision="ms")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    points = len(events) * len(MEASURANDS)
    pending: list[str] = []
    t0 = time.perf_counter()
    p0 = time.process_time()
    s0 = _cpu_of(server_pid)
    for event in events:
        for s in event.samples:
            p = (
                Point("meter")
                .tag("station", event.station_id)
                .tag("evse", str(event.evse_id))
                .tag("connector", str(event.connector_id))
                .tag("measurand", s.measurand)
                .tag("phase", s.phase)
                .tag("unit", s.unit)
                .field("value", s.value)
                .field("transaction_id", event.transaction_id)
                .time((s.timestamp - epoch) // timedelta(milliseconds=1), WritePrecision.MS)
            )
            pending.append(p.to_line_protocol())
            if len(pending) >= batch:
                sink.write(pending)
                pending = []
    if pending:
        sink.write(pending)
    elapsed = time.perf_counter() - t0
    process_cpu = time.process_time() - p0
    server_cpu = _cpu_of(server_pid) - s0
    sink.close()
    stored = count(url, db)
    if stored != points:
        sys.exit(f"baseline: influxd holds {stored} points, expected {points}")
    return {
        "points": points,
        "seconds": elapsed,
        "points_per_s": points / elapsed,
        "process_cpu_us_per_point": process_cpu / points * 1e6,
        "server_cpu_us_per_point": server_cpu / points * 1e6,
    }


def run_writeapi_baseline(
    url: str, events: list[MeterValuesReceived], batch: int
) -> dict[str, float]:
    """influxdb-client's batching WriteApi (its own thread, in-memory queue), no outbox."""
    from influxdb_client.client.influxdb_client import InfluxDBClient
    from influxdb_client.client.write.point import Point
    from influxdb_client.client.write_api import WriteOptions
    from influxdb_client.domain.write_precision import WritePrecision

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    points = len(events) * len(MEASURANDS)
    client = InfluxDBClient(url=url, token="t", org="o")
    api = client.write_api(write_options=WriteOptions(batch_size=batch, flush_interval=200))
    t0 = time.perf_counter()
    p0 = time.process_time()
    c0 = time.thread_time()
    for event in events:
        api.write(
            bucket="bench_baseline",
            record=[
                Point("meter")
                .tag("station", event.station_id)
                .tag("evse", str(event.evse_id))
                .tag("connector", str(event.connector_id))
                .tag("measurand", s.measurand)
                .tag("phase", s.phase)
                .tag("unit", s.unit)
                .field("value", s.value)
                .field("transaction_id", event.transaction_id)
                .time((s.timestamp - epoch) // timedelta(milliseconds=1), WritePrecision.MS)
                for s in event.samples
            ],
            write_precision=WritePrecision.MS,
        )
    caller_cpu = time.thread_time() - c0
    api.close()  # flushes what is queued
    elapsed = time.perf_counter() - t0
    process_cpu = time.process_time() - p0
    client.close()
    stored = vm_count(url, events[0].station_id[:2])
    if stored != points:
        sys.exit(f"WriteApi baseline: the server holds {stored} points, expected {points}")
    return {
        "points": points,
        "seconds": elapsed,
        "points_per_s": points / elapsed,
        "caller_us_per_point": caller_cpu / points * 1e6,
        "process_cpu_us_per_point": process_cpu / points * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--points", type=int, default=300_000, help="points per run (default 300000)"
    )
    parser.add_argument(
        "--stations", type=int, default=1000, help="simulated stations (default 1000)"
    )
    parser.add_argument("--batch", type=int, default=5000, help="points per write (default 5000)")
    parser.add_argument(
        "--no-v2",
        action="store_true",
        help="skip the v2 comparison against victoria-metrics (pipeline vs batching WriteApi)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "telemetry_throughput.json"
    )
    args = parser.parse_args(argv)
    n_events = max(1, args.points // len(MEASURANDS))
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    events = make_events(n_events, args.stations, base)

    ocpp_us = ocpp_path_cost(events) * 1e6
    with tempfile.TemporaryDirectory(prefix="cg-bench-influx-") as tmp:
        root = Path(tmp)
        proc, url = start_influxd(root)
        try:
            pipeline = run_pipeline(
                url, events, args.batch, root / "outbox.sqlite3", server_pid=proc.pid
            )
            baseline = run_baseline(url, events, args.batch, server_pid=proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        v2: dict[str, object] | None = None
        vm = None if args.no_v2 else start_victoria_metrics(root)
        if vm is not None:
            vm_proc, vm_url = vm
            try:
                a = make_events(n_events, args.stations, base, prefix="VA")
                b = make_events(n_events, args.stations, base, prefix="VB")
                v2_pipeline = run_pipeline(vm_url, a, args.batch, root / "outbox2.sqlite3", v2=True)
                v2_baseline = run_writeapi_baseline(vm_url, b, args.batch)
            finally:
                vm_proc.terminate()
                vm_proc.wait(timeout=10)
            v2 = {
                "server": "victoria-metrics /api/v2/write",
                "pipeline": v2_pipeline,
                "baseline_batching_writeapi": v2_baseline,
                "ratio_pipeline_over_baseline": v2_pipeline["points_per_s"]
                / v2_baseline["points_per_s"],
            }

    result = {
        "benchmark": "telemetry_throughput",
        "at": datetime.now(UTC).isoformat(),
        "points": n_events * len(MEASURANDS),
        "stations": args.stations,
        "batch": args.batch,
        "ocpp_path_us_per_point": ocpp_us,
        "pipeline": pipeline,
        "baseline_point_direct_write": baseline,
        "ratio_pipeline_over_baseline": pipeline["points_per_s"] / baseline["points_per_s"],
        "v2": v2,
        "process_cpu_us_per_point": pipeline["process_cpu_us_per_point"],
        "goals": {"points_per_s": 50_000, "process_cpu_us_per_point": 20},
    }
    print(
        "CPU per point, whole process:             "
        f"{pipeline['process_cpu_us_per_point']:8.3f} us   (goal < 20; influxd "
        f"{pipeline['server_cpu_us_per_point']:.3f} us)"
    )
    print(
        "  baseline Point + direct /write:         "
        f"{baseline['process_cpu_us_per_point']:8.3f} us   (influxd "
        f"{baseline['server_cpu_us_per_point']:.3f} us)"
    )
    print(f"hand-over only (listener, one thread):    {ocpp_us:8.3f} us")
    print(
        "hand-over only (pipeline running):       "
        f"{pipeline['ocpp_path_us_per_point_under_load']:8.3f} us"
    )
    print(
        f"end to end with durable outbox:           {pipeline['points_per_s']:10.0f} points/s"
        f"  ({pipeline['points']} points in {pipeline['seconds']:.2f} s; goal >= 50000)"
    )
    print(
        f"baseline Point + direct /write:           {baseline['points_per_s']:10.0f} points/s"
        f"  ({baseline['seconds']:.2f} s)"
    )
    print(
        f"ratio pipeline / baseline:                {result['ratio_pipeline_over_baseline']:8.2f}"
    )
    if v2 is not None:
        v2p = v2["pipeline"]
        v2b = v2["baseline_batching_writeapi"]
        assert isinstance(v2p, dict) and isinstance(v2b, dict)
        print(
            f"v2 (victoria-metrics) pipeline + outbox:   {v2p['points_per_s']:10.0f} points/s"
            f"  (process CPU {v2p['process_cpu_us_per_point']:.2f} us/point)"
        )
        print(
            f"v2 baseline batching WriteApi, no outbox: {v2b['points_per_s']:10.0f} points/s"
            f"  (process CPU {v2b['process_cpu_us_per_point']:.2f} us/point)"
        )
        print(
            f"ratio pipeline / WriteApi:                {v2['ratio_pipeline_over_baseline']:8.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
