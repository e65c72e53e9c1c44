"""Group commit on a real SQLite file: batching, failure isolation, retries, locking."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.exceptions import NotFound, StoreError, StoreUnavailable
from csms.store import SqlStore, StationRecord
from csms.store.writer import Coalesced, WriteOp
from tests.waiting import Entered, next_turn, wait_until

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    s = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", retry_delays_s=(0.01, 0.01))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_concurrent_writes_share_commits(store: SqlStore) -> None:
    await asyncio.gather(*(store.put_station(StationRecord(f"CP{i:03d}")) for i in range(100)))
    assert len(await store.list_stations()) == 100
    assert store.writer.ops >= 100
    assert store.writer.batches < 100


async def test_one_failing_write_does_not_fail_its_batch(store: SqlStore) -> None:
    results = await asyncio.gather(
        store.put_station(StationRecord("A")),
        store.delete_station("nope"),
        store.put_station(StationRecord("B")),
        store.record_seen("A", T0),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], NotFound)
    assert list(results[2:]) == [None, None]
    assert [s.station_id for s in await store.list_stations()] == ["A", "B"]
    station = await store.get_station("A")
    assert station is not None
    assert station.last_seen_at == T0


def _locked() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))


async def test_transient_failure_is_retried(store: SqlStore) -> None:
    failures = [_locked()]

    async def run(conn: AsyncConnection) -> str:
        if failures:
            raise failures.pop()
        await conn.execute(sa.text("SELECT 1"))
        return "done"

    assert await store.writer.submit(WriteOp(run)) == "done"
    assert store.writer.retries == 1


async def test_persistent_transient_failure_raises_store_unavailable(store: SqlStore) -> None:
    async def run(conn: AsyncConnection) -> None:
        raise _locked()

    with pytest.raises(StoreUnavailable, match="database is locked"):
        await store.writer.submit(WriteOp(run))
    assert store.writer.retries == 2
    # The writer keeps working.
    await store.put_station(StationRecord("A"))
    assert await store.get_station("A") == StationRecord("A")


async def test_database_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = SqlStore(
        f"sqlite+aiosqlite:///{path}", sqlite_busy_timeout_s=0.1, retry_delays_s=(0.05,)
    )
    await store.open()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable):
            await store.put_station(StationRecord("A"))
        other.execute("ROLLBACK")
        await store.put_station(StationRecord("A"))
        assert await store.get_station("A") == StationRecord("A")
    finally:
        other.close()
        await store.close()


async def test_sqlite_settings(store: SqlStore) -> None:
    async with store.engine.connect() as conn:
        values = [
            (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        ]
    assert values == ["wal", 2, 5000, 1]


async def test_write_after_close_is_refused(tmp_path: Path) -> None:
    s = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    await s.open()
    await s.close()
    with pytest.raises(StoreError, match="not open"):
        await s.put_station(StationRecord("A"))


async def test_sqlite_parent_directory_is_created(tmp_path: Path) -> None:
    s = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'a' / 'b' / 'x.db'}")
    await s.open()
    await s.close()
    assert (tmp_path / "a" / "b" / "x.db").is_file()


async def test_writes_queued_during_an_outage_fail_fast(store: SqlStore) -> None:
    taken, release = threading.Event(), threading.Event()

    async def run(conn: AsyncConnection) -> None:
        taken.set()  # on the writer thread, which holds the batch until the writes are queued
        release.wait(10)
        raise _locked()

    failing = asyncio.ensure_future(store.writer.submit(WriteOp(run)))
    await wait_until(taken.is_set, 10, "the writer running the failing batch")
    writes = Entered()  # a put_station reaches the writer's queue before its first wait
    queued = [writes.start(store.put_station(StationRecord(f"Q{i}"))) for i in range(5)]
    await wait_until(lambda: writes.inside == 5, 10, "five writes queued")
    release.set()
    results = await asyncio.gather(failing, *queued, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert len({id(r) for r in results}) == len(results)  # each caller its own exception
    assert store.writer.retries == 2  # one batch retried; the queued writes were not
    assert await store.list_stations() == []
    await store.put_station(StationRecord("A"))
    assert [s.station_id for s in await store.list_stations()] == ["A"]


async def test_meter_of_a_failed_batch_is_not_remembered(store: SqlStore) -> None:
    """A new meter is only cached as stored once its batch commits; after a failed batch
    the caller's retry stores it, and latest_samples finds it."""
    from csms.domain import MeterSample
    from csms.store import StoredSample

    s = StoredSample("CP1", 1, 1, None, MeterSample(T0, "Voltage", 230.0, "V", "L1-N"))

    class FailsLate(Coalesced[None]):
        """Merged writes run after the samples: this one fails the batch after them."""

        @classmethod
        async def run_many(cls, conn: AsyncConnection, ops: Sequence[Any]) -> list[None]:
            raise _locked()

    samples = asyncio.ensure_future(store.add_samples([s]))
    failing = asyncio.ensure_future(store.writer.submit(FailsLate()))  # same batch
    results = await asyncio.gather(failing, samples, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert await store.latest_samples("CP1") == []

    assert await store.add_samples([s]) == 1
    assert await store.latest_samples("CP1") == [s]


async def test_sqlite_batches_run_whole_on_the_writer_thread(store: SqlStore) -> None:
    threads: set[str] = set()

    async def run(conn: AsyncConnection) -> int:
        threads.add(threading.current_thread().name)
        return int((await conn.execute(sa.text("SELECT 41 + 1"))).scalar_one())

    async def sleeps(conn: AsyncConnection) -> None:
        # The behaviour under test, not a wait: an operation that awaits something other
        # than the database cannot run on the writer thread.
        await next_turn()

    results = await asyncio.gather(
        *(store.writer.submit(WriteOp(run)) for _ in range(20)),
        store.writer.submit(WriteOp(sleeps)),
        store.put_station(StationRecord("A")),
        return_exceptions=True,
    )
    assert results[:20] == [42] * 20
    assert isinstance(results[20], StoreError)
    assert "awaited something other than the database" in str(results[20])
    assert results[21] is None
    assert await store.get_station("A") is not None
    assert len(threads) == 1 and threading.current_thread().name not in threads


def _held() -> tuple[threading.Event, threading.Event, Any]:
    """A write that holds the writer's thread (mid-batch) until released."""
    taken, release = threading.Event(), threading.Event()

    async def run(conn: AsyncConnection) -> str:
        taken.set()
        release.wait(10)
        await conn.execute(sa.text("SELECT 1"))
        return "committed"

    return taken, release, run


async def _select_one(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.text("SELECT 1"))).scalar_one())


async def _cancelled_mid_commit(store: SqlStore) -> tuple[threading.Event, list[str]]:
    """A write held on the writer thread whose caller is cancelled meanwhile (the station
    goes away while its write commits): the event that lets it commit, and what its
    ``on_commit`` has seen."""
    taken, release, run = _held()
    seen: list[str] = []
    op = WriteOp(run)
    op.on_commit = seen.append
    caller = asyncio.ensure_future(store.writer.submit(op))
    await wait_until(taken.is_set, 10, "the batch on the writer thread")
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    return release, seen


async def test_on_commit_runs_for_a_caller_gone_during_the_commit(store: SqlStore) -> None:
    release, seen = await _cancelled_mid_commit(store)
    assert seen == []
    release.set()
    await wait_until(lambda: seen, 10, "on_commit called")
    assert seen == ["committed"]


async def test_on_commit_is_not_run_for_a_write_dropped_before_its_batch(store: SqlStore) -> None:
    taken, release, run = _held()
    first = asyncio.ensure_future(store.writer.submit(WriteOp(run)))
    await wait_until(taken.is_set, 10, "the first batch on the writer thread")
    seen: list[int] = []
    queued = WriteOp(_select_one)
    queued.on_commit = seen.append
    caller = asyncio.ensure_future(store.writer.submit(queued))
    await wait_until(lambda: store.writer._queue.qsize() == 1, 10, "the write queued")
    caller.cancel()  # gone before its batch: never committed
    await asyncio.gather(caller, return_exceptions=True)
    release.set()
    assert await first == "committed"
    later = WriteOp(_select_one)
    later.on_commit = seen.append
    assert await store.writer.submit(later) == 1  # a later batch: the queue has been taken
    assert seen == [1]  # the later write's, not the dropped one's


async def test_a_failing_on_commit_fails_its_caller_only(store: SqlStore) -> None:
    def refuse(result: int) -> None:
        raise ValueError(f"refused {result}")

    failing, fine = WriteOp(_select_one), WriteOp(_select_one)
    failing.on_commit = refuse
    results = await asyncio.gather(
        store.writer.submit(failing), store.writer.submit(fine), return_exceptions=True
    )
    assert isinstance(results[0], ValueError) and str(results[0]) == "refused 1"
    assert results[1] == 1


async def test_settle_returns_once_the_writes_before_it_committed(store: SqlStore) -> None:
    """What a stopping central system waits for: the write of a handler it cancelled
    commits and its on_commit runs before ``settle`` returns."""
    release, seen = await _cancelled_mid_commit(store)
    settling = asyncio.ensure_future(store.settle())
    await next_turn()
    assert not settling.done()
    release.set()
    await settling
    assert seen == ["committed"]
