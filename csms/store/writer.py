"""Group commit: one writer task commits the writes of many concurrent callers together.

Each caller submits a :class:`WriteOp` and awaits its future. The writer takes whatever is
queued (up to ``max_batch_ops``), runs the operations in order on one connection inside one
database transaction, commits, and only then resolves the futures: an acknowledged write is
durable, and a thousand callers cost one fsync instead of a thousand.

Operations of a :class:`Coalesced` kind (heartbeats, status reports) are merged and run as
one statement at the end of the batch.

A commit window (``commit_window_s``, decision 0242): when a write finds the writer idle, the
writer waits that long before taking the batch, so that writes arriving one by one (stations
reporting once a second each) share a commit rather than paying one each. A write that
arrives while a batch is committing has already waited, and is taken without a window.

Failures:

- a transient failure (see :mod:`csms.store.transient`) rolls the batch back and retries it
  after ``retry_delays_s``; when those are used up every caller of the batch, and every
  write queued meanwhile, gets :class:`~csms.exceptions.StoreUnavailable`. The store's
  writes are idempotent (only ``open_transaction`` with neither ``start_key`` nor
  ``station_tx_id`` is not), so a retry after an unknown commit outcome stores nothing
  twice;
- any other failure rolls the batch back and re-runs its operations one per transaction,
  so only the operation at fault fails (with its own exception).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar, cast

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.exceptions import StoreError, StoreUnavailable
from csms.store.own_thread import OwnThread
from csms.store.transient import is_transient

__all__ = ["MAX_COMMIT_WINDOW_S", "Coalesced", "GroupWriter", "WriteOp", "sqlite_dbapi"]

logger = logging.getLogger(__name__)

#: The longest commit window accepted: beyond it a station would wait noticeably for answers.
MAX_COMMIT_WINDOW_S = 1.0

T = TypeVar("T")


class WriteOp(Generic[T]):
    """One caller's write: ``run`` executes it on the batch's connection.

    ``on_commit`` (optional) is called with the result once the batch has committed, before
    the caller hears of it, even if the caller has stopped waiting meanwhile (a station
    gone, a server stopping): what must follow a commit (announcing it) follows it whatever
    becomes of the caller, with no task of its own per write (decision 0254)."""

    __slots__ = ("future", "on_commit", "run")

    def __init__(self, run: Callable[[AsyncConnection], Awaitable[T]]) -> None:
        self.run = run
        self.future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.on_commit: Callable[[T], object] | None = None


class Coalesced(WriteOp[T]):
    """A write that is merged with the others of its kind in a batch.

    Subclasses implement :meth:`run_many` (one result per operation, in order); ``run``
    runs a batch of one.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(self._run_alone)

    async def _run_alone(self, conn: AsyncConnection) -> T:
        results: list[T] = await type(self).run_many(conn, [self])
        return results[0]

    @classmethod
    async def run_many(cls, conn: AsyncConnection, ops: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    @classmethod
    def after_commit(cls, ops: Sequence[Any]) -> None:
        """Called once the batch that ran ``ops`` has committed (e.g. to update a cache)."""


class GroupWriter:
    """The single writer task of an engine."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch_ops: int = 256,
        retry_delays_s: Sequence[float] = (0.05, 0.25, 1.0),
        begin_options: dict[str, Any] | None = None,
        sync_engine: Engine | None = None,
        commit_window_s: float = 0.0,
    ) -> None:
        if max_batch_ops < 1:
            raise ValueError("max_batch_ops must be at least 1")
        if not 0.0 <= commit_window_s <= MAX_COMMIT_WINDOW_S:  # NaN fails too
            raise ValueError(
                f"commit_window_s must be between 0 and {MAX_COMMIT_WINDOW_S} s, "
                f"not {commit_window_s!r}"
            )
        self._commit_window_s = commit_window_s
        self._engine = engine
        #: With a synchronous engine (SQLite) a batch runs whole on the writer thread.
        self._sync_engine = sync_engine
        self._thread: OwnThread[list[WriteOp[Any]], list[Any]] | None = None
        #: the writer thread's connection, kept from batch to batch (the engine's pool holds
        #: this one connection only); dropped after a failed batch, opened again by the next
        self._sync_conn: Connection | None = None
        #: the same for a batch on the event loop (PostgreSQL)
        self._async_conn: AsyncConnection | None = None
        self._max_batch_ops = max_batch_ops
        self._retry_delays_s = tuple(retry_delays_s)
        self._begin_options = dict(begin_options or {})
        self._queue: asyncio.Queue[WriteOp[Any] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        #: Committed batches, operations in them, and batch retries after transient failures.
        #: ``windows``: batches whose writer waited ``commit_window_s`` for more writes.
        self.windows = 0
        self.batches = 0
        self.ops = 0
        self.retries = 0
        #: Seconds spent running batches (so ``busy_s / batches`` is the mean batch time).
        self.busy_s = 0.0

    def start(self) -> None:
        if self._task is None:
            if self._sync_engine is not None and self._thread is None:
                self._thread = OwnThread(self._execute_sync, name="store-writer")
            self._task = asyncio.create_task(self._loop(), name="store-writer")

    @property
    def commit_window_s(self) -> float:
        return self._commit_window_s

    @property
    def dead(self) -> bool:
        """Started, and its task ended without being stopped."""
        return self._task is not None and self._task.done()

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._thread is not None:
            await asyncio.to_thread(self._thread.stop)
            self._thread = None
        self._drop_sync_conn()
        await self._drop_async_conn()

    async def submit(self, op: WriteOp[T]) -> T:
        if self._task is None:
            raise StoreError("the store is not open")
        self._queue.put_nowait(op)
        return await op.future

    async def _loop(self) -> None:
        stopping = False
        while not stopping:
            idle = self._queue.empty()
            first = await self._queue.get()
            if first is None:
                break
            if idle and self._commit_window_s > 0.0:
                # The write found the writer idle: let the writes of the next moment join
                # its commit (the caller is answered after the commit either way).
                self.windows += 1
                await asyncio.sleep(self._commit_window_s)
            batch = [first]
            while len(batch) < self._max_batch_ops and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            batch = [op for op in batch if not op.future.done()]
            if not batch:
                continue
            started = time.perf_counter()
            try:
                await self._run_batch(batch)
            except Exception as exc:  # never let the writer die
                logger.exception("store writer failed a batch of %d", len(batch))
                _fail(batch, StoreError(f"store writer failed: {exc!r}"))
            self.busy_s += time.perf_counter() - started
        # Anything submitted after close() began is refused, not left waiting.
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                _fail([item], StoreError("the store is closed"))

    async def _run_batch(self, batch: list[WriteOp[Any]], *, alone: bool = False) -> None:
        attempt = 0
        while True:
            try:
                results = await self._execute(batch)
            except Exception as exc:
                if is_transient(exc):
                    if attempt < len(self._retry_delays_s):
                        delay = self._retry_delays_s[attempt]
                        attempt += 1
                        self.retries += 1
                        logger.warning(
                            "database unavailable (%s); retrying %d writes in %.2f s",
                            exc.__class__.__name__,
                            len(batch),
                            delay,
                        )
                        await asyncio.sleep(delay)
                        continue
                    error = _unavailable(exc)
                    _fail(batch, error)
                    # What queued up meanwhile would wait out the same retries: fail it now,
                    # its callers retry when the database is back.
                    self._fail_queued(error)
                    return
                if len(batch) > 1 and not alone:
                    for op in batch:
                        await self._run_batch([op], alone=True)
                    return
                _fail(batch, _as_store_error(exc))
                return
            self.batches += 1
            self.ops += len(batch)
            for op, result in zip(batch, results, strict=True):
                _committed(op, result)
            return

    def _fail_queued(self, error: BaseException) -> None:
        kept: list[WriteOp[Any] | None] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                kept.append(item)
            else:
                _fail([item], error)
        for item in kept:
            self._queue.put_nowait(item)

    async def _execute(self, batch: list[WriteOp[Any]]) -> list[Any]:
        if self._thread is not None:
            done = await self._thread.run(batch)
            for kind, members in _coalesced(batch).items():
                kind.after_commit([op for _, op in members])
            return done
        results: list[Any] = [None] * len(batch)
        groups: dict[type[Coalesced[Any]], list[tuple[int, Coalesced[Any]]]] = {}
        conn = self._async_conn
        if conn is None:
            # Kept from batch to batch, as on SQLite's writer thread: a pool checkout and
            # check-in per batch cost more than a small batch's statements.
            conn = await self._engine.connect()
            self._async_conn = conn
            if self._begin_options:
                await conn.execution_options(**self._begin_options)
        try:
            async with conn.begin():
                for i, op in enumerate(batch):
                    if isinstance(op, Coalesced):
                        groups.setdefault(type(op), []).append((i, op))
                    else:
                        results[i] = await op.run(conn)
                for kind, members in groups.items():
                    values = await kind.run_many(conn, [op for _, op in members])
                    for (i, _), value in zip(members, values, strict=True):
                        results[i] = value
        except BaseException:
            # A connection that failed a batch (the database restarted, a statement broke
            # it) is not trusted with the next one: the next batch checks out another.
            await self._drop_async_conn()
            raise
        for kind, members in groups.items():
            kind.after_commit([op for _, op in members])
        return results

    def _execute_sync(self, batch: list[WriteOp[Any]]) -> list[Any]:
        """:meth:`_execute` on the writer thread: the operations' coroutines run to the end
        against :class:`_SyncConnection`, whose ``execute`` never suspends."""
        assert self._sync_engine is not None
        results: list[Any] = [None] * len(batch)
        groups = _coalesced(batch)
        sync_conn = self._sync_conn
        if sync_conn is None:
            # Once, not per batch: a pool checkout, a Connection and a reset (a rollback) on
            # the way back cost about as much as a small batch's statements.
            sync_conn = self._sync_conn = self._sync_engine.connect()
            if self._begin_options:
                sync_conn.execution_options(**self._begin_options)
        try:
            conn = cast(AsyncConnection, _SyncConnection(sync_conn))
            with sync_conn.begin():
                for i, op in enumerate(batch):
                    if not isinstance(op, Coalesced):
                        results[i] = _drive(op.run(conn))
                for kind, members in groups.items():
                    values = _drive(kind.run_many(conn, [op for _, op in members]))
                    for (i, _), value in zip(members, values, strict=True):
                        results[i] = value
        except BaseException:
            # The transaction was rolled back; a connection that failed is not trusted with
            # the next batch (a new one is opened, as the pool did per batch before).
            self._drop_sync_conn()
            raise
        return results

    async def _drop_async_conn(self) -> None:
        conn, self._async_conn = self._async_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def _drop_sync_conn(self) -> None:
        conn, self._sync_conn = self._sync_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


class _SyncConnection:
    """What a write operation uses of an ``AsyncConnection``, on a synchronous connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, statement: Any, parameters: Any = None, **kw: Any) -> Any:
        return self._conn.execute(statement, parameters, **kw)

    @property
    def dbapi(self) -> Any:
        """The pysqlite connection under the batch's transaction."""
        return self._conn.connection.driver_connection


def sqlite_dbapi(conn: Any) -> Any:
    """The ``sqlite3`` connection of a batch running on the SQLite writer's thread (its
    transaction is the batch's); None on any other connection."""
    return conn.dbapi if isinstance(conn, _SyncConnection) else None


def _drive(awaitable: Awaitable[T]) -> T:
    """Run an awaitable that never suspends (it only awaits :class:`_SyncConnection`)."""
    steps = awaitable.__await__()
    try:
        next(steps)
    except StopIteration as done:
        return cast(T, done.value)
    steps.close()
    raise StoreError("a write operation awaited something other than the database")


def _coalesced(
    batch: Sequence[WriteOp[Any]],
) -> dict[type[Coalesced[Any]], list[tuple[int, Coalesced[Any]]]]:
    groups: dict[type[Coalesced[Any]], list[tuple[int, Coalesced[Any]]]] = {}
    for i, op in enumerate(batch):
        if isinstance(op, Coalesced):
            groups.setdefault(type(op), []).append((i, op))
    return groups


def _committed(op: WriteOp[T], result: T) -> None:
    """``op``'s batch committed: its ``on_commit`` runs (whether or not its caller still
    waits), then its caller gets the result, or what ``on_commit`` raised."""
    if op.on_commit is not None:
        try:
            op.on_commit(result)
        except Exception as exc:
            if not op.future.done():
                op.future.set_exception(exc)
            else:
                logger.exception("after a commit whose caller had gone")
            return
    if not op.future.done():
        op.future.set_result(result)


def _fail(batch: Sequence[WriteOp[Any]], error: BaseException) -> None:
    """Fail each caller with its own copy of ``error`` (an exception raised in several tasks
    would collect all their tracebacks)."""
    for op in batch:
        if not op.future.done():
            op.future.set_exception(_copy(error))


def _copy(error: BaseException) -> BaseException:
    if not isinstance(error, StoreError) or type(error).__init__ is not StoreError.__init__:
        return error
    copy = type(error)(*error.args)
    copy.__cause__ = error.__cause__
    return copy


def _unavailable(exc: BaseException) -> StoreUnavailable:
    error = StoreUnavailable(f"database unavailable: {exc.__class__.__name__}: {exc}")
    error.__cause__ = exc
    return error


def _as_store_error(exc: BaseException) -> BaseException:
    if isinstance(exc, SQLAlchemyError):
        error = StoreError(f"database error: {exc.__class__.__name__}: {exc}")
        error.__cause__ = exc
        return error
    return exc
