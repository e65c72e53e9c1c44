"""The dashboard's live figures: read from the store once, then followed from the bus."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

from csms.api.costs import energy_cost
from csms.api.live import LiveView
from csms.domain import ConnectorStatus, MeterSample, StatusReport, Transaction
from csms.events import (
    ConstraintsChanged,
    MeterValuesReceived,
    StatusChanged,
    TransactionEnded,
)
from csms.sites import GridConstraint, Site, Tariff, TouPeriod, price_in_force
from csms.store import MemoryStore
from csms.store.base import NewTransaction, StoredSample

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
SITE = Site(
    id="depot",
    tariff=Tariff(
        periods=(
            TouPeriod(start=time(0), import_price_per_kwh=0.10),
            TouPeriod(start=time(7), import_price_per_kwh=0.30),
        )
    ),
)


def _meter(tx_id: int | None, at: datetime, measurand: str, value: float) -> MeterValuesReceived:
    unit = "W" if measurand.startswith("Power") else "Wh"
    return MeterValuesReceived("CP1", 1, 1, tx_id, (MeterSample(at, measurand, value, unit),))


async def test_statuses_and_power_are_read_once_then_followed() -> None:
    store = MemoryStore()
    await store.open()
    await store.record_status(StatusReport("CP1", 1, 1, ConnectorStatus.AVAILABLE, T0))
    await store.add_samples(
        [StoredSample("CP1", 1, 1, None, MeterSample(T0, "Power.Active.Import", 1_000.0, "W"))]
    )
    live = LiveView(store, site_of=lambda station_id: "depot")
    assert [s.status for s in await live.statuses("CP1")] == [ConnectorStatus.AVAILABLE]
    assert (await live.power("CP1"))[1] == (1_000.0, T0)
    later = T0 + timedelta(minutes=1)
    live.on_event(StatusChanged(StatusReport("CP1", 1, 1, ConnectorStatus.FAULTED, later)))
    live.on_event(StatusChanged(StatusReport("CP1", 1, 1, ConnectorStatus.CHARGING, T0)))  # old
    live.on_event(_meter(None, later, "Power.Active.Import", 7_000.0))
    assert [s.status for s in await live.statuses("CP1")] == [ConnectorStatus.FAULTED]
    assert (await live.power("CP1"))[1] == (7_000.0, later)


async def test_session_cost_followed_from_readings_equals_the_cost_rule() -> None:
    store = MemoryStore()
    await store.open()
    tx, _ = await store.open_transaction(
        NewTransaction("CP1", 1, 1, T0, id_token="A", meter_start_wh=1_000.0, start_key="k")
    )
    await store.add_samples(
        [
            StoredSample(
                "CP1",
                1,
                1,
                tx.id,
                MeterSample(
                    T0 + timedelta(minutes=30), "Energy.Active.Import.Register", 3_000.0, "Wh"
                ),
            )
        ]
    )
    constraints: list[GridConstraint] = []
    live = LiveView(store, site_of=lambda station_id: "depot")

    async def points(t: Transaction) -> list[tuple[datetime, float]]:
        return [(t.started_at, 1_000.0), (T0 + timedelta(minutes=30), 3_000.0)]

    async def no_constraints() -> list[GridConstraint]:
        return constraints

    first = (await live.sessions([tx], SITE, no_constraints, points))[tx.id]
    assert (first.energy_wh, round(first.cost, 6)) == (2_000.0, 0.2)
    # then the readings come by event: one at 07:30 (price 0.30 from 07:00), then the stop
    live.on_event(
        _meter(tx.id, T0 + timedelta(minutes=90), "Energy.Active.Import.Register", 5_000.0)
    )
    stopped = dataclasses.replace(tx, stopped_at=T0 + timedelta(minutes=120), meter_stop_wh=6_000.0)
    live.on_event(TransactionEnded(stopped))
    live.on_event(_meter(tx.id, T0 + timedelta(minutes=150), "Energy.Active.Import.Register", 9e9))
    figures = (await live.sessions([tx], SITE, no_constraints, points))[tx.id]
    expected = energy_cost(
        [
            (T0, 1_000.0),
            (T0 + timedelta(minutes=30), 3_000.0),
            (T0 + timedelta(minutes=90), 5_000.0),
            (T0 + timedelta(minutes=120), 6_000.0),
        ],
        lambda at: price_in_force(SITE, [], at),
    )
    assert figures.ended and figures.energy_wh == 5_000.0
    assert round(figures.cost, 6) == round(expected, 6)
    # a constraint change (prices) forgets the site's sessions: read again on the next ask
    live.on_event(ConstraintsChanged("depot", "c1", "created", T0))
    again = (await live.sessions([stopped], SITE, no_constraints, points))[tx.id]
    assert again.energy_wh == 2_000.0  # what `points` says now


async def test_a_session_started_while_followed_needs_no_store_read() -> None:
    store = MemoryStore()
    await store.open()
    live = LiveView(store, site_of=lambda station_id: "depot")

    async def no_constraints() -> list[GridConstraint]:
        return []

    async def points(t: Transaction) -> list[tuple[datetime, float]]:
        return [(t.started_at, t.meter_start_wh or 0.0)]

    await live.sessions([], SITE, no_constraints, points)  # nothing yet: the prices are read
    first = Transaction(1, "CP1", "1", 1, 1, "A", T0, meter_start_wh=0.0)
    await live.sessions([first], SITE, no_constraints, points)
    from csms.events import TransactionStarted

    tx = Transaction(2, "CP1", "2", 1, 1, "B", T0, meter_start_wh=10_000.0)
    live.on_event(TransactionStarted(tx))
    live.on_event(_meter(2, T0 + timedelta(hours=2), "Energy.Active.Import.Register", 14_000.0))

    async def never(t: Transaction) -> list[tuple[datetime, float]]:
        raise AssertionError("read from the store")

    figures = (await live.sessions([tx], SITE, no_constraints, never))[2]
    # 4 kWh over 06:00-08:00, priced at the midpoint 07:00 (0.30)
    assert (figures.energy_wh, round(figures.cost, 6)) == (4_000.0, 1.2)
