"""The change feed of station records: what a node reads to know which of its cached
station records another writer changed (decision 0246).

Triggers on ``stations`` (migration 0012) add a ``station_changes`` row, numbered in commit
order, whenever a station is created or deleted or its passwords, registration or security
profiles change, whoever writes it: this process, another node on the same PostgreSQL, the
API, ``chargegrid station`` on the database file. A reader asks for the rows from the number
it last saw: the first row returned must be that one (otherwise the rows it needed were
pruned or the table was emptied, and it must forget everything it cached).

- SQLite: the query runs on a thread of its own, on a connection of its own that never
  writes and never waits for a lock (a busy database is
  :class:`~csms.exceptions.StoreUnavailable` at once). ``PRAGMA data_version`` tells whether
  anyone committed anything since the last query; when nobody did, the last answer stands
  without a query. Not on the event loop (decision 0248): the busy timeout does not bound
  the start of a read in WAL mode, where SQLite retries for up to about 10 s, sleeping
  longer each time, while the wal-index it reads changes under it; on the event loop such a
  read held every handshake in progress past its timeout.
- PostgreSQL: one asyncpg connection of its own, one query at a time.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, Protocol

import sqlalchemy as sa

from csms.exceptions import StoreUnavailable
from csms.store.own_thread import OwnThread

__all__ = ["PostgresStationFeed", "SqliteStationFeed", "StationFeed", "open_station_feed"]

#: One change: its number and the station it concerns.
Change = tuple[int, str]

_CHANGES = "SELECT seq, station_id FROM station_changes WHERE seq >= {0} ORDER BY seq LIMIT {1}"
_POSITION = "SELECT coalesce(max(seq), 0) FROM station_changes"


class StationFeed(Protocol):
    """Where a node reads which station records changed."""

    async def position(self) -> int:
        """The number of the latest change (0 when there is none)."""

    async def changes(self, since: int, limit: int) -> list[Change]:
        """The changes numbered ``since`` and after, committed before this call, oldest
        first, at most ``limit``. :class:`StoreUnavailable` when they cannot be read."""

    async def close(self) -> None: ...


class SqliteStationFeed:
    """The feed of an SQLite file, read on a thread of its own (one connection, one query
    at a time)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._last: tuple[int, int, list[Change]] | None = None
        self._thread: OwnThread[Callable[[], Any], Any] | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # timeout=0: never wait for a lock; a busy file is a failed read, and the caller
            # reads the store as it did without a feed.
            conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
            conn.execute("PRAGMA query_only=1")
            self._conn = conn
        return self._conn

    def _fetch(self, sql: str, *params: Any) -> list[Any]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            self._drop()
            raise StoreUnavailable(f"station changes unreadable: {exc}") from exc

    def _drop(self) -> None:
        conn, self._conn, self._version, self._last = self._conn, None, None, None
        if conn is not None:
            conn.close()

    def _changes(self, since: int, limit: int) -> list[Change]:
        """On the feed's thread."""
        version = self._fetch("PRAGMA data_version")[0][0]
        last = self._last
        if version == self._version and last is not None and last[:2] == (since, limit):
            return last[2]  # nobody committed anything since: the same answer
        rows = [(int(s), str(i)) for s, i in self._fetch(_CHANGES.format("?", "?"), since, limit)]
        self._version, self._last = version, (since, limit, rows)
        return rows

    def _position(self) -> int:
        return int(self._fetch(_POSITION)[0][0])

    async def _on_thread(self, call: Callable[[], Any]) -> Any:
        if self._thread is None:
            self._thread = OwnThread(_call, name="station-feed")
        return await self._thread.run(call)

    async def position(self) -> int:
        return int(await self._on_thread(self._position))

    async def changes(self, since: int, limit: int) -> list[Change]:
        rows: list[Change] = await self._on_thread(lambda: self._changes(since, limit))
        return rows

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            # After a read still under way (the connection is the thread's).
            await thread.run(self._drop)
            await asyncio.to_thread(thread.stop)


def _call(job: Callable[[], Any]) -> Any:
    return job()


class PostgresStationFeed:
    """The feed of a PostgreSQL database, on an asyncpg connection of its own (opened at
    the first read, again after a failure)."""

    def __init__(self, url: str, *, connect_timeout_s: float, statement_timeout_s: float) -> None:
        self._dsn = (
            sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._connect_timeout_s = connect_timeout_s
        self._statement_timeout_s = statement_timeout_s
        self._conn: Any = None
        self._lock = asyncio.Lock()

    async def _fetch(self, sql: str, *params: Any) -> list[Any]:
        import asyncpg  # type: ignore[import-untyped]

        async with self._lock:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(
                        self._dsn,
                        timeout=self._connect_timeout_s,
                        command_timeout=self._statement_timeout_s,
                    )
                return list(await self._conn.fetch(sql, *params))
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                await self._drop()
                raise StoreUnavailable(f"station changes unreadable: {exc}") from exc

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def position(self) -> int:
        return int((await self._fetch(_POSITION))[0][0])

    async def changes(self, since: int, limit: int) -> list[Change]:
        rows = await self._fetch(_CHANGES.format("$1", "$2"), since, limit)
        return [(int(r[0]), str(r[1])) for r in rows]

    async def close(self) -> None:
        async with self._lock:
            await self._drop()


def open_station_feed(
    url: str, dialect: str, *, connect_timeout_s: float = 5.0, statement_timeout_s: float = 30.0
) -> StationFeed:
    """The feed of the database at ``url`` (an SQLite file or PostgreSQL)."""
    if dialect == "sqlite":
        database = sa.make_url(url).database
        assert database  # dialect_of refuses an empty path
        return SqliteStationFeed(database)
    return PostgresStationFeed(
        url, connect_timeout_s=connect_timeout_s, statement_timeout_s=statement_timeout_s
    )
