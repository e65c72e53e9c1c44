"""The fields the stores write on an update are the ones ``csms.store.base`` lists: the SQL
row mapping writes them out by hand (it is on the writer's path), so they are checked here."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from csms.domain import BootInfo, EVChargingNeeds, Transaction
from csms.store import mapping as mp
from csms.store.base import (
    STATION_BOOT_FIELDS,
    STATION_SET_FIELDS,
    TRANSACTION_SAVED_FIELDS,
    StationRecord,
    boot_fields,
)

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def test_the_sql_update_row_is_the_saved_fields_and_the_needs() -> None:
    tx = Transaction(7, "CP1", "tx-7", 1, 1, "TOKEN", T0, needs=EVChargingNeeds(10_000.0))
    row = mp.transaction_update_row(tx)
    needs = set(mp.needs_row(tx.needs))
    assert set(row) - needs == set(TRANSACTION_SAVED_FIELDS)
    assert {k: row[k] for k in TRANSACTION_SAVED_FIELDS} == {
        k: getattr(tx, k) for k in TRANSACTION_SAVED_FIELDS
    }


def test_the_saved_and_set_fields_are_fields_of_their_records() -> None:
    tx_fields = {f.name for f in dataclasses.fields(Transaction)}
    station_fields = {f.name for f in dataclasses.fields(StationRecord)}
    assert set(TRANSACTION_SAVED_FIELDS) <= tx_fields - {"id", "station_id", "started_at"}
    assert set(STATION_SET_FIELDS) <= station_fields - {"station_id"}
    assert set(STATION_SET_FIELDS) <= set(mp.station_row(StationRecord("CP1")))


def test_a_boot_sets_the_boot_fields_of_a_station() -> None:
    fields = boot_fields(BootInfo("V", "M", "S1", "1.0", ocpp_version="2.0.1"), T0)
    assert tuple(fields) == STATION_BOOT_FIELDS
    assert set(STATION_BOOT_FIELDS) <= {f.name for f in dataclasses.fields(StationRecord)}
    assert set(STATION_BOOT_FIELDS).isdisjoint(STATION_SET_FIELDS)
    assert fields == {
        "ocpp_version": "2.0.1",
        "vendor": "V",
        "model": "M",
        "serial_number": "S1",
        "firmware_version": "1.0",
        "last_boot_at": T0,
    }
