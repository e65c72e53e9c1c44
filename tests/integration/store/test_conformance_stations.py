"""The Store contract, run against every implementation (see ``conftest.store``):
stations, statuses, station events, id tokens."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from csms.domain import (
    AuthorizationStatus,
    BootInfo,
    ConnectorStatus,
    IdToken,
    RegistrationStatus,
    StatusReport,
)
from csms.exceptions import NotFound
from csms.store import StationEvent, StationRecord, Store
from tests.integration.store.helpers import CET, assert_utc, at

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

    # a profile upgrade the station accepted and has not connected on yet is kept
    await store.put_station(dataclasses.replace(got, pending_security_profile=3))
    got = await store.get_station("CP1")
    assert got is not None and (got.security_profile, got.pending_security_profile) == (None, 3)
    await store.put_station(
        dataclasses.replace(got, security_profile=3, pending_security_profile=None)
    )
    got = await store.get_station("CP1")
    assert got is not None and (got.security_profile, got.pending_security_profile) == (3, None)

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


async def test_boot_with_its_connection_is_one_write_of_both(store: Store) -> None:
    await store.put_station(StationRecord("CP1"))
    info = BootInfo("ACME", "Fast 22")
    await store.record_boot("CP1", info, RegistrationStatus.ACCEPTED, at(1))
    got = await store.get_station("CP1")
    assert got is not None and (got.connected, got.last_seen_at) == (False, None)
    await store.record_boot(
        "CP1", info, RegistrationStatus.ACCEPTED, at(2).astimezone(CET), connected=True
    )
    got = await store.get_station("CP1")
    assert got is not None
    assert (got.connected, got.last_seen_at, got.last_boot_at) == (True, at(2), at(2))
    assert_utc(got.last_seen_at)
    # As record_connection: a later last-seen stays; the registration stays the operator's.
    await store.record_seen("CP1", at(9))
    await store.record_connection("CP1", connected=False, at=at(10))
    await store.record_boot("CP1", info, RegistrationStatus.PENDING, at(5), connected=True)
    got = await store.get_station("CP1")
    assert got is not None
    assert (got.connected, got.last_seen_at, got.last_boot_at, got.registration) == (
        True,
        at(9),
        at(5),
        RegistrationStatus.ACCEPTED,
    )
    # An unknown station's first boot creates it connected.
    await store.record_boot("NEW", info, RegistrationStatus.PENDING, at(3), connected=True)
    new = await store.get_station("NEW")
    assert new is not None
    assert (new.connected, new.last_seen_at, new.registration) == (
        True,
        at(3),
        RegistrationStatus.PENDING,
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
