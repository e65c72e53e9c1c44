"""The Store contract, run against every implementation (see ``conftest.store``):
transactions, meter values, concurrent redelivery."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from csms.domain import ConnectorStatus, EVChargingNeeds, StatusReport, V2XParameters
from csms.exceptions import NotFound, StoreError
from csms.store import Store
from tests.integration.store.helpers import CET, assert_utc, at, new_tx, sample

# -- transactions -------------------------------------------------------------------------


async def test_open_transaction_is_idempotent_by_start_key(store: Store) -> None:
    tx, created = await store.open_transaction(new_tx(start_key="1|TAG1|1000|t0"))
    assert created is True
    assert tx.id == 1
    assert tx.station_tx_id == "1"
    again, created_again = await store.open_transaction(new_tx(start_key="1|TAG1|1000|t0"))
    assert created_again is False
    assert again == tx
    assert len(await store.list_transactions()) == 1

    other, created_other = await store.open_transaction(
        new_tx(start_key="2|TAG1|5|t1", evse_id=2, started_at=at(60))
    )
    assert created_other is True
    assert other.id > tx.id
    assert other.station_tx_id == str(other.id)
    assert await store.find_transaction("CP1", str(other.id)) == other
    assert await store.find_transaction("CP2", str(other.id)) is None
    for odd in (f"0{other.id}", f"+{other.id}", "²", "99999999999999999999"):
        assert await store.find_transaction("CP1", odd) is None


async def test_open_transaction_201_identity(store: Store) -> None:
    tx, created = await store.open_transaction(
        new_tx(station_tx_id="a1b2-c3", remote_start_id=77, offline=True, meter_start_wh=None)
    )
    assert created
    assert (tx.station_tx_id, tx.remote_start_id, tx.offline, tx.meter_start_wh) == (
        "a1b2-c3",
        77,
        True,
        None,
    )
    again, created = await store.open_transaction(new_tx(station_tx_id="a1b2-c3", evse_id=5))
    assert not created
    assert again == tx
    # The same station transaction id at another station is another transaction.
    elsewhere, created = await store.open_transaction(
        new_tx(station_id="CP2", station_tx_id="a1b2-c3")
    )
    assert created
    assert elsewhere.id != tx.id
    assert await store.find_transaction("CP1", "a1b2-c3") == tx
    assert await store.find_transaction("CP2", "a1b2-c3") == elsewhere
    assert await store.find_transaction("CP1", "nope") is None
    assert await store.get_transaction(tx.id) == tx
    assert await store.get_transaction(9999) is None


async def test_save_transaction_round_trip(store: Store) -> None:
    tx, _ = await store.open_transaction(new_tx(start_key="k", started_at=at(0).astimezone(CET)))
    assert tx.started_at == at(0)
    assert_utc(tx.started_at)
    assert tx.active
    needs = EVChargingNeeds(20000.0, at(7200), 32.0, 6.0, 11000.0, "AC_three_phase")
    tx.stopped_at = at(3600).astimezone(CET)
    tx.meter_stop_wh = 12345.5
    tx.stop_reason = "EVDisconnected"
    tx.charging_state = "Idle"
    tx.last_seq_no = 7
    tx.offline = True
    tx.needs = needs
    tx.id_token = "TAG2"
    await store.save_transaction(tx)
    got = await store.get_transaction(tx.id)
    assert got is not None
    assert got.stopped_at == at(3600)
    assert_utc(got.stopped_at)
    assert (
        got.meter_stop_wh,
        got.stop_reason,
        got.charging_state,
        got.last_seq_no,
        got.offline,
        got.needs,
        got.id_token,
        got.energy_wh,
    ) == (12345.5, "EVDisconnected", "Idle", 7, True, needs, "TAG2", 11345.5)
    assert got.needs is not None
    assert_utc(got.needs.departure_at)
    assert not got.active

    tx.id = 4242
    with pytest.raises(NotFound):
        await store.save_transaction(tx)


async def test_active_and_list_transactions(store: Store) -> None:
    a, _ = await store.open_transaction(new_tx(start_key="a", started_at=at(0)))
    b, _ = await store.open_transaction(
        new_tx(start_key="b", evse_id=2, connector_id=2, started_at=at(10))
    )
    c, _ = await store.open_transaction(new_tx(start_key="c", station_id="CP2", started_at=at(20)))
    a.stopped_at = at(30)
    await store.save_transaction(a)
    d, _ = await store.open_transaction(new_tx(start_key="d", started_at=at(40)))

    assert await store.active_transaction("CP1", 1) == d
    assert await store.active_transaction("CP1", 1, 1) == d
    assert await store.active_transaction("CP1", 1, 2) is None
    assert await store.active_transaction("CP1", 2) == b
    assert await store.active_transaction("CP1", 3) is None
    assert await store.active_transaction("CP2", 1) == c

    ids = [t.id for t in await store.list_transactions()]
    assert ids == [a.id, b.id, c.id, d.id]
    assert [t.id for t in await store.list_transactions(station_id="CP1")] == [a.id, b.id, d.id]
    assert [t.id for t in await store.list_transactions(active=True)] == [b.id, c.id, d.id]
    assert [t.id for t in await store.list_transactions(active=False)] == [a.id]
    assert [t.id for t in await store.list_transactions(since=at(10), until=at(40))] == [
        b.id,
        c.id,
    ]
    assert [t.id for t in await store.list_transactions(since=at(10).astimezone(CET))] == [
        b.id,
        c.id,
        d.id,
    ]
    assert [t.id for t in await store.list_transactions(limit=2)] == [a.id, b.id]
    assert [
        t.id for t in await store.list_transactions(station_id="CP1", active=True, since=at(5))
    ] == [b.id, d.id]


async def test_transaction_event_seq_no_dedup(store: Store) -> None:
    tx, _ = await store.open_transaction(new_tx(station_tx_id="T-1"))
    other, _ = await store.open_transaction(new_tx(station_tx_id="T-2"))
    assert await store.record_transaction_event(tx.id, 0, "Started", at(0)) is True
    assert await store.record_transaction_event(tx.id, 1, "Updated", at(1)) is True
    assert await store.record_transaction_event(tx.id, 0, "Started", at(0)) is False
    assert await store.record_transaction_event(tx.id, 1, "Updated", at(5)) is False
    assert await store.record_transaction_event(other.id, 0, "Started", at(0)) is True
    with pytest.raises(NotFound):
        await store.record_transaction_event(999, 0, "Started", at(0))


async def test_transaction_event_is_one_idempotent_write(store: Store) -> None:
    tx, _ = await store.open_transaction(new_tx(station_tx_id="T-1"))
    charging = dataclasses.replace(tx, charging_state="Charging", last_seq_no=1)
    samples = [sample(at(1), tx=tx.id, value=1500.0), sample(at(1), "Power.Active.Import", 7.0)]
    samples[1] = dataclasses.replace(samples[1], transaction_id=tx.id)
    fresh = await store.apply_transaction_event(
        tx.id, seq_no=1, kind="Updated", at=at(1), samples=samples, transaction=charging
    )
    assert fresh is True
    assert await store.get_transaction(tx.id) == charging
    stored = await store.samples_for_transaction(tx.id)
    assert sorted(s.sample.value for s in stored) == [7.0, 1500.0]
    # The resend: nothing stored twice, the seqNo known.
    again = await store.apply_transaction_event(
        tx.id, seq_no=1, kind="Updated", at=at(1), samples=samples, transaction=charging
    )
    assert again is False
    assert len(await store.samples_for_transaction(tx.id)) == 2
    assert await store.record_transaction_event(tx.id, 1, "Updated", at(1)) is False
    # Without a seqNo and without a change: fresh, samples only.
    assert await store.apply_transaction_event(
        tx.id, seq_no=None, kind="Updated", at=at(2), samples=[sample(at(2), tx=tx.id)]
    )
    assert len(await store.samples_for_transaction(tx.id)) == 3
    assert await store.get_transaction(tx.id) == charging


async def test_transaction_event_write_is_all_or_nothing(store: Store) -> None:
    tx, _ = await store.open_transaction(new_tx(station_tx_id="T-1"))
    # Concurrent events of two transactions share a batch; the one naming a missing
    # transaction fails alone and stores none of its samples.
    good = store.apply_transaction_event(
        tx.id, seq_no=0, kind="Started", at=at(0), samples=[sample(at(0), tx=tx.id)]
    )
    bad = store.apply_transaction_event(
        999, seq_no=0, kind="Started", at=at(0), samples=[sample(at(0), tx=999, value=9.0)]
    )
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert results[0] is True
    assert isinstance(results[1], StoreError)
    assert await store.samples_for_transaction(999) == []
    assert len(await store.samples_for_transaction(tx.id)) == 1


async def test_set_needs(store: Store) -> None:
    tx, _ = await store.open_transaction(new_tx(station_tx_id="T-1"))
    needs = EVChargingNeeds(energy_requested_wh=15000.0, departure_at=at(3600).astimezone(CET))
    await store.set_needs(tx.id, needs)
    got = await store.get_transaction(tx.id)
    assert got is not None
    assert got.needs == EVChargingNeeds(energy_requested_wh=15000.0, departure_at=at(3600))
    assert got.needs is not None
    assert_utc(got.needs.departure_at)
    await store.set_needs(tx.id, EVChargingNeeds())
    got = await store.get_transaction(tx.id)
    assert got is not None
    assert got.needs == EVChargingNeeds()
    with pytest.raises(NotFound):
        await store.set_needs(999, needs)


async def test_set_needs_keeps_the_v2x_part(store: Store) -> None:
    """A 2.1 EV's V2X parameters, offered modes and control mode survive the store (and a
    restart), so a V2G EV stays one (decision 0909)."""
    tx, _ = await store.open_transaction(new_tx(station_tx_id="T-1"))
    v2x = V2XParameters(
        max_discharge_power_w=7000.0, max_discharge_power_l2_w=2000.0,
        min_v2x_energy_wh=-8000.0, target_energy_wh=-500.0, target_soc_pct=80.0,
    )  # fmt: skip
    needs = EVChargingNeeds(
        energy_requested_wh=12000.0,
        energy_transfer_mode="AC_BPT",
        v2x=v2x,
        available_energy_transfer=("AC_three_phase", "AC_BPT"),
        control_mode="ScheduledControl",
    )
    await store.set_needs(tx.id, needs)
    got = await store.get_transaction(tx.id)
    assert got is not None and got.needs == needs and got.needs.discharge_allowed


# -- meter values -------------------------------------------------------------------------


async def test_samples_round_trip_and_dedup(store: Store) -> None:
    tx, _ = await store.open_transaction(new_tx(station_tx_id="T-1"))
    batch = [
        sample(at(0), value=1000.0, tx=tx.id, context="Transaction.Begin", location="Outlet"),
        sample(
            at(0),
            "Power.Active.Import",
            7400.0,
            tx=tx.id,
            unit="W",
            raw_value="7.4",
            raw_unit="kW",
        ),
        sample(at(0), "Current.Import", 16.25, tx=tx.id, unit="A", phase="L1"),
        sample(at(0), "Current.Import", 15.75, tx=tx.id, unit="A", phase="L2"),
        sample(at(0), "Voltage", 230.1, tx=tx.id, unit="V", phase="L1-N"),
        sample(at(60), value=1123.456789, tx=tx.id, context="Sample.Periodic"),
        sample(at(60), "SoC", 41.0, tx=tx.id, unit="Percent", location="EV"),
    ]
    assert await store.add_samples(batch) == 7
    # Redelivery and a partial overlap: only the new one counts.
    assert await store.add_samples(batch) == 0
    extra = sample(at(120).astimezone(CET), value=1300.0, tx=tx.id)
    assert await store.add_samples([batch[2], extra, extra]) == 1
    # Same timestamp and measurand but another context is another sample.
    assert await store.add_samples([sample(at(0), value=1000.0, tx=tx.id)]) == 1
    assert await store.add_samples([]) == 0

    got = await store.samples_for_transaction(tx.id)
    # Ordered by timestamp, then by arrival.
    assert got == [
        *batch[:5],
        sample(at(0), value=1000.0, tx=tx.id),
        *batch[5:],
        sample(at(120), value=1300.0, tx=tx.id),
    ]
    for s in got:
        assert_utc(s.sample.timestamp)
    assert await store.samples_for_transaction(999) == []


async def test_samples_without_transaction_dedup(store: Store) -> None:
    s1 = sample(at(0), "Power.Active.Import", 11.0, unit="W", evse=0, connector=0)
    assert await store.add_samples([s1, s1]) == 1
    assert await store.add_samples([s1]) == 0
    assert await store.latest_samples("CP1") == [s1]


async def test_latest_samples(store: Store) -> None:
    await store.add_samples(
        [
            sample(at(0), value=100.0),
            sample(at(60), value=200.0),
            sample(at(30), value=150.0),
            sample(at(0), "Current.Import", 10.0, unit="A", phase="L1"),
            sample(at(0), "Current.Import", 11.0, unit="A", phase="L2"),
            sample(at(90), "Current.Import", 12.0, unit="A", phase="L1"),
            sample(at(90), "Current.Import", 13.0, unit="A"),
            sample(at(10), value=5.0, evse=2, connector=1),
            sample(at(99), value=5.0, station="CP2"),
        ]
    )
    latest = await store.latest_samples("CP1")
    assert [
        (s.evse_id, s.connector_id, s.sample.measurand, s.sample.phase, s.sample.value)
        for s in latest
    ] == [
        (1, 1, "Current.Import", None, 13.0),
        (1, 1, "Current.Import", "L1", 12.0),
        (1, 1, "Current.Import", "L2", 11.0),
        (1, 1, "Energy.Active.Import.Register", None, 200.0),
        (2, 1, "Energy.Active.Import.Register", None, 5.0),
    ]
    assert await store.latest_samples("CP9") == []


# -- concurrency --------------------------------------------------------------------------


async def test_concurrent_duplicate_starts_create_one_transaction(store: Store) -> None:
    results = await asyncio.gather(
        *(store.open_transaction(new_tx(start_key="same")) for _ in range(10)),
        *(store.open_transaction(new_tx(station_tx_id="tx-9")) for _ in range(10)),
    )
    assert len({tx.id for tx, _ in results[:10]}) == 1
    assert len({tx.id for tx, _ in results[10:]}) == 1
    assert sum(created for _, created in results) == 2
    assert len(await store.list_transactions()) == 2


async def test_concurrent_overlapping_samples_counted_once(store: Store) -> None:
    samples = [sample(at(i), value=float(i)) for i in range(20)]
    counts = await asyncio.gather(
        *(store.add_samples(samples[k : k + 10]) for k in range(0, 11, 2)),
    )
    assert sum(counts) == 20
    assert [s.sample.value for s in await store.latest_samples("CP1")] == [19.0]


async def test_start_key_match_wins_over_station_tx_id(store: Store) -> None:
    a, _ = await store.open_transaction(new_tx(station_tx_id="X"))
    b, _ = await store.open_transaction(new_tx(start_key="K", station_tx_id="Y"))
    got, created = await store.open_transaction(new_tx(start_key="K", station_tx_id="X"))
    assert (got.id, created) == (b.id, False)
    assert a.id != b.id


async def test_latest_sample_ignores_redelivered_samples(store: Store) -> None:
    outlet = sample(at(5), "Power.Active.Import", 7000.0, unit="W", location="Outlet")
    ev = sample(at(5), "Power.Active.Import", 6900.0, unit="W", location="EV")
    older = sample(at(1), "Power.Active.Import", 1.0, unit="W")
    assert await store.add_samples([outlet, ev]) == 2
    assert await store.add_samples([outlet, older]) == 1  # outlet again: not new
    assert await store.latest_samples("CP1") == [ev]
    newer = sample(at(6), "Power.Active.Import", 7100.0, unit="W", location="Outlet")
    assert await store.add_samples([newer, outlet]) == 1
    assert await store.latest_samples("CP1") == [newer]


async def test_long_free_text_round_trips(store: Store) -> None:
    """Whatever text a station sends (vendor codes, raw values) is kept, never refused."""
    long = "x" * 2000
    s = sample(at(0), "Power.Active.Import", 1.0, unit="W", raw_value=long, raw_unit=long)
    assert await store.add_samples([s]) == 1
    assert await store.latest_samples("CP1") == [s]
    report = StatusReport("CP1", 1, 1, ConnectorStatus.FAULTED, at(0), long, long, long, long)
    await store.record_status(report)
    assert await store.connector_statuses("CP1") == [report]
    tx, _ = await store.open_transaction(new_tx(start_key="k"))
    tx.stop_reason = long
    tx.charging_state = long
    await store.save_transaction(tx)
    assert await store.get_transaction(tx.id) == tx
