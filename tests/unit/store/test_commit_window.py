"""The writer's commit window: writes that arrive one by one while it is idle share a commit;
a write that arrives while a batch commits is taken without waiting."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from csms.app import Csms
from csms.config import DatabaseSettings, Settings
from csms.store import SqlStore, StationRecord
from csms.store.writer import MAX_COMMIT_WINDOW_S, GroupWriter, WriteOp
from tests.waiting import wait_until


@pytest.fixture
async def windowed(tmp_path: Path) -> AsyncIterator[SqlStore]:
    # The longest window allowed: the test's steps between two writes must fit in it even
    # on a machine whose cores are busy with other work.
    s = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", commit_window_s=MAX_COMMIT_WINDOW_S)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_writes_one_by_one_share_a_commit(windowed: SqlStore) -> None:
    writer = windowed.writer
    first = asyncio.create_task(windowed.put_station(StationRecord("A")))
    await wait_until(lambda: writer.windows == 1, 30, "the writer's window")
    assert not first.done()  # not answered before its commit
    later = [asyncio.create_task(windowed.put_station(StationRecord(s))) for s in ("B", "C")]
    await asyncio.gather(first, *later)
    assert (writer.batches, writer.ops, writer.windows) == (1, 3, 1)
    # answered = committed: another connection sees all three
    assert [s.station_id for s in await windowed.list_stations()] == ["A", "B", "C"]


async def test_a_write_queued_during_a_commit_takes_no_window(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", commit_window_s=0.01)
    await store.open()
    try:
        writer = store.writer
        entered, release = threading.Event(), threading.Event()

        async def held(conn: AsyncConnection) -> int:
            entered.set()  # on the writer's thread, inside the batch's transaction
            release.wait(30)
            return int((await conn.execute(sa.text("SELECT 1"))).scalar_one())

        first = asyncio.create_task(writer.submit(WriteOp(held)))
        await wait_until(entered.is_set, 30, "the first batch running")
        second = asyncio.create_task(store.put_station(StationRecord("B")))
        await wait_until(lambda: writer._queue.qsize() == 1, 30, "the second write queued")
        release.set()
        assert await first == 1
        await second
        assert (writer.batches, writer.windows) == (2, 1)
    finally:
        release.set()
        await store.close()


@pytest.mark.parametrize("window", [-0.001, math.nan, math.inf, MAX_COMMIT_WINDOW_S + 0.1])
async def test_a_window_out_of_range_is_refused(window: float) -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    with pytest.raises(ValueError, match="commit_window_s"):
        GroupWriter(engine, commit_window_s=window)
    await engine.dispose()
    with pytest.raises(ValidationError, match="commit_window_s"):
        DatabaseSettings(commit_window_s=window)


async def test_the_server_opens_its_store_with_the_configured_window(tmp_path: Path) -> None:
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", "commit_window_s": 0.25}
    )
    csms = Csms(settings)
    assert isinstance(csms.store, SqlStore)
    assert csms.store.writer.commit_window_s == 0.25
    assert Csms(Settings(database={"url": "memory://"})).store is not None
