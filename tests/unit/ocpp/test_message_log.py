"""The per-station message log: bounded, and a command stays in view behind meter values."""

from __future__ import annotations

from datetime import UTC, datetime

from csms.ocpp.message_log import MessageLog

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _log(frames: int = 4) -> MessageLog:
    return MessageLog(now=lambda: T0, per_station=frames)


def _meter_values(log: MessageLog, count: int) -> None:
    for i in range(count):
        log.record("CP1", "in", f'[2,"m{i}","MeterValues",{{"connectorId":1}}]')
        log.record("CP1", "out", f'[3,"m{i}",{{}}]')


def test_a_command_stays_in_view_behind_meter_values() -> None:
    log = _log()
    log.record("CP1", "out", '[2,"r1","RemoteStartTransaction",{"idTag":"APP-1"}]')
    log.record("CP1", "in", '[3,"r1",{"status":"Accepted"}]')
    _meter_values(log, 10)
    kept = [(m.direction, m.kind, m.action, m.unique_id) for m in log.messages("CP1")]
    assert kept == [
        ("out", "CALLRESULT", "MeterValues", "m9"),
        ("in", "CALL", "MeterValues", "m9"),
        ("out", "CALLRESULT", "MeterValues", "m8"),
        ("in", "CALL", "MeterValues", "m8"),
        ("in", "CALLRESULT", "RemoteStartTransaction", "r1"),
        ("out", "CALL", "RemoteStartTransaction", "r1"),
    ]


def test_frames_keep_the_order_they_passed_at_one_time() -> None:
    log = _log(frames=10)
    log.record("CP1", "in", '[2,"h1","Heartbeat",{}]')
    log.record("CP1", "out", '[2,"c1","Reset",{"type":"Soft"}]')
    log.record("CP1", "out", '[3,"h1",{"currentTime":"2026-03-01T08:00:00Z"}]')
    log.record("CP1", "in", '[4,"c1","NotSupported","no",{}]')
    order = [(m.unique_id, m.kind) for m in reversed(log.messages("CP1"))]
    assert order == [("h1", "CALL"), ("c1", "CALL"), ("h1", "CALLRESULT"), ("c1", "CALLERROR")]


def test_each_ring_is_bounded_and_forget_drops_both() -> None:
    log = _log(frames=3)
    for i in range(5):
        log.record("CP1", "out", f'[2,"c{i}","Reset",{{"type":"Soft"}}]')
    _meter_values(log, 5)
    messages = log.messages("CP1")
    assert len(messages) == 6
    assert [m.unique_id for m in messages if m.action == "Reset"] == ["c4", "c3", "c2"]
    assert log.last_received("CP1") == T0
    log.forget("CP1")
    assert log.messages("CP1") == [] and log.last_received("CP1") is None


def test_nothing_is_kept_when_the_log_is_off() -> None:
    log = _log(frames=0)
    log.record("CP1", "out", '[2,"c1","Reset",{"type":"Soft"}]')
    assert log.messages("CP1") == []


def test_a_ring_keeps_the_newest_in_order_through_its_wraps() -> None:
    from csms.ocpp.message_log import LoggedFrame, _Ring

    ring = _Ring(5)
    frames = [LoggedFrame(datetime(2026, 1, 1, tzinfo=UTC), "in", str(i), i) for i in range(23)]
    for count, frame in enumerate(frames, 1):
        ring.append(frame)
        kept = frames[max(0, count - 5) : count]
        assert list(ring) == kept and list(reversed(ring)) == kept[::-1] and len(ring) == len(kept)
