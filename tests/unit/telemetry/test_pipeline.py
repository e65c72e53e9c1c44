from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from csms.backoff import Backoff
from csms.domain import MeterSample
from csms.events import EventBus, MeterValuesReceived
from csms.telemetry.exceptions import ServerUnavailable, WriteRejected
from csms.telemetry.outbox import Outbox
from csms.telemetry.pipeline import TelemetryPipeline, write_isolating
from csms.telemetry.points import PointEncoder
from csms.telemetry.recorder import TelemetryRecorder
from csms.telemetry.writers import MemorySink
from tests.waiting import wait_until_sync

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _event(i: int, measurand: str = "Power.Active.Import") -> MeterValuesReceived:
    return MeterValuesReceived(
        station_id="CP1",
        evse_id=1,
        connector_id=1,
        transaction_id=None,
        samples=(MeterSample(T0 + timedelta(seconds=i), measurand, float(i), "W"),),
    )


def _pipeline(sink: MemorySink, outbox: Outbox, **kw: object) -> TelemetryPipeline:
    return TelemetryPipeline(
        sink=sink,
        outbox=outbox,
        encoder=PointEncoder(now_s=lambda: T0.timestamp(), max_past_s=1e9, max_future_s=1e9),
        backoff=Backoff(initial_s=0.01, max_s=0.02),
        flush_interval_s=0.005,
        **kw,  # type: ignore[arg-type]
    )


def _values(lines: Sequence[str]) -> list[int]:
    return [int(line.split("value=")[1].split(" ")[0]) for line in lines]


def test_events_reach_the_sink_in_batches(tmp_path: Path) -> None:
    sink = MemorySink()
    pipe = _pipeline(sink, Outbox(tmp_path / "o"), batch_size_points=40, batch_interval_s=0.05)
    bus = EventBus()
    pipe.recorder.attach(bus)
    pipe.start()
    for i in range(100):
        bus.publish(_event(i))
    assert pipe.flush(timeout_s=5)
    pipe.close()
    assert _values(sink.lines) == list(range(100))
    assert max(sink.batches) <= 40
    assert pipe.stats.points_recorded == 100
    assert pipe.stats.points_written == 100
    assert pipe.stats.outbox_depth == 0


def test_an_outage_is_replayed_in_order_exactly_once(tmp_path: Path) -> None:
    down = threading.Event()
    down.set()

    def fail(lines: Sequence[str]) -> None:
        if down.is_set():
            raise ServerUnavailable("connection refused")

    sink = MemorySink(fail=fail)
    pipe = _pipeline(sink, Outbox(tmp_path / "o"), batch_size_points=25, batch_interval_s=0.01)
    pipe.start()
    for i in range(200):
        pipe.recorder.on_event(_event(i))
    assert not pipe.flush(timeout_s=0.3)
    wait_until_sync(lambda: pipe.stats.points_retried >= 25, 10.0, "25 points retried")
    assert sink.lines == []
    assert pipe.outbox.depth == 200
    down.clear()
    assert pipe.flush(timeout_s=5)
    pipe.close()
    assert _values(sink.lines) == list(range(200))
    assert pipe.stats.points_written == 200


def test_a_restart_replays_the_outbox_file(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"

    def down(lines: Sequence[str]) -> None:
        raise ServerUnavailable("down")

    first = _pipeline(MemorySink(fail=down), Outbox(path), batch_interval_s=0.01)
    first.start()
    for i in range(50):
        first.recorder.on_event(_event(i))
    first.close(timeout_s=0.2)  # the server never came back: the points stay in the file
    sink = MemorySink()
    second = _pipeline(sink, Outbox(path), batch_interval_s=0.01)
    assert second.stats.outbox_depth == 50
    second.start()
    for i in range(50, 60):
        second.recorder.on_event(_event(i))
    assert second.flush(timeout_s=5)
    second.close()
    assert _values(sink.lines) == list(range(60))


def test_close_without_start_keeps_recorded_points(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    pipe = _pipeline(MemorySink(), Outbox(path))
    pipe.recorder.on_event(_event(1))
    pipe.close(timeout_s=0)
    assert Outbox(path).depth == 1


def test_a_refused_point_is_isolated_and_the_rest_written(tmp_path: Path) -> None:
    def fail(lines: Sequence[str]) -> None:
        if any("value=13 " in line for line in lines):
            raise WriteRejected("field type conflict", status=400)

    sink = MemorySink(fail=fail)
    pipe = _pipeline(sink, Outbox(tmp_path / "o"), batch_size_points=32, batch_interval_s=0.01)
    pipe.start()
    for i in range(32):
        pipe.recorder.on_event(_event(i))
    assert pipe.flush(timeout_s=5)
    pipe.close()
    assert sorted(_values(sink.lines)) == [i for i in range(32) if i != 13]
    assert pipe.stats.points_server_rejected == 1
    assert pipe.stats.points_written == 31
    reopened = Outbox(tmp_path / "o")
    assert [reason for _, reason in reopened.rejected()] == ["field type conflict"]
    assert "value=13 " in reopened.rejected()[0][0]


def test_write_isolating_finds_every_bad_line() -> None:
    written: list[str] = []
    requests: list[int] = []

    def write(lines: Sequence[str]) -> None:
        requests.append(len(lines))
        if "x" in lines or "y" in lines:
            raise WriteRejected("bad", status=400)
        written.extend(lines)

    lines = ["a", "x", "b", "c", "d", "e", "y", "f"]
    refused = write_isolating(write, lines)
    assert [i for i, _ in refused] == [1, 6]
    assert written == ["a", "b", "c", "d", "e", "f"]
    assert requests[0] == 8


def test_write_isolating_lets_an_outage_through() -> None:
    def write(lines: Sequence[str]) -> None:
        raise ServerUnavailable("down")

    with pytest.raises(ServerUnavailable):
        write_isolating(write, ["a", "b"])


def test_bad_input_and_full_buffers_are_counted(tmp_path: Path) -> None:
    recorder = TelemetryRecorder(max_buffer_items=3)
    pipe = _pipeline(MemorySink(), Outbox(tmp_path / "o"), recorder=recorder)
    for i in range(5):
        recorder.on_event(_event(i, measurand="Nonsense" if i == 0 else "Power.Active.Import"))
    assert pipe.stats.dropped == {"buffer_full": 2}
    pipe.start()
    assert pipe.flush(timeout_s=5)
    pipe.close()
    assert pipe.stats.input_rejected == {"unknown_measurand": 1}
    assert pipe.stats.points_written == 2


def test_a_full_outbox_drops_oldest_and_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="csms.telemetry")
    line_bytes = len("meter,connector=1,evse=1,measurand=Power.Active.Import,station=CP1,unit=W")
    outbox = Outbox(tmp_path / "o", max_bytes=(line_bytes + 30) * 10)
    pipe = _pipeline(
        MemorySink(fail=lambda lines: (_ for _ in ()).throw(ServerUnavailable("x"))), outbox
    )
    for i in range(100):
        pipe.recorder.on_event(_event(i))
    pipe._ingest_once()
    assert 0 < outbox.depth <= 10
    assert pipe.stats.dropped["outbox_full"] == 100 - outbox.depth
    assert _values([line for _, line in outbox.peek(100)]) == list(range(100 - outbox.depth, 100))
    dropped = 100 - outbox.depth
    assert any(
        "telemetry outbox full" in r.getMessage()
        and f"({dropped} since last report)" in r.getMessage()
        for r in caplog.records
    ), caplog.text
    pipe.close(timeout_s=0)


def test_backoff_grows_to_the_cap_and_resets() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5
    jittered = Backoff(initial_s=1.0, jitter=0.1, rng=lambda: 1.0)
    assert jittered.next_delay() == pytest.approx(1.1)


def test_an_outbox_that_cannot_write_drops_with_a_count(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o")
    pipe = _pipeline(MemorySink(), outbox)
    outbox._db.close()  # simulate an unusable file (disk gone)
    pipe.recorder.on_event(_event(1))
    pipe.recorder.on_event(_event(2))
    assert pipe._ingest_once() == 2
    assert pipe.stats.dropped == {"outbox_error": 2}


def test_a_partial_batch_waits_for_the_interval(tmp_path: Path) -> None:
    sink = MemorySink()
    pipe = _pipeline(sink, Outbox(tmp_path / "o"), batch_size_points=1000, batch_interval_s=0.4)
    pipe.start()
    started = time.monotonic()
    for i in range(5):
        pipe.recorder.on_event(_event(i))
    wait_until_sync(lambda: sink.batches, 5.0, "the partial batch", every_s=0.01)
    waited = time.monotonic() - started
    pipe.close()
    assert sink.batches == [5]
    assert waited >= 0.35  # not before the interval: 5 points are far from a full batch
