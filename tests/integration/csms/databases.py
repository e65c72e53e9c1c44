"""Fresh databases for the CSMS integration tests (each run gets its own PostgreSQL database)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import sqlalchemy as sa

from tests.services import POSTGRES_ADMIN_URL, unavailable

__all__ = ["admin_sql", "temporary_postgres", "terminate_backends", "truncate_all"]


async def admin_sql(sql: str, *args: object) -> object:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def _isolated(fn: Callable[[], Awaitable[object]]) -> None:
    async def main() -> None:
        await fn()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result()


def temporary_postgres() -> Iterator[str]:
    """Create ``chargegrid_t_<hex>``, yield its asyncpg URL, drop it afterwards."""
    name = f"chargegrid_t_{secrets.token_hex(6)}"
    try:
        _isolated(lambda: admin_sql(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL at {POSTGRES_ADMIN_URL} unreachable: {exc}")
    url = sa.make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        _isolated(lambda: admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def terminate_backends(url: str) -> int:
    """Kill the server processes serving the database of ``url`` (what its clients see when
    the server restarts); returns how many."""
    killed = await admin_sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()",
        sa.make_url(url).database,
    )
    assert isinstance(killed, int)
    return killed


async def truncate_all(engine: object) -> None:
    from csms.store import tables as t

    names = ", ".join(table.name for table in reversed(t.metadata.sorted_tables))
    async with engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
