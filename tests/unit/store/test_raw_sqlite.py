"""The SQLite writer's DBAPI statements store exactly what SQLAlchemy stores."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from csms.domain import MeterSample, Transaction
from csms.store import SqlStore, StationRecord
from csms.store import tables as t
from csms.store.base import NewTransaction, StoredSample
from csms.store.raw_sqlite import RawStatement, as_sqlalchemy_error, sqlite_timestamp
from csms.store.transient import is_transient

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        T0,
        T0.replace(microsecond=0),
        T0.replace(microsecond=7),
        datetime(2026, 3, 1, 14, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(2026, 3, 1, 12, 0, 1, 999999),  # naive: UTC
        datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
        None,
    ],
)
def test_timestamps_are_bound_as_sqlalchemy_binds_them(value: datetime | None) -> None:
    dialect = sqlite.dialect()
    process = t.samples.c.timestamp.type.dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    assert sqlite_timestamp(value) == process(value)


def test_statement_binds_columns_by_name_with_their_processors() -> None:
    insert = RawStatement(
        sqlite.insert(t.transaction_events).on_conflict_do_nothing(),
        ("transaction_id", "seq_no", "kind", "at"),
    )
    assert insert.sql.startswith("INSERT INTO transaction_events (transaction_id, seq_no, kind")
    assert insert.sql.endswith("ON CONFLICT DO NOTHING")
    row = {"kind": "Updated", "at": T0, "seq_no": 4, "transaction_id": 9}
    assert insert.params(row) == (9, 4, "Updated", "2026-03-01 12:00:00.000000")


def test_dbapi_errors_are_sqlalchemy_errors_and_locks_are_transient() -> None:
    locked = as_sqlalchemy_error("INSERT", sqlite3.OperationalError("database is locked"))
    assert isinstance(locked, sa.exc.OperationalError)
    assert is_transient(locked)
    broken = as_sqlalchemy_error("INSERT", sqlite3.IntegrityError("NOT NULL constraint failed"))
    assert isinstance(broken, sa.exc.IntegrityError)
    assert not is_transient(broken)


async def test_hot_writes_read_back_as_written(tmp_path: Path) -> None:
    """Samples, seqNos and a transaction's new state written by the writer's DBAPI path are
    what the store reads back; resends are not fresh and store nothing twice."""
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'raw.db'}")
    await store.open()
    try:
        await store.put_station(StationRecord("CP"))
        tx, _ = await store.open_transaction(
            NewTransaction(
                station_id="CP", evse_id=1, connector_id=1, started_at=T0, station_tx_id="A"
            )
        )
        at = datetime(2026, 3, 1, 13, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1)))
        sample = MeterSample(
            timestamp=at, measurand="Power.Active.Import", value=7400.0, unit="W", phase="L1"
        )
        rows = [StoredSample("CP", 1, 1, tx.id, sample)]
        state = Transaction(
            tx.id, "CP", "A", 1, 1, "TAG", T0, charging_state="Charging", last_seq_no=3
        )
        first = await asyncio.gather(
            *(
                store.apply_transaction_event(
                    tx.id, seq_no=n, kind="Updated", at=at, samples=rows, transaction=state
                )
                for n in (3, 3, 4)
            )
        )
        assert first == [True, False, True]
        again = await store.apply_transaction_event(
            tx.id, seq_no=4, kind="Updated", at=at, samples=rows, transaction=state
        )
        assert again is False
        assert await store.add_samples(rows) == 0
        other = StoredSample("CP", 1, 1, None, sample)
        assert await store.add_samples([other, other]) == 1
        stored = await store.samples_for_transaction(tx.id)
        assert [s.sample for s in stored] == [
            MeterSample(
                timestamp=at.astimezone(UTC),
                measurand="Power.Active.Import",
                value=7400.0,
                unit="W",
                phase="L1",
            )
        ]
        back = await store.get_transaction(tx.id)
        assert back is not None
        assert (back.charging_state, back.last_seq_no, back.id_token) == ("Charging", 3, "TAG")
        assert [s.sample.measurand for s in await store.latest_samples("CP")] == [
            "Power.Active.Import"
        ]
    finally:
        await store.close()
