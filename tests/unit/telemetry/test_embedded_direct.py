"""The embedded store fed directly by the ingest thread (no outbox round trip, no line
parsing): the same rows as the line path, and nothing lost when the store cannot write."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from influxdb_client import Point, WritePrecision

from csms.backoff import Backoff
from csms.domain import BootInfo, ConnectorStatus, MeterSample, RegistrationStatus, StatusReport
from csms.events import (
    EventBus,
    HeartbeatReceived,
    MeterValuesReceived,
    StationBooted,
    StationConnected,
    StationDisconnected,
    StatusChanged,
)
from csms.telemetry.embedded import EmbeddedStore
from csms.telemetry.lineprotocol import (
    Encoded,
    FieldPoint,
    MeterPoint,
    field_point_line,
    meter_point_line,
)
from csms.telemetry.outbox import Outbox
from csms.telemetry.pipeline import TelemetryPipeline
from csms.telemetry.points import PointEncoder
from csms.telemetry.query import Aggregation, TelemetryQuery
from csms.telemetry.writers import MemorySink, TelemetrySink

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _encoder() -> PointEncoder:
    return PointEncoder(now_s=lambda: T0.timestamp(), max_past_s=1e9, max_future_s=1e9)


def _events() -> list[MeterValuesReceived | StatusChanged | HeartbeatReceived]:
    return [
        MeterValuesReceived(
            "CP 1,=x",  # a station id that needs escaping in a tag
            1,
            2,
            None if i % 2 else 40 + i,
            (
                MeterSample(
                    T0 + timedelta(seconds=i), "Energy.Active.Import.Register", 1.5 * i, "kWh"
                ),
                MeterSample(T0 + timedelta(seconds=i), "Power.Active.Import", 7.4, "kW"),
                MeterSample(
                    T0 + timedelta(seconds=i),
                    "Voltage",
                    230.0 + i,
                    "V",
                    phase="L1-N",
                    context='Sample "Periodic"\\',
                ),
                MeterSample(T0 + timedelta(seconds=i), "SoC", 1e20, "Percent", location="EV"),
            ),
        )
        for i in range(5)
    ] + [
        StatusChanged(
            StatusReport(
                "CP 2", 1, 1, ConnectorStatus.CHARGING, T0, error_code="NoError", info='a "b"'
            )
        ),
        HeartbeatReceived("CP=3", T0),
    ]


def _rows(store: EmbeddedStore) -> list[tuple[object, ...]]:
    return store._db.execute("SELECT * FROM points ORDER BY 1, 2, 3, 4").fetchall()


def test_structured_points_store_the_same_rows_as_their_lines() -> None:
    lines: list[str] = []
    _encoder().encode_many(_events(), lines)
    meter: list[MeterPoint] = []
    fields: list[FieldPoint] = []
    other: list[str] = []
    _encoder().encode_many(_events(), other, meter, fields)
    assert len(meter) == 20 and len(fields) == 2 and other == []
    # the tuples are exactly the lines the encoder writes otherwise
    assert [meter_point_line(p) for p in meter] + [field_point_line(p) for p in fields] == lines
    by_lines, direct = EmbeddedStore(":memory:"), EmbeddedStore(":memory:")
    by_lines.write(lines)
    direct.write_encoded(Encoded(other, meter, fields))
    assert _rows(direct) == _rows(by_lines)
    assert len(_rows(direct)) > 22


def _pipeline(tmp_path: Path, store: TelemetrySink) -> TelemetryPipeline:
    return TelemetryPipeline(
        sink=store,
        outbox=Outbox(tmp_path / "outbox.sqlite3"),
        encoder=_encoder(),
        backoff=Backoff(initial_s=0.01, max_s=0.02),
        flush_interval_s=0.005,
        batch_interval_s=0.01,
    )


def test_direct_ingest_stores_without_the_outbox(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "t.sqlite3")
    pipe = _pipeline(tmp_path, store)
    assert pipe.direct
    bus = EventBus()
    pipe.recorder.attach(bus)
    pipe.start()
    for event in _events():
        bus.publish(event)
    assert pipe.flush(timeout_s=5)
    assert pipe.stats.points_recorded == pipe.stats.points_written == 22
    assert pipe.outbox.depth == 0
    pipe.close()
    reference = EmbeddedStore(":memory:")
    lines: list[str] = []
    _encoder().encode_many(_events(), lines)
    reference.write(lines)
    again = EmbeddedStore(tmp_path / "t.sqlite3")
    assert _rows(again) == _rows(reference)


def test_a_store_that_cannot_write_keeps_the_points_in_the_outbox(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "t.sqlite3")
    pipe = _pipeline(tmp_path, store)
    store._db.execute("PRAGMA query_only=ON")  # every write now fails in SQLite
    bus = EventBus()
    pipe.recorder.attach(bus)
    pipe.start()
    for event in _events():
        bus.publish(event)
    assert not pipe.flush(timeout_s=0.3)  # the sender keeps retrying from the outbox
    assert pipe.outbox.depth == 22
    assert pipe.stats.write_failures >= 2
    store._db.execute("PRAGMA query_only=OFF")
    assert pipe.flush(timeout_s=5)
    pipe.close()
    reference = EmbeddedStore(":memory:")
    lines: list[str] = []
    _encoder().encode_many(_events(), lines)
    reference.write(lines)
    assert _rows(EmbeddedStore(tmp_path / "t.sqlite3")) == _rows(reference)


def test_points_an_older_process_left_in_the_outbox_are_stored(tmp_path: Path) -> None:
    lines: list[str] = []
    _encoder().encode_many(_events(), lines)
    left = Outbox(tmp_path / "outbox.sqlite3")
    left.append(lines)
    left.close()
    store = EmbeddedStore(tmp_path / "t.sqlite3")
    pipe = _pipeline(tmp_path, store)
    pipe.start()
    assert pipe.flush(timeout_s=5)
    pipe.close()
    assert len(_rows(EmbeddedStore(tmp_path / "t.sqlite3"))) == len(_rows(_written(lines)))
    assert sqlite3.connect(tmp_path / "outbox.sqlite3").execute(
        "SELECT count(*) FROM outbox"
    ).fetchone() == (0,)


def _written(lines: list[str]) -> EmbeddedStore:
    store = EmbeddedStore(":memory:")
    store.write(lines)
    return store


def test_one_statement_batches_keep_text_numbers_and_the_last_duplicate() -> None:
    store = EmbeddedStore(":memory:", precision="ns")
    store.write(
        [
            'm,t=b text="x\\"y\x1f\U0001f600" 3',
            "m,t=c value=5i 1700000000123456789",
            r"m,t=é\ x value=1e300 2",
            "m,t=c value=6i 1700000000123456789",  # same point again: the later one wins
        ]
    )
    assert _rows(store) == [
        ("m", "t=b", "text", 3, '{"t":"b"}', None, 'x"y\x1f\U0001f600'),
        ("m", "t=c", "value", 1700000000123456789, '{"t":"c"}', 6.0, None),
        ("m", "t=é x", "value", 2, '{"t":"\\u00e9 x"}', 1e300, None),
    ]
    store.write(["m,t=n value=inf 4", "m,t=n value=1 5"])  # an infinity is kept as it is
    assert [r[5] for r in _rows(store) if r[1] == "t=n"] == [float("inf"), 1.0]


def test_a_batch_of_many_statements_stores_every_row_and_the_later_of_two_wins() -> None:
    """A batch goes in statements of many rows and one for the rest: nothing is lost at
    their edges, and a point written twice in one batch keeps its later value."""
    store = EmbeddedStore(":memory:")
    lines = [f"m,t=s{i % 97} value={i} {i // 97}" for i in range(1000)]
    lines.append("m,t=s0 value=-1 0")  # again, 1000 rows later, in the last statement
    store.write(lines)
    rows = {(r[1], r[3] // 1_000_000): r[5] for r in _rows(store)}  # ms precision
    assert len(rows) == 1000
    assert rows[("t=s0", 0)] == -1.0
    assert rows[("t=s5", 3)] == 3 * 97 + 5
    assert rows[("t=s29", 10)] == 999.0


def test_a_file_with_the_older_series_first_layout_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE points (
            measurement TEXT NOT NULL, series TEXT NOT NULL, field TEXT NOT NULL,
            time INTEGER NOT NULL, tags TEXT NOT NULL, num REAL, text TEXT,
            PRIMARY KEY (measurement, field, series, time)
        ) WITHOUT ROWID;
        CREATE INDEX points_by_time ON points (measurement, field, time);
        CREATE INDEX points_time ON points (time);
        """
    )
    old.close()
    lines: list[str] = []
    _encoder().encode_many(_events(), lines)
    store = EmbeddedStore(path)
    store.write(lines)
    store.write(lines)  # the same points again overwrite, as before
    assert _rows(store) == _rows(_written(lines))
    q = TelemetryQuery(
        measurement="meter",
        field="value",
        start=T0,
        stop=T0 + timedelta(minutes=1),
        aggregation=Aggregation.COUNT,
        group_by=("measurand",),
    )
    assert store.query(q) == _written(lines).query(q)
    assert [len(s.points) for s in store.query(q)] == [1, 1, 1, 1]


class _DurableMemory(MemorySink):
    """Any sink that says it is durable is fed straight from the ingest thread."""

    durable = True

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[Encoded] = []

    def write_encoded(self, encoded: Encoded) -> None:
        self.encoded.append(encoded)
        super().write_encoded(encoded)


def test_the_direct_path_is_chosen_by_the_sink_protocol_not_the_class(tmp_path: Path) -> None:
    sink = _DurableMemory()
    pipe = TelemetryPipeline(
        sink=sink,
        outbox=Outbox(tmp_path / "outbox.sqlite3"),
        encoder=_encoder(),
        flush_interval_s=0.005,
    )
    (tmp_path / "b").mkdir()
    line_pipe = _pipeline(tmp_path / "b", MemorySink())
    assert pipe.direct and not line_pipe.direct
    line_pipe.close()
    for event in _events():
        pipe.recorder.on_event(event)
    pipe.close()
    assert [len(e.meter or ()) + len(e.fields or ()) for e in sink.encoded] == [22]
    lines: list[str] = []
    _encoder().encode_many(_events(), lines)
    assert sink.lines == lines  # a line sink writes an encoded batch as its lines, in order
    assert pipe.stats.points_written == 22 and pipe.outbox.depth == 0


def _connection_events() -> list[StationConnected | StationDisconnected | StationBooted]:
    return [
        StationConnected("CP 1,=x", "2.0.1", T0),
        StationDisconnected("CP 1,=x", T0 + timedelta(seconds=1), '1006 gone "away"\\'),
        StationDisconnected("CP2", T0 + timedelta(seconds=2)),
        StationBooted(
            "CP2",
            BootInfo('Vendor "V"', "Model, 1", firmware_version="1.2=3"),
            RegistrationStatus.ACCEPTED,
            T0 + timedelta(seconds=3),
        ),
        StationBooted("CP3", BootInfo("", "M", ocpp_version="2.1"), RegistrationStatus.PENDING, T0),
    ]


def _point_line(station: str, event: str, at: datetime, **fields: object) -> str:
    """The line influxdb-client's ``Point`` writes (what these points were built with)."""
    p = Point("connection").time(int(at.timestamp() * 1000), WritePrecision.MS)
    p.tag("station", station).tag("event", event)
    for key, value in fields.items():
        p.field(key, value)
    return str(p.to_line_protocol())


def test_connection_points_are_the_lines_point_wrote_and_store_the_same_rows() -> None:
    fields: list[FieldPoint] = []
    other: list[str] = []
    _encoder().encode_many(_connection_events(), other, [], fields)
    assert other == [] and len(fields) == 5
    t1, t2, t3 = (T0 + timedelta(seconds=s) for s in (1, 2, 3))
    expected = [
        _point_line("CP 1,=x", "connected", T0, value=1, ocpp_version="2.0.1"),
        _point_line("CP 1,=x", "disconnected", t1, value=1, reason='1006 gone "away"\\'),
        _point_line("CP2", "disconnected", t2, value=1, reason=None),
        _point_line(
            "CP2",
            "booted",
            t3,
            value=1,
            registration="Accepted",
            vendor='Vendor "V"',
            model="Model, 1",
            firmware="1.2=3",
            ocpp_version="1.6",
        ),
        _point_line(
            "CP3",
            "booted",
            T0,
            value=1,
            registration="Pending",
            vendor="",
            model="M",
            firmware=None,
            ocpp_version="2.1",
        ),
    ]
    assert [field_point_line(p) for p in fields] == expected
    lines: list[str] = []
    _encoder().encode_many(_connection_events(), lines)
    assert lines == expected
    by_lines, direct = EmbeddedStore(":memory:"), EmbeddedStore(":memory:")
    by_lines.write(expected)
    direct.write_encoded(Encoded([], [], fields))
    assert _rows(direct) == _rows(by_lines)
    assert len(_rows(direct)) == 2 + 2 + 1 + 6 + 5
