"""A 10-minute simulated outage: transactions keep going and arrive complete and in order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from chargegrid.clock import VirtualClock
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import ev_at, parse_time, running, station_runner

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)
SPEED = 600.0


def _once(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Delivery is at-least-once: a message in flight when the socket dropped comes again
    (identical) after the reconnect. Fold such an immediate repeat."""
    out: list[dict[str, Any]] = []
    for p in payloads:
        if out and out[-1] == p:
            continue
        out.append(p)
    assert len(payloads) - len(out) <= 1
    return out


async def _outage(central: FakeCentral, clock: VirtualClock) -> tuple[datetime, datetime]:
    """From 18:03:30, refuse and drop every connection for 10 simulated minutes (the EV
    leaves at 18:10, inside the outage); return the window."""
    await clock.sleep((START + timedelta(minutes=3.5) - clock.now()).total_seconds())
    central.refusing = True
    began = clock.now()
    await central.drop()
    await clock.sleep(600)
    ended = clock.now()
    central.refusing = False
    return began, ended


async def test_offline_queue_ocpp16_keeps_original_timestamps(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=SPEED)
    # Arrives 18:01, leaves 18:10 -- during the outage (18:03:30 to 18:13:30).
    runner = station_runner(url, clock, version="1.6", sessions=[(1, ev_at(START, 1, 10))])
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("MeterValues")), 10)
        down, up = await _outage(central, clock)
        await central.wait_for(lambda: bool(central.of("StopTransaction")), 15)
    assert central.rejected_handshakes >= 1
    assert runner.stats.disconnects >= 1
    boots = central.of("BootNotification")
    assert len(boots) == 2
    values = _once(central.of("MeterValues"))
    stamps = [parse_time(v["meterValue"][0]["timestamp"]) for v in values]
    # Complete: one per minute, clock-aligned, with no gap, and in order.
    assert stamps == sorted(stamps)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert gaps and all(g == 60.0 for g in gaps), gaps
    # Original timestamps: samples taken during the outage carry outage times.
    during = [t for t in stamps if down < t < up]
    assert len(during) >= 5
    assert all(v["transactionId"] == 1 for v in values)
    (stop,) = central.of("StopTransaction")
    stop_at = parse_time(stop["timestamp"])
    assert down < stop_at < up
    assert stop_at - START - timedelta(minutes=10) < timedelta(seconds=30)
    # Order of arrival: all meter values of the transaction before its stop.
    actions = [r.action for r in central.received if r.action in ("MeterValues", "StopTransaction")]
    assert actions[-1] == "StopTransaction"
    assert runner.stats.offline_queued >= 6


async def test_offline_queue_ocpp201_marks_offline_with_increasing_seq_no(
    central: FakeCentral,
) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=SPEED)
    runner = station_runner(url, clock, version="2.0.1", sessions=[(1, ev_at(START, 1, 10))])
    async with running(runner):
        await central.wait_for(lambda: len(central.of("TransactionEvent")) >= 3, 10)
        down, up = await _outage(central, clock)
        await central.wait_for(
            lambda: any(e["eventType"] == "Ended" for e in central.of("TransactionEvent")), 15
        )
    events = _once(central.of("TransactionEvent"))
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert events[0]["eventType"] == "Started" and events[-1]["eventType"] == "Ended"
    stamps = [parse_time(e["timestamp"]) for e in events]
    assert stamps == sorted(stamps)
    offline = [e for e in events if e.get("offline")]
    online = [e for e in events if not e.get("offline")]
    assert len(offline) >= 5
    assert all(down <= parse_time(e["timestamp"]) <= up for e in offline)
    assert all(not (down < parse_time(e["timestamp"]) < up) for e in online)
    assert events[-1].get("offline") is True
    updates = [
        parse_time(e["timestamp"])
        for e in events
        if e["eventType"] == "Updated" and e["triggerReason"] == "MeterValuePeriodic"
    ]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(updates)]
    assert gaps and all(g == 60.0 for g in gaps), gaps
