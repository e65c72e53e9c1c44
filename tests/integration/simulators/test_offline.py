"""A 10-minute simulated outage: transactions keep going and arrive complete and in order.

The clock is a manual one the test moves only while the station waits on it (its model's and
its own wait: nothing in flight), so the outage begins and ends exactly when the test says and
no scheduling delay of a loaded machine moves a sample, a reconnect or the outage's edges."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from chargegrid.clock import ManualClock
from simulators.runner import StationRunner
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import (
    ev_at,
    parse_time,
    run_to_next_wakeup,
    running,
    station_runner,
)
from tests.waiting import wait_until

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)
#: the station at rest: its model's wait and its connection's (pump or reconnect backoff)
IDLE = 2


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


async def _run_until(clock: ManualClock, at: datetime) -> None:
    """Move the clock from wakeup to wakeup, each once the station is idle, to ``at``."""
    while clock.now() < at:
        wakeups = await wait_until(
            lambda: (w := clock.sleepers()) and len(w) >= IDLE and w, 30, "the station idle"
        )
        due_s = (at - clock.now()).total_seconds()
        clock.advance(min(wakeups[0] - clock.monotonic(), due_s))


async def _outage(
    central: FakeCentral, clock: ManualClock, runner: StationRunner
) -> tuple[datetime, datetime]:
    """From 18:03:30, refuse and drop every connection for 10 simulated minutes (the EV
    leaves at 18:10, inside the outage); return the window."""
    await _run_until(clock, START + timedelta(minutes=3.5))
    central.refusing = True
    began = clock.now()
    await central.drop()
    # the clock stands still until the station knows it is offline
    await wait_until(lambda: not runner.online, 30, "the station offline")
    await _run_until(clock, began + timedelta(minutes=10))
    ended = clock.now()
    central.refusing = False
    return began, ended


async def _run_while(clock: ManualClock, waiting: Any, what: str) -> None:
    """Move the clock wakeup by wakeup while ``waiting()`` (at most a simulated hour)."""
    deadline = clock.now() + timedelta(hours=1)
    while waiting():
        assert clock.now() < deadline, f"no {what} within a simulated hour"
        await run_to_next_wakeup(clock, sleepers=IDLE, what="the station")


async def test_offline_queue_ocpp16_keeps_original_timestamps(central: FakeCentral) -> None:
    url = await central.start()
    clock = ManualClock(START)
    # Arrives 18:01, leaves 18:10 -- during the outage (18:03:30 to 18:13:30).
    runner = station_runner(url, clock, version="1.6", sessions=[(1, ev_at(START, 1, 10))])
    async with running(runner):
        down, up = await _outage(central, clock, runner)
        assert [parse_time(v["meterValue"][0]["timestamp"]) for v in central.of("MeterValues")][
            :2
        ] == [START + timedelta(minutes=2), START + timedelta(minutes=3)]
        await _run_while(clock, lambda: not central.of("StopTransaction"), "StopTransaction")
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
    clock = ManualClock(START)
    runner = station_runner(url, clock, version="2.0.1", sessions=[(1, ev_at(START, 1, 10))])
    async with running(runner):
        down, up = await _outage(central, clock, runner)
        await _run_while(
            clock,
            lambda: not any(e["eventType"] == "Ended" for e in central.of("TransactionEvent")),
            "Ended transaction event",
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
