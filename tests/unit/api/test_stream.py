from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from csms.api.stream import ApiEvent, EventFilter, EventHub, api_event, sse_frame
from csms.domain import (
    ChargingLimit,
    ChargingRateUnit,
    ConnectorStatus,
    StatusReport,
    Transaction,
)
from csms.events import (
    ChargingLimitSent,
    ConstraintsChanged,
    HeartbeatReceived,
    PlanUpdated,
    StationConnected,
    StatusChanged,
    TransactionEnded,
)

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
SITES = {"CP1": "a", "CP2": "b"}


def convert(event: object) -> ApiEvent | None:
    return api_event(event, event_id=1, now=T0, site_of=SITES.get)


def status(station: str) -> StatusChanged:
    return StatusChanged(StatusReport(station, 1, 1, ConnectorStatus.CHARGING, T0))


def test_event_types_and_sites() -> None:
    tx = Transaction(3, "CP2", "3", 1, 1, "TAG", T0, stopped_at=T0)
    limit = ChargingLimit("CP1", 1, ChargingRateUnit.WATT, ((0, 7000.0, None),))
    cases = [
        (StationConnected("CP1", "1.6", T0), "station.connected", "CP1", "a"),
        (status("CP2"), "station.status", "CP2", "b"),
        (TransactionEnded(tx), "transaction.ended", "CP2", "b"),
        (ChargingLimitSent(limit, True, T0), "limit.sent", "CP1", "a"),
        (ConstraintsChanged("a", "c1", "created", T0), "constraint.created", None, "a"),
        (ConstraintsChanged("a", "c1", "cancelled", T0), "constraint.cancelled", None, "a"),
        (PlanUpdated("b", T0, "optimal", ()), "plan.updated", None, "b"),
        (StationConnected("NEW", "2.0.1", T0), "station.connected", "NEW", None),
    ]
    for event, kind, station, site in cases:
        got = convert(event)
        assert got is not None
        assert (got.type, got.station_id, got.site_id, got.at) == (kind, station, site, T0)
    assert convert(HeartbeatReceived("CP1", T0)) is None
    ended = convert(TransactionEnded(tx))
    assert ended is not None and ended.data["id_token"] == "TAG"
    assert ended.data["stopped_at"] == "2026-03-02T06:00:00+00:00"


def test_filter() -> None:
    event = ApiEvent(1, "transaction.started", T0, "CP1", "a", {})
    assert EventFilter().matches(event)
    assert EventFilter(types=frozenset({"transaction.*"})).matches(event)
    assert not EventFilter(types=frozenset({"station.*"})).matches(event)
    assert not EventFilter(granted_sites=frozenset({"b"})).matches(event)
    assert EventFilter(granted_sites=frozenset({"a"}), site_ids=frozenset({"a"})).matches(event)
    assert not EventFilter(station_ids=frozenset({"CP2"})).matches(event)
    assert not EventFilter(hide_types=frozenset({"transaction.started"})).matches(event)
    nowhere = ApiEvent(2, "station.connected", T0, "NEW", None, {})
    assert not EventFilter(granted_sites=frozenset({"a"})).matches(nowhere)
    assert EventFilter().matches(nowhere)


async def test_hub_drops_a_full_subscription_and_keeps_the_others() -> None:
    hub = EventHub(now=lambda: T0, site_of=SITES.get)
    slow = hub.subscribe(EventFilter(), max_queue=2)
    fast = hub.subscribe(EventFilter(station_ids=frozenset({"CP1"})), max_queue=100)
    seen: list[str] = []
    hub.add_listener(lambda e: seen.append(e.type))
    for _ in range(3):
        hub.publish(status("CP1"))
    hub.publish(status("CP2"))
    assert slow.dropped and not fast.dropped
    assert hub.subscriptions == 1 and hub.dropped_total == 1
    assert [(await slow.next()).id for _ in range(2)] == [1, 2]  # type: ignore[union-attr]
    assert await slow.next() is None and slow.ended
    assert fast.pending() == 3
    assert seen == ["station.status"] * 4
    hub.unsubscribe(fast)
    assert fast.closed and hub.subscriptions == 0


async def test_next_times_out_and_wakes() -> None:
    hub = EventHub(now=lambda: T0, site_of=SITES.get)
    sub = hub.subscribe(EventFilter(), max_queue=10)
    assert await sub.next(timeout_s=0.01) is None and not sub.ended
    asyncio.get_running_loop().call_soon(hub.publish, status("CP1"))
    got = await sub.next(timeout_s=5)
    assert got is not None and got.type == "station.status"


def test_sse_frame() -> None:
    frame = sse_frame(ApiEvent(7, "plan.updated", T0, None, "a", {"x": 1}))
    assert frame == (
        b"id: 7\nevent: plan.updated\n"
        b'data: {"id":7,"type":"plan.updated","at":"2026-03-02T06:00:00+00:00",'
        b'"site_id":"a","station_id":null,"data":{"x":1}}\n\n'
    )


async def test_replay_after_last_event_id() -> None:
    hub = EventHub(now=lambda: T0, site_of=SITES.get, replay_events=3)
    for station in ("CP1", "CP2", "CP1", "CP2"):
        hub.publish(status(station), deliver=False)  # nobody listening: kept, not converted
    hub.publish(HeartbeatReceived("CP1", T0), deliver=False)  # never kept
    # ids 1..4 were given; the last 3 are kept
    sub = hub.subscribe(EventFilter(), max_queue=10, last_event_id=f"{hub.epoch}.2")
    assert [(e.id, e.station_id) for e in sub._items] == [(3, "CP1"), (4, "CP2")]
    only_cp2 = hub.subscribe(
        EventFilter(station_ids=frozenset({"CP2"})), max_queue=10, last_event_id="older.99"
    )
    # another process: a gap (whatever the filter), then everything kept
    assert [(e.type, e.id) for e in only_cp2._items] == [
        ("stream.gap", 1),
        ("station.status", 2),
        ("station.status", 4),
    ]
    assert only_cp2._items[0].data["missed"] is None
    garbage = hub.subscribe(EventFilter(), max_queue=10, last_event_id="nonsense")
    assert [e.id for e in garbage._items] == [1, 2, 3, 4] and garbage._items[0].type == "stream.gap"
    tiny = hub.subscribe(EventFilter(), max_queue=1, last_event_id="older.1")
    assert tiny.dropped and hub.subscriptions == 3
    none = EventHub(now=lambda: T0, site_of=SITES.get)
    none.publish(status("CP1"), deliver=False)
    (gap,) = none.subscribe(EventFilter(), max_queue=5, last_event_id="x.0")._items
    assert gap.type == "stream.gap"


async def test_a_last_event_id_older_than_the_replay_buffer_gets_a_gap_event_first() -> None:
    hub = EventHub(now=lambda: T0, site_of=SITES.get, replay_events=2)
    for station in ("CP1", "CP2", "CP1", "CP2", "CP1"):
        hub.publish(status(station), deliver=False)
    # ids 1..5 given, 4 and 5 kept: a client that saw 1 missed 2 and 3
    sub = hub.subscribe(EventFilter(), max_queue=10, last_event_id=f"{hub.epoch}.1")
    gap, *replayed = sub._items
    assert (gap.type, gap.id, gap.data["missed"]) == ("stream.gap", 3, 2)
    assert gap.data["last_event_id"] == f"{hub.epoch}.1"
    assert [e.id for e in replayed] == [4, 5]
    # a client that saw 3 missed nothing: no gap
    upto = hub.subscribe(EventFilter(), max_queue=10, last_event_id=f"{hub.epoch}.3")
    assert [e.id for e in upto._items] == [4, 5]
    # with nothing kept at all, a client behind the last id still hears of its gap
    bare = EventHub(now=lambda: T0, site_of=SITES.get)
    for station in ("CP1", "CP2"):
        bare.publish(status(station), deliver=False)
    (only,) = bare.subscribe(EventFilter(), max_queue=5, last_event_id=f"{bare.epoch}.1")._items
    assert (only.type, only.data["missed"]) == ("stream.gap", 1)
    assert (
        bare.subscribe(EventFilter(), max_queue=5, last_event_id=f"{bare.epoch}.2").pending() == 0
    )
