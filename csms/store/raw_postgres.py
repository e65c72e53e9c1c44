"""The hot writes on PostgreSQL straight through asyncpg (decision 0230).

On PostgreSQL the group-commit writer runs on the event loop, so SQLAlchemy's work per
row (parameters built and processed row by row, the ``insertmanyvalues`` rewrite of an
INSERT with RETURNING, result rows wrapped) was the event loop's largest single cost for a
TransactionEvent. Here a batch's rows go as one array per column (``unnest``) in one
statement on the batch's own asyncpg connection, inside the batch's transaction (started
through SQLAlchemy first when it has not begun yet), so they commit or roll back with it.
The statements are built from the table definitions. A failure a retry can cure is raised
as it is (the writer's transient test reads asyncpg's errors); any other is a
:class:`~csms.exceptions.StoreError`, as through SQLAlchemy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.exceptions import StoreError
from csms.store.tables import UtcDateTime
from csms.store.transient import is_transient

__all__ = ["KeyedUpdate", "UnnestInsert", "asyncpg_connection", "driver_errors"]


def _pg_type(column: sa.Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return "timestamptz"
    if isinstance(kind, sa.Boolean):
        return "boolean"
    if isinstance(kind, sa.BigInteger):
        return "bigint"
    if isinstance(kind, sa.Integer):
        return "integer"
    if isinstance(kind, sa.Float):
        return "float8"
    if isinstance(kind, sa.String):
        return "text"
    raise TypeError(f"no PostgreSQL type for {column}")


def _aware(value: Any) -> Any:
    """A naive datetime taken as UTC (as :class:`~csms.store.tables.UtcDateTime` does)."""
    if type(value) is datetime and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class UnnestInsert:
    """``INSERT INTO table (columns) SELECT * FROM unnest($1::type[], ...)`` plus a tail
    (``ON CONFLICT DO NOTHING``, ``RETURNING ...``): the rows go as one array per column."""

    __slots__ = ("columns", "sql")

    def __init__(self, table: sa.Table, columns: Sequence[str], tail: str = "") -> None:
        self.columns = tuple(columns)
        arrays = ", ".join(
            f"${i}::{_pg_type(table.c[name])}[]" for i, name in enumerate(self.columns, 1)
        )
        names = ", ".join(self.columns)
        self.sql = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays}) {tail}"

    def arrays(self, rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
        return [[_aware(row[name]) for row in rows] for name in self.columns]

    async def fetch(self, driver: Any, rows: Sequence[dict[str, Any]]) -> list[Any]:
        with driver_errors():
            return list(await driver.fetch(self.sql, *self.arrays(rows)))

    async def execute(self, driver: Any, rows: Sequence[dict[str, Any]]) -> None:
        with driver_errors():
            await driver.execute(self.sql, *self.arrays(rows))


class KeyedUpdate:
    """``UPDATE table SET column = $n, ... WHERE key = $1`` run for many rows at once
    (asyncpg's pipelined ``executemany``), in the order given (the caller's key order, so
    two writers updating the same rows cannot deadlock each other); parameters named
    ``b_<column>``, the key ``b_<key>``."""

    __slots__ = ("columns", "sql")

    def __init__(self, table: sa.Table, key: str, columns: Sequence[str]) -> None:
        self.columns = (key, *columns)
        sets = ", ".join(
            f"{name} = ${i}::{_pg_type(table.c[name])}" for i, name in enumerate(columns, 2)
        )
        self.sql = f"UPDATE {table.name} SET {sets} WHERE {key} = $1"

    async def execute(self, driver: Any, rows: Sequence[dict[str, Any]]) -> None:
        args = [tuple(_aware(row[f"b_{name}"]) for name in self.columns) for row in rows]
        with driver_errors():
            await driver.executemany(self.sql, args)


async def asyncpg_connection(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn``, inside the transaction ``conn`` has begun
    (SQLAlchemy sends BEGIN with its first statement: one is sent here if none was yet)."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        await conn.execute(sa.text("SELECT 1"))
    return driver


@contextlib.contextmanager
def driver_errors() -> Iterator[None]:
    """An asyncpg failure a retry can cure as it is; any other as a StoreError."""
    try:
        yield
    except Exception as exc:
        if is_transient(exc):
            raise
        raise StoreError(f"database error: {type(exc).__name__}: {exc}") from exc
