"""The SQL store's access to its database: SQLite (embedded default) or PostgreSQL through
SQLAlchemy 2 (async Core), every write through one :class:`~csms.store.writer.GroupWriter`
(group commit), reads on the pool (SQLite: on two reader threads, decision 0226), failures
a retry can cure retried a few times and then raised as
:class:`~csms.exceptions.StoreUnavailable`. :class:`~csms.store.sql.SqlStore` builds the
store's statements on it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.exceptions import StoreError, StoreUnavailable
from csms.store.engine import (
    SQLITE_BEGIN_OPTION,
    check_durability,
    create_engine,
    create_sqlite_writer_engine,
    dialect_of,
)
from csms.store.migrate import ensure_schema
from csms.store.ops import dialect_insert
from csms.store.station_feed import StationFeed, open_station_feed
from csms.store.transient import is_transient
from csms.store.writer import GroupWriter, WriteOp

__all__ = ["SqlAccess"]

R = TypeVar("R")

#: Reader threads (and their connections) of an SQLite store.
_SQLITE_READERS = 2


class SqlAccess:
    """A SQL database behind the store: the engines, the group-commit writer, and reads
    retried on transient failures (the options are :class:`~csms.store.sql.SqlStore`'s)."""

    def __init__(
        self,
        url: str,
        *,
        auto_migrate: bool = True,
        max_batch_ops: int = 256,
        retry_delays_s: Sequence[float] = (0.05, 0.25, 1.0),
        durability: str = "power-loss",
        sqlite_synchronous: str | None = None,
        sqlite_busy_timeout_s: float = 5.0,
        pool_size: int = 10,
        max_overflow: int = 0,
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = 30.0,
        commit_window_s: float = 0.0,
    ) -> None:
        self.url = url
        self.dialect = dialect_of(url)
        #: what a returned commit survives (``power-loss`` or ``crash``, decision 0251)
        self.durability = check_durability(durability)
        self._auto_migrate = auto_migrate
        #: Meters known to be in the database (see SamplesOp); grows with the fleet.
        self._known_meters: set[tuple[Any, ...]] = set()
        self._retry_delays_s = tuple(retry_delays_s)
        self._connect_timeout_s = connect_timeout_s
        self._statement_timeout_s = statement_timeout_s
        # A pool that never opens connections beyond ``pool_size`` (max_overflow 0): with
        # overflow, a burst of reads (50 stations being admitted at once) opened extra
        # connections that were closed again on return, about one new PostgreSQL
        # connection (a server process and its authentication) per station connecting.
        # Past the pool, a read waits for a connection instead.
        self._engine: AsyncEngine = create_engine(
            url,
            durability=durability,
            sqlite_synchronous=sqlite_synchronous,
            sqlite_busy_timeout_s=sqlite_busy_timeout_s,
            pool_size=pool_size,
            max_overflow=max_overflow,
            connect_timeout_s=connect_timeout_s,
            statement_timeout_s=statement_timeout_s,
        )
        begin = {SQLITE_BEGIN_OPTION: "IMMEDIATE"} if self.dialect == "sqlite" else None

        def sqlite_engine(**pool: int) -> Engine | None:
            if self.dialect != "sqlite":
                return None
            return create_sqlite_writer_engine(
                url,
                durability=durability,
                sqlite_synchronous=sqlite_synchronous,
                sqlite_busy_timeout_s=sqlite_busy_timeout_s,
                **pool,
            )

        # SQLite: the writer runs each batch whole on its own thread (one hand-over per
        # batch); aiosqlite would hand every statement to its thread and back.
        self._sync_engine = sqlite_engine()
        # SQLite reads: each query runs whole on a reader thread with its own pysqlite
        # connection (WAL: readers never wait for the writer), one hand-over per read where
        # aiosqlite takes about ten (a station's admission read cost 0.5 ms of CPU, now 0.15).
        self._read_engine = sqlite_engine(pool_size=_SQLITE_READERS)
        self._read_pool: ThreadPoolExecutor | None = None
        # PostgreSQL: a one-statement read needs no transaction of its own (the statement
        # sees one snapshot anyway); without it the BEGIN and ROLLBACK are not sent.
        self._statement_engine: AsyncEngine = (
            self._engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else self._engine
        )
        self._writer = GroupWriter(
            self._engine,
            max_batch_ops=max_batch_ops,
            retry_delays_s=retry_delays_s,
            begin_options=begin,
            sync_engine=self._sync_engine,
            commit_window_s=commit_window_s,
        )

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def writer(self) -> GroupWriter:
        return self._writer

    def station_feed(self) -> StationFeed:
        """A new reader of the station change feed (:mod:`csms.store.station_feed`)."""
        return open_station_feed(
            self.url,
            self.dialect,
            connect_timeout_s=self._connect_timeout_s,
            statement_timeout_s=self._statement_timeout_s,
        )

    async def prune_station_changes(self, *, keep: int) -> None:
        """Delete all but the newest ``keep`` rows of the station change feed (a reader
        that needed one of them forgets its cache and starts again)."""

        async def run(conn: AsyncConnection) -> None:
            latest = (await conn.execute(sa.text("SELECT max(seq) FROM station_changes"))).scalar()
            if latest is not None and latest > keep:
                await conn.execute(
                    sa.text("DELETE FROM station_changes WHERE seq <= :upto"),
                    {"upto": latest - keep},
                )

        await self._write(run)

    def _insert(self, table: sa.Table) -> Any:
        return dialect_insert(self.dialect, table)

    def _by_text(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        """Order text by code point on both dialects (PostgreSQL would use its locale)."""
        return column.collate("C") if self.dialect == "postgresql" else column

    async def open(self) -> None:
        if self.dialect == "sqlite":
            database = sa.make_url(self.url).database
            assert database is not None  # dialect_of refuses an empty path
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        try:
            await ensure_schema(self._engine, create=self._auto_migrate)
        except Exception as exc:
            # The caller will not close a store that never opened.
            await self._engine.dispose()
            if self._sync_engine is not None:
                self._sync_engine.dispose()
            if is_transient(exc):
                raise StoreUnavailable(f"cannot open the database: {exc}") from exc
            raise
        if self._read_engine is not None:
            self._read_pool = ThreadPoolExecutor(_SQLITE_READERS, thread_name_prefix="sqlite-read")
        self._writer.start()

    async def close(self) -> None:
        await self._writer.stop()
        if self._read_pool is not None:
            await asyncio.to_thread(self._read_pool.shutdown)
            self._read_pool = None
        await self._engine.dispose()
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        if self._read_engine is not None:
            self._read_engine.dispose()

    async def settle(self) -> None:
        # The writer takes writes in order and runs one batch at a time: an empty write
        # behind them commits after every write before it.
        await self._writer.submit(WriteOp(_nothing))

    async def _write(self, run: Callable[[AsyncConnection], Awaitable[R]]) -> R:
        return await self._writer.submit(WriteOp(run))

    async def _read(self, run: Callable[[AsyncConnection], Awaitable[R]]) -> R:
        async def once() -> R:
            async with self._engine.connect() as conn:
                return await run(conn)

        return await self._retried(once)

    async def _retried(self, once: Callable[[], Awaitable[R]]) -> R:
        """``once()``, again after ``retry_delays_s`` while it fails transiently; then
        :class:`StoreUnavailable`. Other database errors are :class:`StoreError`."""
        attempt = 0
        while True:
            try:
                return await once()
            except Exception as exc:
                if not is_transient(exc):
                    if isinstance(exc, sa.exc.SQLAlchemyError):
                        raise StoreError(f"database error: {exc}") from exc
                    raise
                if attempt >= len(self._retry_delays_s):
                    raise StoreUnavailable(f"database unavailable: {exc}") from exc
                await asyncio.sleep(self._retry_delays_s[attempt])
                attempt += 1

    async def _all(
        self, stmt: sa.Select[Any], params: dict[str, Any] | None = None
    ) -> list[sa.RowMapping]:
        engine, pool = self._read_engine, self._read_pool
        if engine is not None and pool is not None:
            # SQLite: the query runs whole on a reader thread.
            def on_thread() -> list[sa.RowMapping]:
                with engine.connect() as conn:
                    return list(conn.execute(stmt, params).mappings().all())

            loop = asyncio.get_running_loop()
            return await self._retried(lambda: loop.run_in_executor(pool, on_thread))

        async def once() -> list[sa.RowMapping]:
            async with self._statement_engine.connect() as conn:
                return list((await conn.execute(stmt, params)).mappings().all())

        return await self._retried(once)

    async def _one(
        self, stmt: sa.Select[Any], params: dict[str, Any] | None = None
    ) -> sa.RowMapping | None:
        rows = await self._all(stmt, params)
        return rows[0] if rows else None


async def _nothing(conn: AsyncConnection) -> None:
    del conn
