"""Simulated stations (1.6 and 2.0.1) against chargegrid's own CSMS, in process on one virtual
clock: a full session, the offline queue across a 10-minute outage, profile compliance."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chargegrid.clock import Clock, VirtualClock
from csms.app import Csms
from csms.config import Settings
from csms.core.passwords import hash_password
from csms.domain import ChargingLimit, ChargingRateUnit, IdToken, Transaction, TransactionUpdate
from csms.events import (
    DomainEvent,
    EventBus,
    MeterValuesReceived,
    TransactionEnded,
    TransactionStarted,
)
from csms.exceptions import CommandRejected
from csms.store import MemoryStore
from csms.store.base import StationRecord, StoredSample
from simulators.runner import StationRunner
from tests.integration.simulators.helpers import ev_at, running, station_runner
from tests.waiting import wait_until

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)
STATION = "SIM-0001"
ENERGY = "Energy.Active.Import.Register"
VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])


def _settings(port: int = 0) -> Settings:
    return Settings(
        server={"host": "127.0.0.1", "port": port, "gc_freeze_interval_s": None},  # type: ignore[arg-type]
        ocpp={"call_timeout_s": 5.0},  # type: ignore[arg-type]
        database={"url": "memory://"},  # type: ignore[arg-type]
        telemetry={"enabled": False},  # type: ignore[arg-type]
    )


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    s = MemoryStore()
    await s.open()
    # A cheap hash: the check runs at every connection, and the default cost would make a
    # loaded machine's boots take simulated minutes.
    await s.put_station(StationRecord(STATION, password_hash=hash_password("secret", n=2**10)))
    await s.put_id_token(IdToken("TAG1"))
    yield s
    await s.close()


async def _finished(store: MemoryStore) -> Transaction:
    async def done() -> bool:
        return any(not tx.active for tx in await store.list_transactions())

    await wait_until(done, 60, "the transaction to stop")
    (tx,) = await store.list_transactions()
    return tx


async def _ev_once_online(
    runner: StationRunner, clock: Clock, *, arrive_min: float, stay_min: float | None
) -> datetime:
    """Once the station is online (however long a loaded machine takes to boot it), an EV
    arrives ``arrive_min`` later and stays ``stay_min`` (None: until stopped); its arrival."""
    await wait_until(lambda: runner.online, 30, "the station online")
    arrival = clock.now().replace(microsecond=0) + timedelta(minutes=arrive_min)
    runner.station.connector(1).planned.append(ev_at(arrival, 0, stay_min))
    runner.poke()
    return arrival


def _series(samples: list[StoredSample], measurand: str) -> list[tuple[datetime, float]]:
    return [
        (s.sample.timestamp, s.sample.value) for s in samples if s.sample.measurand == measurand
    ]


def _spy_transaction_events(csms: Csms, seen: list[TransactionUpdate]) -> None:
    """Record every version-neutral transaction message the CSMS core handles."""
    original = csms.central.transaction_event

    async def spy(update: TransactionUpdate) -> Any:
        seen.append(update)
        return await original(update)

    csms.central.transaction_event = spy  # type: ignore[method-assign]


@VERSIONS
async def test_a_full_session_is_recorded(store: MemoryStore, version: str) -> None:
    clock = VirtualClock(start=START, speed=300)
    async with Csms(_settings(), clock=clock, store=store) as csms:
        runner = station_runner(csms.url, clock, version=version)
        async with running(runner):
            arrival = await _ev_once_online(runner, clock, arrive_min=3, stay_min=9)
            tx = await _finished(store)
    station = await store.get_station(STATION)
    assert station is not None
    assert station.ocpp_version == version
    assert station.last_boot_at is not None and station.last_boot_at < tx.started_at
    assert (tx.station_id, tx.evse_id, tx.connector_id, tx.id_token) == (STATION, 1, 1, "TAG1")
    assert tx.started_at is not None and tx.stopped_at is not None
    assert timedelta(0) <= tx.started_at - arrival < timedelta(minutes=1)
    assert timedelta(0) <= tx.stopped_at - (arrival + timedelta(minutes=9)) < timedelta(seconds=30)
    assert tx.meter_start_wh == 0.0
    samples = await store.samples_for_transaction(tx.id)
    energy = _series(samples, ENERGY)
    stamps = [at for at, _ in energy]
    # Clock-aligned periodic samples, one per minute while charging (plus the begin/end ones).
    inner = [at for at in stamps if at.second == 0 and tx.started_at < at < tx.stopped_at]
    first_minute = tx.started_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    expected = [
        first_minute + timedelta(minutes=m)
        for m in range(20)
        if first_minute + timedelta(minutes=m) < tx.stopped_at
    ]
    assert inner == expected and len(expected) >= 8
    assert all((b - a) == timedelta(minutes=1) for a, b in itertools.pairwise(inner))
    values = [v for _, v in energy]
    assert tx.meter_stop_wh is not None
    # 1.6 meterStop is whole Wh; the last sample may carry the fraction.
    assert values == sorted(values) and values[-1] < tx.meter_stop_wh + 1
    # 11 kW for the session's length (the EV's limit; the 32 A connector allows 22 kW).
    hours = (tx.stopped_at - tx.started_at).total_seconds() / 3600
    assert tx.energy_wh == pytest.approx(11_000 * hours, abs=5)
    powers = [v for _, v in _series(samples, "Power.Active.Import")]
    assert powers and max(powers) == pytest.approx(11_000, abs=1)
    phases = {s.sample.phase for s in samples if s.sample.measurand == "Current.Import"}
    assert phases == {"L1", "L2", "L3"}


@VERSIONS
async def test_a_txprofile_sent_the_moment_a_start_is_heard_is_taken(
    store: MemoryStore, version: str
) -> None:
    """Decision 0014: whoever hears a start at once (a re-plan) may send its TxProfile, and
    the station takes it: a 1.6 station has been told the transaction's id first, and takes
    that answer in before the TxProfile behind it."""
    clock = VirtualClock(start=START, speed=300)
    answers: list[str] = []
    async with Csms(_settings(), clock=clock, store=store) as csms:

        async def send(tx: Transaction) -> None:
            limit = ChargingLimit(
                tx.station_id, tx.evse_id, ChargingRateUnit.WATT, ((0, 7400.0, None),),
                transaction_id=tx.id,
            )  # fmt: skip
            try:
                answers.append((await csms.commands.set_charging_profile(limit)).status)
            except CommandRejected as exc:
                answers.append(str(exc))

        def on_start(event: DomainEvent) -> None:
            if isinstance(event, TransactionStarted):
                sends.append(asyncio.ensure_future(send(event.transaction)))

        sends: list[asyncio.Future[None]] = []
        csms.bus.subscribe(on_start)
        runner = station_runner(csms.url, clock, version=version)
        async with running(runner):
            await _ev_once_online(runner, clock, arrive_min=1, stay_min=3)
            await wait_until(lambda: answers, 60, "the TxProfile answered")
    assert answers == ["Accepted"]
    assert not [e for e in runner.stats.errors if "profile rejected" in e]


@VERSIONS
async def test_offline_queue_arrives_complete_and_in_order(
    store: MemoryStore, version: str
) -> None:
    clock = VirtualClock(start=START, speed=600)
    seen: list[TransactionUpdate] = []
    events: list[DomainEvent] = []
    bus = EventBus()
    bus.subscribe(events.append)
    first = Csms(_settings(), clock=clock, store=store, bus=bus)
    _spy_transaction_events(first, seen)
    await first.start()
    second: Csms | None = None
    # The EV arrives once the station is online and stays; the driver ends the session during
    # the outage. Every step waits on what happened, not on the clock, so a loaded machine (on
    # which a simulated minute is a fraction of a real second) changes how long each step
    # takes, not the result.
    runner = station_runner(first.url, clock, version=version)
    try:
        async with running(runner):
            await _ev_once_online(runner, clock, arrive_min=0.5, stay_min=None)
            await wait_until(
                lambda: _aligned_samples(store, 2), 30, "meter values before the outage"
            )
            port = first.port
            down = clock.now()
            await first.stop()  # the CSMS's OCPP server goes away
            live = len(seen)  # what the first CSMS handled: sent while the station was online
            # Several periodic meter values pile up in the station's queue, then the driver
            # ends the session at the station (queued too).
            await wait_until(
                lambda: (
                    clock.now() > down + timedelta(minutes=6.5) and runner.stats.offline_queued >= 7
                ),
                60,
                "6.5 simulated minutes and a queue",
            )
            queued = runner.stats.offline_queued
            await runner.inject("local-stop")
            assert runner.stats.offline_queued > queued  # the stop is queued too
            second = Csms(_settings(port), clock=clock, store=store, bus=bus)
            _spy_transaction_events(second, seen)
            await second.start()
            await wait_until(lambda: runner.online, 30, "the station back online")
            up = clock.now()  # no later than the reconnection's end: an upper bound
            tx = await _finished(store)
    finally:
        if second is not None:
            await second.stop()
        await first.stop()
    assert runner.stats.disconnects >= 1
    assert runner.stats.offline_queued >= 6
    samples = await store.samples_for_transaction(tx.id)
    stamps = [at for at, _ in _series(samples, ENERGY)]
    # Complete and in order: the clock-aligned samples have no gap across the outage.
    aligned = [at for at in stamps if _on_the_minute(at) and at < tx.stopped_at]  # type: ignore[operator]
    assert aligned == sorted(aligned)
    assert all((b - a) == timedelta(minutes=1) for a, b in itertools.pairwise(aligned)), aligned
    during = [at for at in aligned if down < at < up]
    assert len(during) >= 5  # original timestamps: taken during the outage
    assert tx.stopped_at is not None and down < tx.stopped_at < up
    assert tx.stop_reason == "Local"
    values = [v for _, v in _series(samples, ENERGY)]
    assert values == sorted(values)
    # The transaction's messages reached the core in order, the end last.
    mine = [e for e in events if isinstance(e, MeterValuesReceived | TransactionEnded)]
    assert isinstance(mine[-1], TransactionEnded)
    arrived = [s.timestamp for e in mine if isinstance(e, MeterValuesReceived) for s in e.samples]
    assert arrived == sorted(arrived)
    if version == "2.0.1":
        assert tx.offline
        # At-least-once: a message in flight when the socket went comes again after the
        # reconnect (same seqNo, right behind itself); fold such a repeat.
        seq = [n for n, _ in itertools.groupby(u.seq_no for u in seen)]
        assert len(seen) - len(seq) <= 1
        assert seq == list(range(seq[0], seq[0] + len(seq))), seq  # increasing, no gap
        offline = [u for u in seen if u.offline]
        assert len(offline) >= 6
        # Marked offline: what the station queued while the CSMS was away (sent to the second
        # CSMS, stamped before the station was back). A lagging simulation may stamp a queued
        # sample a little before ``down``, so the split is by who received it.
        assert not any(u.offline for u in seen[:live])
        assert all(u.timestamp < up for u in offline)


def _on_the_minute(at: datetime) -> bool:
    """A clock-aligned sample's time (a session's begin and end fall anywhere)."""
    return at.second == 0 and at.microsecond == 0


async def _has_samples(store: MemoryStore) -> bool:
    for tx in await store.list_transactions():
        if await store.samples_for_transaction(tx.id):
            return True
    return False


async def _aligned_samples(store: MemoryStore, count: int) -> bool:
    """The transaction has ``count`` clock-aligned energy samples."""
    for tx in await store.list_transactions():
        stamps = [at for at, _ in _series(await store.samples_for_transaction(tx.id), ENERGY)]
        if sum(1 for at in stamps if _on_the_minute(at)) >= count:
            return True
    return False


def _limit_at(offset_s: float) -> tuple[float, float]:
    """The (A per phase, W) in force ``offset_s`` after the schedules begin, by hand: the
    TxDefaultProfile's 16 / 10 / 24 A, the station maximum of 9 kW, and from 900 s the
    transaction's own TxProfile of 5 kW (which replaces the default)."""
    if offset_s >= 900:
        return float("inf"), 5000.0
    amps = 16.0 if offset_s < 300 else 10.0 if offset_s < 600 else 24.0
    return amps, 9000.0


@VERSIONS
async def test_stored_meter_values_never_exceed_the_limit_in_force(
    store: MemoryStore, version: str
) -> None:
    clock = VirtualClock(start=START, speed=600)
    ev = ev_at(START, 1, 45, max_ac_power_w=22_000, capacity_wh=100_000)
    async with Csms(_settings(), clock=clock, store=store) as csms:
        runner = station_runner(csms.url, clock, version=version, sessions=[(1, ev)])
        async with running(runner):
            await wait_until(lambda: _has_samples(store), 30, "the first meter values")
            (tx,) = await store.list_transactions()
            begin = (clock.now() + timedelta(minutes=5)).replace(microsecond=0)
            limits = [
                ChargingLimit(
                    STATION,
                    1,
                    ChargingRateUnit.AMPERE,
                    ((0, 16.0, None), (300, 10.0, None), (600, 24.0, None)),
                    purpose="TxDefaultProfile",
                    profile_id=11,
                    start_at=begin,
                ),
                ChargingLimit(
                    STATION,
                    0,
                    ChargingRateUnit.WATT,
                    ((0, 9000.0, None),),
                    purpose="ChargingStationMaxProfile",
                    profile_id=12,
                    start_at=begin,
                ),
                ChargingLimit(
                    STATION,
                    1,
                    ChargingRateUnit.WATT,
                    ((0, 5000.0, None),),
                    purpose="TxProfile",
                    profile_id=13,
                    start_at=begin + timedelta(seconds=900),
                    transaction_id=tx.id,
                ),
            ]
            for limit in limits:
                result = await csms.commands.set_charging_profile(limit)
                assert result.status == "Accepted"
            # All in place (normally well before the first one applies; on a loaded machine
            # a simulated minute is a fraction of a second, so check from whichever is later).
            checked_from = max(begin, clock.now())
            tx = await _finished(store)
    samples = [
        s for s in await store.samples_for_transaction(tx.id) if s.sample.timestamp >= checked_from
    ]
    by_time: dict[datetime, dict[str, list[float]]] = {}
    for s in samples:
        by_time.setdefault(s.sample.timestamp, {}).setdefault(s.sample.measurand, []).append(
            s.sample.value
        )
    bound = {"A": 0, "W9000": 0, "W5000": 0}
    for at, values in sorted(by_time.items()):
        amps, watts = _limit_at((at - begin).total_seconds())
        currents, (power,) = values["Current.Import"], values["Power.Active.Import"]
        assert len(currents) == 3 and max(currents) <= amps + 1e-6, (at, currents, amps)
        assert power <= watts + 1e-6, (at, power, watts)
        if amps == 10.0 and max(currents) == pytest.approx(10.0, abs=0.05):
            bound["A"] += 1
        if power == pytest.approx(watts, abs=1):
            bound[f"W{watts:.0f}"] += 1
    # Every limit did bind at some point (22 kW asked for throughout).
    assert min(bound.values()) >= 2, bound
