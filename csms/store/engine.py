"""Creating the async engine for a database URL, with the settings each dialect needs.

SQLite (``sqlite+aiosqlite:///path``): WAL journal (readers never block the writer),
``PRAGMA synchronous`` from the durability level, a busy timeout, foreign keys on, and
explicit ``BEGIN`` statements so the writer can take the write lock up front
(``BEGIN IMMEDIATE``).

PostgreSQL (``postgresql+asyncpg://...``): a connection pool; ``synchronous_commit`` from
the durability level.

The durability level (``database.durability``, decision 0251) says what a commit survives
once it has returned (and so once a station has been answered):

- ``power-loss``: it is on disk. SQLite ``synchronous=FULL`` (an fsync per commit);
  PostgreSQL keeps the server's ``synchronous_commit`` (``on`` unless its administrator
  chose otherwise).
- ``crash``: it survives a SIGKILL or crash of the central system, and the database stays
  consistent, but a power cut or an operating system crash (and with PostgreSQL a crash of
  the database server) can lose the last commits, about the last second's. SQLite
  ``synchronous=NORMAL`` (WAL: no fsync at a commit, only at a checkpoint); PostgreSQL
  ``synchronous_commit=off`` on the store's connections (the server writes its WAL to disk
  within three ``wal_writer_delay``s).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Literal, get_args

from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from csms.exceptions import ConfigError

__all__ = [
    "DURABILITY_LEVELS",
    "SQLITE_SYNCHRONOUS",
    "Durability",
    "check_durability",
    "create_engine",
    "create_sqlite_writer_engine",
    "dialect_of",
]

SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

#: What a returned commit survives (see the module docstring), safest first.
Durability = Literal["power-loss", "crash"]
DURABILITY_LEVELS: tuple[str, ...] = get_args(Durability)
#: SQLite's ``PRAGMA synchronous`` for each level.
_SQLITE_SYNCHRONOUS_OF = {"power-loss": "FULL", "crash": "NORMAL"}
#: PostgreSQL's ``synchronous_commit`` for each level (None: the server's own).
_PG_SYNCHRONOUS_COMMIT_OF: dict[str, str | None] = {"power-loss": None, "crash": "off"}

#: Execution option read by the ``begin`` hook: the SQLite transaction mode.
SQLITE_BEGIN_OPTION = "chargegrid_sqlite_begin"


def dialect_of(url: str | URL) -> str:
    """``"sqlite"`` or ``"postgresql"``; :class:`ConfigError` for anything else."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"invalid database URL {str(url)!r}: {exc}") from exc
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" and driver == "aiosqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError("an SQLite store needs a file: sqlite+aiosqlite:///path/to/file.db")
        return "sqlite"
    if backend == "postgresql" and driver == "asyncpg":
        return "postgresql"
    raise ConfigError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: expected "
        "memory://, sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
    )


def check_durability(level: str) -> str:
    """``level`` if it is one of :data:`DURABILITY_LEVELS`, else :class:`ConfigError`."""
    if level not in DURABILITY_LEVELS:
        raise ConfigError(
            f"durability must be one of {', '.join(DURABILITY_LEVELS)}, not {level!r}"
        )
    return level


def _sqlite_mode(durability: str, sqlite_synchronous: str | None) -> str:
    """The ``PRAGMA synchronous`` of ``durability``, or ``sqlite_synchronous`` if given."""
    mode = _SQLITE_SYNCHRONOUS_OF[check_durability(durability)]
    if sqlite_synchronous is not None:
        mode = sqlite_synchronous.upper()
        if mode not in SQLITE_SYNCHRONOUS:
            raise ConfigError(
                f"sqlite_synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS)}, "
                f"not {sqlite_synchronous!r}"
            )
    return mode


def create_engine(
    url: str | URL,
    *,
    durability: str = "power-loss",
    sqlite_synchronous: str | None = None,
    sqlite_busy_timeout_s: float = 5.0,
    pool_size: int = 5,
    max_overflow: int = 5,
    connect_timeout_s: float = 5.0,
    statement_timeout_s: float = 30.0,
    echo: bool = False,
) -> AsyncEngine:
    """The engine for ``url`` (see the module docstring for what each dialect gets);
    ``sqlite_synchronous``, if given, overrides the durability level's pragma."""
    dialect = dialect_of(url)
    if dialect == "sqlite":
        mode = _sqlite_mode(durability, sqlite_synchronous)
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": sqlite_busy_timeout_s},
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        _install_sqlite_hooks(
            engine.sync_engine, synchronous=mode, busy_timeout_s=sqlite_busy_timeout_s
        )
        return engine
    # No pool_pre_ping: it cost a round trip to the server on every checkout (every read,
    # every connection's admission). A connection the server dropped fails its first
    # statement as a disconnection, which invalidates the pool, and the store's reads and
    # writes retry transient failures on a fresh connection (test_pg_outage).
    connect_args: dict[str, Any] = {
        "timeout": connect_timeout_s,
        "command_timeout": statement_timeout_s,
    }
    synchronous_commit = _PG_SYNCHRONOUS_COMMIT_OF[check_durability(durability)]
    if synchronous_commit is not None:
        # Sent with the connection's startup packet: no statement, no round trip.
        connect_args["server_settings"] = {"synchronous_commit": synchronous_commit}
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args=connect_args,
    )


def create_sqlite_writer_engine(
    url: str | URL,
    *,
    durability: str = "power-loss",
    sqlite_synchronous: str | None = None,
    sqlite_busy_timeout_s: float = 5.0,
    pool_size: int = 1,
) -> Engine:
    """A synchronous (pysqlite) engine on the SQLite file of ``url``, with the same settings
    as :func:`create_engine`: the group-commit writer runs a whole batch on it in its own
    thread, one hand-over per batch instead of one per statement (aiosqlite); the store's
    reads run each query whole on one of ``pool_size`` connections the same way."""
    parsed = make_url(url)
    if dialect_of(parsed) != "sqlite":
        raise ConfigError("a writer engine is for SQLite only")
    mode = _sqlite_mode(durability, sqlite_synchronous)
    engine = sa_create_engine(
        parsed.set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": sqlite_busy_timeout_s, "check_same_thread": False},
        pool_size=pool_size,
        max_overflow=0,
    )
    _install_sqlite_hooks(engine, synchronous=mode, busy_timeout_s=sqlite_busy_timeout_s)
    return engine


def _install_sqlite_hooks(sync_engine: Engine, *, synchronous: str, busy_timeout_s: float) -> None:

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Let SQLAlchemy's begin hook below issue BEGIN itself (pysqlite's own is lazy).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # The busy timeout first: switching a new file to WAL takes a lock that another
            # connection may hold at that moment, and without it SQLite refuses at once.
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            switch_to_wal(cursor, busy_timeout_s)
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    del _on_connect, _on_begin


def switch_to_wal(cursor: Any, busy_timeout_s: float) -> None:
    """Put the file in WAL mode. Two connections switching a new file at the same moment
    each hold a shared lock and want the exclusive one: SQLite refuses one of them at once
    ("database is locked") without its busy handler, to break the deadlock. The other's
    switch ends in milliseconds, after which ours is a no-op: try again until the busy
    timeout has passed, then refuse as SQLite does."""
    deadline = time.monotonic() + busy_timeout_s
    pause_s = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause_s)
        pause_s = min(pause_s * 2, 0.05)
