"""The durability level is what the store's connections really run with (decision 0251):
read back from the writer's connection inside a batch, and from a reader's."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store import SqlStore
from csms.store.writer import WriteOp

#: SQLite reports ``PRAGMA synchronous`` as a number: 1 NORMAL, 2 FULL.
SQLITE = {"power-loss": 2, "crash": 1}
#: PostgreSQL's ``synchronous_commit``: power-loss keeps the server's (``on`` by default).
POSTGRES = {"power-loss": "on", "crash": "off"}


async def _writer_reads(store: SqlStore, query: str) -> object:
    async def run(conn: AsyncConnection) -> object:
        return (await conn.execute(sa.text(query))).scalar_one()

    return await store.writer.submit(WriteOp(run))


async def _writer_and_reader_read(url: str, level: str, query: str) -> tuple[object, object]:
    """``query``'s answer inside a writer batch and on a reader's connection."""
    store = SqlStore(url, durability=level)
    await store.open()
    try:
        in_batch = await _writer_reads(store, query)
        async with store.engine.connect() as conn:
            on_reader = (await conn.execute(sa.text(query))).scalar_one()
    finally:
        await store.close()
    return in_batch, on_reader


@pytest.mark.parametrize("level", sorted(SQLITE))
async def test_sqlite_synchronous_follows_the_level(level: str, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    read = await _writer_and_reader_read(url, level, "PRAGMA synchronous")
    assert read == (SQLITE[level], SQLITE[level])


async def test_an_explicit_sqlite_synchronous_overrides_the_level(tmp_path: Path) -> None:
    store = SqlStore(
        f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", durability="crash", sqlite_synchronous="EXTRA"
    )
    await store.open()
    try:
        assert await _writer_reads(store, "PRAGMA synchronous") == 3
    finally:
        await store.close()


@pytest.mark.parametrize("level", sorted(POSTGRES))
async def test_postgres_synchronous_commit_follows_the_level(
    level: str, fresh_postgres_url: str
) -> None:
    read = await _writer_and_reader_read(fresh_postgres_url, level, "SHOW synchronous_commit")
    assert read == (POSTGRES[level], POSTGRES[level])
