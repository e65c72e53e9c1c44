"""The ``store`` fixture: every Store implementation, fresh and empty for each test.

PostgreSQL tests share one uniquely named database per session (created here, dropped at
the end); each test starts from empty tables with the id sequences reset.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa

from csms.store import MemoryStore, SqlStore, Store
from csms.store import tables as t
from tests.loops import server_loop_factories
from tests.services import POSTGRES_ADMIN_URL, unavailable


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_isolated(fn: Callable[[], Awaitable[None]]) -> None:
    """Run a coroutine to completion on its own loop (fixtures may be inside a running one)."""

    async def main() -> None:
        await fn()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result()


def _asyncpg_url(database: str) -> str:
    url = sa.make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


def _temporary_database() -> Iterator[str]:
    name = f"chargegrid_t_{secrets.token_hex(6)}"
    try:
        run_isolated(lambda: _admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL at {POSTGRES_ADMIN_URL} unreachable: {exc}")
    try:
        yield _asyncpg_url(name)
    finally:
        run_isolated(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server, shared by the session, dropped after it."""
    yield from _temporary_database()


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """An empty database of its own for one test, dropped after it."""
    yield from _temporary_database()


async def terminate_backends(url: str) -> int:
    """Kill every server process connected to the database of ``url`` (a simulated
    restart of the server, seen from that database's clients); returns how many."""
    database = sa.make_url(url).database
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        killed: int = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        return killed
    finally:
        await conn.close()


async def _truncate(store: SqlStore) -> None:
    names = ", ".join(table.name for table in reversed(t.metadata.sorted_tables))
    async with store.engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s: Store
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    else:
        url = request.getfixturevalue("postgres_url")
        s = SqlStore(url)
    await s.open()
    if isinstance(s, SqlStore) and s.dialect == "postgresql":
        await _truncate(s)
    try:
        yield s
    finally:
        await s.close()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The store's tests run on the loop ``serve`` runs on (uvloop where installed, 0250)."""
    del config, item
    return server_loop_factories()
