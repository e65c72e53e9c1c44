"""Alembic migrations of the SQL store, for ``chargegrid db upgrade`` and :class:`SqlStore`.

The migration scripts live in ``csms/store/migrations``; no ``alembic.ini`` is needed.
``upgrade(url)`` brings a database to the latest revision, ``current(url)`` tells where it
is, ``head()`` which revision this code expects.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.exceptions import StoreError

__all__ = [
    "SchemaMismatch",
    "alembic_config",
    "current",
    "current_async",
    "ensure_schema",
    "head",
    "upgrade",
    "upgrade_async",
]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class SchemaMismatch(StoreError):
    """The database is not at the revision this code expects."""


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head() -> str:
    """The revision this code expects."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


#: Key of the PostgreSQL advisory lock that serializes migrations of several nodes.
_MIGRATION_LOCK_KEY = 0x63676D6967  # "cgmig"


def _upgrade(conn: Connection, revision: str) -> None:
    """Migrate inside the caller's transaction, one process at a time: PostgreSQL takes an
    advisory lock, SQLite's transaction is ``BEGIN IMMEDIATE``. Alembic reads the revision
    after the lock, so a node that lost the race finds the work done."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


async def _upgrade_on(engine: AsyncEngine, revision: str) -> None:
    from csms.store.engine import SQLITE_BEGIN_OPTION

    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        async with conn.begin():
            await conn.run_sync(_upgrade, revision)


def _has_tables(conn: Connection) -> bool:
    return bool(inspect(conn).get_table_names())


def _engine(url: str) -> AsyncEngine:
    from csms.store.engine import create_engine

    return create_engine(url, pool_size=1, max_overflow=0)


async def upgrade_async(url: str, revision: str = "head") -> str | None:
    """Migrate the database at ``url`` to ``revision``; returns the revision it is at."""
    engine = _engine(url)
    try:
        await _upgrade_on(engine, revision)
        async with engine.connect() as conn:
            return await conn.run_sync(_current)
    finally:
        await engine.dispose()


async def current_async(url: str) -> str | None:
    """The revision of the database at ``url`` (``None`` for an empty database)."""
    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current)
    finally:
        await engine.dispose()


def upgrade(url: str, revision: str = "head") -> str | None:
    return asyncio.run(upgrade_async(url, revision))


def current(url: str) -> str | None:
    return asyncio.run(current_async(url))


async def ensure_schema(engine: AsyncEngine, *, create: bool = True) -> None:
    """Check the database is at :func:`head`; create the schema on an empty database.

    Raises :class:`SchemaMismatch` for a database at another revision (or with tables but no
    revision): migrating a database that holds data is an explicit step
    (``chargegrid db upgrade``).
    """
    expected = head()
    async with engine.connect() as conn:
        revision = await conn.run_sync(_current)
        has_tables = await conn.run_sync(_has_tables)
    if revision == expected:
        return
    if revision is None and not has_tables and create:
        logger.info("empty database: creating the schema (revision %s)", expected)
        await _upgrade_on(engine, "head")
        return
    if revision is None:
        raise SchemaMismatch(
            "the database has no chargegrid schema"
            + (" but holds other tables" if has_tables else "")
            + "; run `chargegrid db upgrade`"
        )
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if revision in known:
        raise SchemaMismatch(
            f"the database is at revision {revision}, this version needs {expected}; "
            "run `chargegrid db upgrade`"
        )
    raise SchemaMismatch(
        f"the database is at revision {revision}, unknown to this version (which needs "
        f"{expected}); it was migrated by a newer chargegrid"
    )
