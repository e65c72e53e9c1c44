"""Alembic migrations: an empty database is brought to head on both dialects, the head
matches the tables the code expects, and SqlStore refuses a database it does not know."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from csms.api import tables as _api_tables  # noqa: F401  (tables on the shared metadata)
from csms.sites import tables as _site_tables  # noqa: F401
from csms.store import SqlStore, migrate
from csms.store import tables as t
from csms.store.engine import create_engine
from csms.store.migrate import SchemaMismatch

EXPECTED_TABLES = {
    "alembic_version",
    "api_jobs",
    "api_tokens",
    "audit_log",
    "connector_status",
    "id_tokens",
    "meters",
    "samples",
    "site_constraints",
    "sites",
    "station_events",
    "stations",
    "status_history",
    "transaction_events",
    "transactions",
    "webhook_deliveries",
    "webhooks",
}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


def _diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, t.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


async def _inspect(url: str) -> tuple[set[str], list[object]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_tables), await conn.run_sync(_diff)
    finally:
        await engine.dispose()


def test_head_is_the_latest_revision() -> None:
    assert migrate.head() == "0009"


def test_upgrade_empty_database(empty_url: str) -> None:
    assert migrate.current(empty_url) is None
    assert migrate.upgrade(empty_url) == "0009"
    assert migrate.current(empty_url) == migrate.head()
    assert migrate.upgrade(empty_url) == "0009"  # idempotent


async def test_head_matches_the_code(empty_url: str) -> None:
    await migrate.upgrade_async(empty_url)
    tables, diff = await _inspect(empty_url)
    assert tables == EXPECTED_TABLES
    assert {table.name for table in t.metadata.sorted_tables} == EXPECTED_TABLES - {
        "alembic_version"
    }
    assert diff == []


async def test_open_creates_schema_on_empty_database(empty_url: str) -> None:
    store = SqlStore(empty_url)
    await store.open()
    await store.close()
    assert await migrate.current_async(empty_url) == "0009"
    # A second open finds it at head.
    store = SqlStore(empty_url)
    await store.open()
    assert await store.list_stations() == []
    await store.close()


async def test_open_without_auto_migrate_refuses_empty_database(empty_url: str) -> None:
    store = SqlStore(empty_url, auto_migrate=False)
    with pytest.raises(SchemaMismatch, match="chargegrid db upgrade"):
        await store.open()
    await store.close()


async def _set_version(url: str, sql: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(sql))
    finally:
        await engine.dispose()


async def test_open_refuses_unknown_revision(empty_url: str) -> None:
    await migrate.upgrade_async(empty_url)
    await _set_version(empty_url, "UPDATE alembic_version SET version_num = 'ffff'")
    store = SqlStore(empty_url)
    with pytest.raises(SchemaMismatch, match="unknown to this version"):
        await store.open()
    await store.close()


async def test_open_refuses_foreign_tables(empty_url: str) -> None:
    await _set_version(empty_url, "CREATE TABLE something_else (x INTEGER)")
    store = SqlStore(empty_url)
    with pytest.raises(SchemaMismatch, match="holds other tables"):
        await store.open()
    await store.close()


async def test_older_revision_is_refused_then_upgraded_with_its_data(empty_url: str) -> None:
    """A database at 0001 holding samples: open() refuses it, upgrade() brings it to head
    and fills the latest-sample table from the samples already stored."""
    await migrate.upgrade_async(empty_url, "0001")
    t0 = "2026-03-01 08:00:00"
    rows = [
        # station, evse, connector, tx, timestamp, measurand, phase, value
        ("CP1", 1, 1, 0, f"{t0}+00:00", "Power.Active.Import", "", 10.0),
        ("CP1", 1, 1, 0, "2026-03-01 08:01:00+00:00", "Power.Active.Import", "", 20.0),
        ("CP1", 1, 1, 0, "2026-03-01 07:59:00+00:00", "Power.Active.Import", "", 5.0),
        ("CP1", 1, 1, 0, f"{t0}+00:00", "Current.Import", "L1", 16.0),
    ]
    engine = create_engine(empty_url)
    try:
        async with engine.begin() as conn:
            for station, evse, conn_id, tx, ts, measurand, phase, value in rows:
                await conn.execute(
                    t.samples.insert().values(
                        station_id=station,
                        evse_id=evse,
                        connector_id=conn_id,
                        transaction_id=tx,
                        timestamp=datetime.fromisoformat(ts),
                        measurand=measurand,
                        phase=phase,
                        location="",
                        context="",
                        value=value,
                        unit="W",
                    )
                )
    finally:
        await engine.dispose()

    store = SqlStore(empty_url)
    with pytest.raises(SchemaMismatch, match="revision 0001, this version needs 0009"):
        await store.open()
    await store.close()

    assert await migrate.upgrade_async(empty_url) == "0009"
    store = SqlStore(empty_url)
    await store.open()
    try:
        latest = await store.latest_samples("CP1")
        assert [(s.sample.measurand, s.sample.phase, s.sample.value) for s in latest] == [
            ("Current.Import", "L1", 16.0),
            ("Power.Active.Import", None, 20.0),
        ]
        assert latest[1].sample.timestamp == datetime(2026, 3, 1, 8, 1, tzinfo=UTC)
    finally:
        await store.close()
