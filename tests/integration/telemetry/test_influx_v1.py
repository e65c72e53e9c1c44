"""The v1 path against a real InfluxDB 1.x: write, refuse, query, detect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from chargegrid.cli import main
from csms.backoff import Backoff
from csms.events import EventBus
from csms.telemetry import (
    Aggregation,
    EmbeddedStore,
    InfluxQLBackend,
    InfluxV1Sink,
    MemorySink,
    Outbox,
    TelemetryPipeline,
    TelemetryQuery,
    TelemetrySettings,
    detect_api,
    open_telemetry,
)
from csms.telemetry.lineprotocol import to_epoch
from csms.telemetry.writers import ping
from tests.fixtures.influx import ServerProcess
from tests.integration.telemetry.helpers import (
    count_points,
    fleet_tick,
    influxql,
    recent_base,
    unique_db,
)

pytestmark = pytest.mark.influx


def test_version_detection(influxd: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    version = ping(influxd.url)
    assert version is not None and version.startswith("1.")
    assert detect_api(influxd.url, has_bucket=False) == "v1"
    assert detect_api(influxd.url, has_bucket=True) == "v1"
    assert main(["telemetry", "ping", influxd.url]) == 0
    assert capsys.readouterr().out == f"version {version}; write API v1\n"


def test_events_land_in_influxdb(influxd: ServerProcess, tmp_path: Path) -> None:
    db = unique_db()
    telemetry = open_telemetry(
        TelemetrySettings(
            url=influxd.url,
            database=db,
            outbox_path=tmp_path / "outbox.sqlite3",
            batch_size_points=100,
            batch_interval_s=0.05,
        )
    )
    assert telemetry.backend == "v1"
    bus = EventBus()
    telemetry.recorder.attach(bus)
    telemetry.start()
    base = recent_base()
    for tick in range(20):
        for event in fleet_tick(tick, stations=10, base=base):
            bus.publish(event)
    assert telemetry.pipeline.flush(timeout_s=10)
    assert count_points(influxd.url, db) == 20 * 10 * 3
    rows = influxql(
        influxd.url,
        db,
        "SELECT value, transaction_id FROM meter WHERE station='CP0003' "
        "AND measurand='Energy.Active.Import.Register' ORDER BY time DESC LIMIT 1",
    )
    assert rows["results"][0]["series"][0]["values"][0][1:] == [19003, 1003]
    assert telemetry.stats.points_written == 600
    assert telemetry.stats.outbox_depth == 0
    telemetry.close()


def test_a_refused_point_is_isolated_and_the_rest_written(
    influxd: ServerProcess, tmp_path: Path
) -> None:
    db = unique_db()
    sink = InfluxV1Sink(influxd.url, database=db, precision="s")
    sink.write(["m,k=a v=1 1000"])  # v is a float from now on
    outbox = Outbox(tmp_path / "o")
    lines = [f"m,k=a v={i} {1000 + i}" for i in range(1, 40)]
    lines[17] = 'm,k=a v="text" 5000'  # field type conflict -> HTTP 400
    lines[30] = "this is not line protocol"
    outbox.append(lines)
    pipe = TelemetryPipeline(sink=sink, outbox=outbox, batch_interval_s=0.01)
    pipe.start()
    assert pipe.flush(timeout_s=10)
    pipe.close()
    assert count_points(influxd.url, db, "m", "v") == 1 + 37
    assert pipe.stats.points_server_rejected == 2
    assert pipe.stats.points_written == 37
    refused = Outbox(tmp_path / "o").rejected()
    assert [line for line, _ in refused] == [lines[17], lines[30]]
    assert "field type conflict" in refused[0][1]


@pytest.mark.parametrize("precision", ["ns", "us", "ms", "s"])
def test_every_precision_lands_at_the_right_time(influxd: ServerProcess, precision: str) -> None:
    db = unique_db()
    at = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
    sink = InfluxV1Sink(influxd.url, database=db, precision=precision)  # type: ignore[arg-type]
    sink.write([f"m v=1 {to_epoch(at, precision)}"])  # type: ignore[arg-type]
    sink.close()
    payload = httpx.get(
        influxd.url + "/query", params={"db": db, "q": "SELECT v FROM m", "epoch": "ns"}
    ).json()
    stored_ns = payload["results"][0]["series"][0]["values"][0][0]
    assert (
        stored_ns
        == to_epoch(at, precision) * {"ns": 1, "us": 1000, "ms": 10**6, "s": 10**9}[precision]
    )


def test_a_missing_database_is_created(influxd: ServerProcess) -> None:
    db = unique_db()
    sink = InfluxV1Sink(influxd.url, database=db)
    sink.write(["m v=1 1"])
    sink.close()
    assert count_points(influxd.url, db, "m", "v") == 1


QUERIES = [
    dict(aggregation=agg, window_s=window, group_by=group)
    for agg in Aggregation
    for window in (None, 60, 300)
    for group in ((), ("station",), ("station", "measurand"))
]


def test_influxql_and_embedded_give_the_same_numbers(
    influxd: ServerProcess, tmp_path: Path
) -> None:
    db = unique_db()
    base = recent_base()
    sink = MemorySink()
    pipe = TelemetryPipeline(
        sink=sink, outbox=Outbox(tmp_path / "o"), batch_interval_s=0.01, backoff=Backoff()
    )
    for tick in range(0, 900, 7):  # 15 minutes of samples every 7 s, 4 stations
        for event in fleet_tick(tick, stations=4, base=base):
            pipe.recorder.on_event(event)
    pipe.start()
    assert pipe.flush(timeout_s=10)
    pipe.close()
    writer = InfluxV1Sink(influxd.url, database=db)
    writer.write(sink.lines)
    writer.close()
    embedded = EmbeddedStore(tmp_path / "e.sqlite3")
    embedded.write(sink.lines)
    influx = InfluxQLBackend(influxd.url, database=db)

    checked = 0
    for spec in QUERIES:
        q = TelemetryQuery(
            measurement="meter",
            field="value",
            start=base + timedelta(seconds=30),
            stop=base + timedelta(seconds=800),
            where={"measurand": "Power.Active.Import"} if not spec["group_by"] else {},
            **spec,  # type: ignore[arg-type]
        )
        expected = influx.query(q)
        got = embedded.query(q)
        assert [s.tags for s in got] == [s.tags for s in expected], spec
        for a, b in zip(got, expected, strict=True):
            assert [t for t, _ in a.points] == [t for t, _ in b.points], spec
            assert [v for _, v in a.points] == pytest.approx([v for _, v in b.points], rel=1e-12)
        assert expected, spec
        checked += 1
    assert checked == len(QUERIES) == 54

    # count() counts a string field's values as InfluxQL does (status reports, every 30 s)
    start_ms = int(base.timestamp() * 1000)
    status = [
        f"status,connector=1,evse=1,station=CP{s:04d} "
        f'status="{("Available", "Charging")[k % 2]}" {start_ms + 30_000 * k + s}'
        for k in range(20)
        for s in range(3)
    ]
    writer = InfluxV1Sink(influxd.url, database=db)
    writer.write(status)
    writer.close()
    embedded.write(status)
    for window in (None, 60):
        q = TelemetryQuery(
            measurement="status",
            field="status",
            start=base,
            stop=base + timedelta(minutes=10),
            aggregation=Aggregation.COUNT,
            window_s=window,
            group_by=("station",),
        )
        expected = influx.query(q)
        assert expected and embedded.query(q) == expected, window
    influx.close()
    embedded.close()


def test_plans_and_grid_constraints_are_accepted_and_queryable(
    influxd: ServerProcess, tmp_path: Path
) -> None:
    """The ``plan`` and ``grid_constraint`` lines as InfluxDB 1.x takes them, and the queries
    the schema page suggests: one plan by its ``plan_id``, a constraint while it is active."""
    from tests.unit.telemetry.test_plan_points import MS, _constraint, _plan_event

    db = unique_db()
    telemetry = open_telemetry(
        TelemetrySettings(
            url=influxd.url,
            database=db,
            outbox_path=tmp_path / "outbox.sqlite3",
            batch_interval_s=0.05,
        )
    )
    bus = EventBus()
    telemetry.recorder.attach(bus)
    telemetry.start()
    plan = _plan_event()
    bus.publish(plan)
    created = _constraint("created", plan.at)
    bus.publish(created)
    assert telemetry.pipeline.flush(timeout_s=10)
    telemetry.close()
    assert telemetry.stats.points_written == 6 + 4 + 4  # EVSEs, storage, nodes x 2 steps
    assert telemetry.stats.points_server_rejected == 0

    rows = influxql(
        influxd.url,
        db,
        "SELECT power_w, \"constraint\", limit_w FROM plan WHERE plan_id = 'depot@1' "
        "AND asset_kind = 'evse' GROUP BY asset",
    )
    got = {s["tags"]["asset"]: [r[1:] for r in s["values"]] for s in rows["results"][0]["series"]}
    assert got == {
        "CP1/1": [[11000, "panel:import", 11000], [4000, "grid:import", 20000]],
        "CP2/1": [[0, "none", None], [6000, "grid:import", 20000]],
    }
    site = influxql(
        influxd.url,
        db,
        "SELECT power_w, limit_w, import_price_per_kwh FROM plan WHERE asset_kind = 'site'",
    )
    assert [r[1:] for r in site["results"][0]["series"][0]["values"]] == [
        [9000, 20000, 0.3],
        [20000, 20000, 0.45],
    ]
    active = influxql(
        influxd.url,
        db,
        "SELECT value, active FROM grid_constraint WHERE kind = 'import_max' AND node = 'feeder-1'",
    )
    assert [r for r in active["results"][0]["series"][0]["values"]] == [
        [MS, 50000, True],
        [MS + 7_200_000, None, False],
    ]
