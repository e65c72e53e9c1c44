"""The Store contract, run against every implementation (see ``conftest.store``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from csms.domain import (
    AuthorizationStatus,
    BootInfo,
    ConnectorStatus,
    EVChargingNeeds,
    IdToken,
    MeterSample,
    RegistrationStatus,
    StatusReport,
)
from csms.exceptions import NotFound
from csms.store import NewTransaction, StationEvent, StationRecord, Store, StoredSample

T0 = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_tx(**kw: object) -> NewTransaction:
    fields: dict[str, object] = {
        "station_id": "CP1",
        "evse_id": 1,
        "connector_id": 1,
        "started_at": T0,
        "id_token": "TAG1",
        "meter_start_wh": 1000.0,
    }
    fields.update(kw)
    return NewTransaction(**fields)  # type: ignore[arg-type]


def sample(
    ts: datetime,
    measurand: str = "Energy.Active.Import.Register",
    value: float = 1.0,
    *,
    tx: int | None = None,
    station: str = "CP1",
    evse: int = 1,
    connector: int = 1,
    **kw: str | None,
) -> StoredSample:
    unit = kw.pop("unit", None) or "Wh"
    return StoredSample(station, evse, connector, tx, MeterSample(ts, measurand, value, unit, **kw))


def assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


# -- stations -----------------------------------------------------------------------------


async def test_station_crud(store: Store) -> None:
    assert await store.get_station("CP1") is None
    await store.put_station(StationRecord("CP2", password_hash="h2", site_id="S"))
    await store.put_station(StationRecord("CP1", password_hash="h1"))
    got = await store.get_station("CP1")
    assert got == StationRecord("CP1", password_hash="h1")
    assert [s.station_id for s in await store.list_stations()] == ["CP1", "CP2"]

    await store.put_station(
        StationRecord(
            "CP1", password_hash="h1b", site_id="S9", registration=RegistrationStatus.REJECTED
        )
    )
    got = await store.get_station("CP1")
    assert got is not None
    assert (got.password_hash, got.site_id, got.registration) == (
        "h1b",
        "S9",
        RegistrationStatus.REJECTED,
    )

    await store.delete_station("CP1")
    assert await store.get_station("CP1") is None
    assert [s.station_id for s in await store.list_stations()] == ["CP2"]
    with pytest.raises(NotFound):
        await store.delete_station("CP1")


async def test_boot_connection_and_seen(store: Store) -> None:
    await store.put_station(StationRecord("CP1", password_hash="h"))
    info = BootInfo("ACME", "Fast 22", "SN-1", "1.2.3", "PowerUp", "2.0.1")
    await store.record_boot("CP1", info, RegistrationStatus.ACCEPTED, at(1).astimezone(CET))
    await store.record_connection("CP1", connected=True, at=at(2).astimezone(CET))
    got = await store.get_station("CP1")
    assert got == StationRecord(
        "CP1",
        password_hash="h",
        registration=RegistrationStatus.ACCEPTED,
        ocpp_version="2.0.1",
        vendor="ACME",
        model="Fast 22",
        serial_number="SN-1",
        firmware_version="1.2.3",
        last_boot_at=at(1),
        last_seen_at=at(2),
        connected=True,
    )
    assert_utc(got.last_boot_at)
    assert_utc(got.last_seen_at)

    await store.record_seen("CP1", at(10).astimezone(CET))
    await store.record_seen("CP1", at(5))  # late, out of order: ignored
    got = await store.get_station("CP1")
    assert got is not None
    assert got.last_seen_at == at(10)

    await store.record_connection("CP1", connected=False, at=at(11))
    got = await store.get_station("CP1")
    assert got is not None
    assert (got.connected, got.last_seen_at) == (False, at(10))
    # The operator's registration survives a put with the same fields and a new boot.
    await store.record_boot("CP1", info, RegistrationStatus.PENDING, at(12))
    got = await store.get_station("CP1")
    assert got is not None
    assert (got.registration, got.last_boot_at) == (RegistrationStatus.ACCEPTED, at(12))


async def test_boot_creates_unknown_station(store: Store) -> None:
    await store.record_boot("NEW", BootInfo("V", "M"), RegistrationStatus.PENDING, at(0))
    got = await store.get_station("NEW")
    assert got is not None
    assert (got.registration, got.vendor, got.model, got.ocpp_version, got.password_hash) == (
        RegistrationStatus.PENDING,
        "V",
        "M",
        "1.6",
        None,
    )


async def test_seen_and_connection_of_unknown_station_do_nothing(store: Store) -> None:
    await store.record_seen("GHOST", at(0))
    await store.record_connection("GHOST", connected=True, at=at(0))
    assert await store.get_station("GHOST") is None
    assert await store.list_stations() == []


# -- status -------------------------------------------------------------------------------


def status(
    s: ConnectorStatus, ts: datetime, evse: int = 1, connector: int = 1, **kw: str | None
) -> StatusReport:
    return StatusReport("CP1", evse, connector, s, ts, **kw)


async def test_status_latest_and_history(store: Store) -> None:
    await store.record_status(status(ConnectorStatus.AVAILABLE, at(0), 0, 0))
    await store.record_status(status(ConnectorStatus.AVAILABLE, at(1), 2, 1))
    await store.record_status(status(ConnectorStatus.PREPARING, at(2)))
    await store.record_status(
        status(
            ConnectorStatus.FAULTED,
            at(3),
            error_code="GroundFailure",
            info="rcd tripped",
            vendor_id="ACME",
            vendor_error_code="E42",
        )
    )
    await store.record_status(status(ConnectorStatus.CHARGING, at(2.5)))  # late report
    await store.record_status(status(ConnectorStatus.PREPARING, at(2)))  # redelivered
    await store.record_status(StatusReport("CP2", 1, 1, ConnectorStatus.CHARGING, at(1)))

    latest = await store.connector_statuses("CP1")
    assert latest == [
        status(ConnectorStatus.AVAILABLE, at(0), 0, 0),
        status(
            ConnectorStatus.FAULTED,
            at(3),
            error_code="GroundFailure",
            info="rcd tripped",
            vendor_id="ACME",
            vendor_error_code="E42",
        ),
        status(ConnectorStatus.AVAILABLE, at(1), 2, 1),
    ]
    for r in latest:
        assert_utc(r.timestamp)

    history = await store.status_history("CP1", evse_id=1, connector_id=1)
    assert [(r.status, r.timestamp) for r in history] == [
        (ConnectorStatus.PREPARING, at(2)),
        (ConnectorStatus.CHARGING, at(2.5)),
        (ConnectorStatus.FAULTED, at(3)),
    ]
    everything = await store.status_history("CP1")
    assert len(everything) == 5
    assert [r.timestamp for r in await store.status_history("CP1", limit=2)] == [at(2.5), at(3)]


async def test_status_same_timestamp_later_call_wins(store: Store) -> None:
    await store.record_status(status(ConnectorStatus.PREPARING, at(1)))
    await store.record_status(status(ConnectorStatus.CHARGING, at(1)))
    latest = await store.connector_statuses("CP1")
    assert [r.status for r in latest] == [ConnectorStatus.CHARGING]


async def test_delete_station_forgets_latest_status(store: Store) -> None:
    await store.put_station(StationRecord("CP1"))
    await store.record_status(status(ConnectorStatus.AVAILABLE, at(0)))
    await store.delete_station("CP1")
    assert await store.connector_statuses("CP1") == []


# -- station events -----------------------------------------------------------------------


async def test_station_events(store: Store) -> None:
    e1 = StationEvent("CP1", "FirmwareStatusNotification", at(1), {"status": "Downloading"})
    e2 = StationEvent(
        "CP1", "SecurityEventNotification", at(0), {"type": "TamperDetected", "n": [1, 2.5, None]}
    )
    e3 = StationEvent("CP1", "FirmwareStatusNotification", at(2), {"status": "Installed"})
    for e in (e1, e2, e3, e1):  # e1 redelivered
        await store.record_station_event(e)
    await store.record_station_event(StationEvent("CP2", "DataTransfer", at(0), {}))

    assert await store.station_events("CP1") == [e2, e1, e3]
    assert await store.station_events("CP1", "FirmwareStatusNotification") == [e1, e3]
    assert await store.station_events("CP9") == []
    for e in await store.station_events("CP1"):
        assert_utc(e.at)


# -- id tokens ----------------------------------------------------------------------------


async def test_id_tokens(store: Store) -> None:
    t1 = IdToken("TAG1", "ISO14443", AuthorizationStatus.ACCEPTED, at(3600).astimezone(CET), "G1")
    t2 = IdToken("APP-7", "Central", AuthorizationStatus.BLOCKED)
    await store.put_id_token(t1)
    await store.put_id_token(t2)
    got = await store.get_id_token("TAG1")
    assert got == t1
    assert got is not None
    assert_utc(got.expires_at)
    assert await store.list_id_tokens() == [t2, t1]

    t1b = IdToken("TAG1", "ISO14443", AuthorizationStatus.EXPIRED)
    await store.put_id_token(t1b)
    assert await store.get_id_token("TAG1") == t1b
    await store.delete_id_token("TAG1")
    assert await store.get_id_token("TAG1") is None
    with pytest.raises(NotFound):
        await store.delete_id_token("TAG1")


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
