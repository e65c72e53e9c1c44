"""Boots beyond ``ocpp.boots_per_s`` are stored and answered Pending, each with its own slot
as the interval, so a reconnect storm comes back spread at the rate the node serves
(decision 0229)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime

import pytest

from chargegrid.clock import ManualClock
from csms.core.registration import BootPacer
from csms.core.service import CentralSystem
from csms.domain import BootInfo, RegistrationStatus
from csms.events import EventBus
from csms.store import MemoryStore
from csms.store.base import StationRecord

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_boots_beyond_the_rate_get_spread_intervals() -> None:
    pacer = BootPacer(10.0)
    answers = [pacer.take(100.0) for _ in range(45)]
    assert answers[:10] == [0] * 10  # one second's worth at once
    waits = answers[10:]
    assert all(w >= 1 for w in waits) and waits == sorted(waits)
    # spread: no second is given to more stations than the rate
    assert max(Counter(waits).values()) <= 10
    assert max(waits) == math.ceil(35 / 10) + 1


def test_stations_back_at_their_interval_are_accepted() -> None:
    pacer = BootPacer(10.0)
    waits = [pacer.take(0.0) for _ in range(30)]
    back: Counter[int] = Counter(w for w in waits if w)
    for second in sorted(back):  # each returns at its slot: all accepted
        assert [pacer.take(float(second)) for _ in range(back[second])] == [0] * back[second]


@pytest.mark.parametrize("rate", [0.0, -1.0, math.nan, math.inf])
def test_a_rate_must_be_a_positive_number(rate: float) -> None:
    with pytest.raises(ValueError):
        BootPacer(rate)


async def test_a_paced_boot_is_stored_and_answered_pending_keeping_the_registration() -> None:
    store = MemoryStore()
    await store.open()
    for i in range(4):
        await store.put_station(StationRecord(f"CP{i}"))
    clock = ManualClock(T0)
    central = CentralSystem(store, EventBus(), clock, boots_per_s=2.0)
    start = clock.monotonic()
    info = BootInfo("Acme", "AC22", ocpp_version="2.0.1")
    decisions = [await central.boot(f"CP{i}", info) for i in range(4)]
    assert [d.status for d in decisions] == [RegistrationStatus.ACCEPTED] * 2 + [
        RegistrationStatus.PENDING
    ] * 2
    assert [d.interval_s for d in decisions[2:]] == [1, 2]  # the next free slots
    for i in range(4):  # every boot stored before it was answered
        record = await store.get_station(f"CP{i}")
        assert record is not None and record.vendor == "Acme"
        assert record.registration is RegistrationStatus.ACCEPTED
    for i, decision in ((2, decisions[2]), (3, decisions[3])):  # back at their intervals
        clock.advance(decision.interval_s - (clock.monotonic() - start))
        assert (await central.boot(f"CP{i}", info)).status is RegistrationStatus.ACCEPTED
