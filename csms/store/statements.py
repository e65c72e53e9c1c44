"""Reading and writing tables that live beside the store on a :class:`~csms.store.SqlStore`'s
engine and group-commit writer (the API's, DER and battery-swap tables): reads whose transient
failures are :class:`~csms.exceptions.StoreUnavailable` (so the core holds and retries the
answer), writes that go through the writer like the store's own. :class:`SqlTables` is the
base of the repositories that keep their records there; :func:`where_equal` narrows a query
by the filters a caller gave (the store's list queries use it too)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.exceptions import StoreError, StoreUnavailable
from csms.store.sql_access import SqlAccess
from csms.store.transient import is_transient
from csms.store.writer import WriteOp

__all__ = ["SqlTables", "read_rows", "where_equal", "write_statements"]

R = TypeVar("R")
S = TypeVar("S", bound="sa.Select[Any]")


async def read_rows(store: SqlAccess, stmt: sa.Select[Any]) -> list[sa.RowMapping]:
    """The rows of ``stmt``; :class:`StoreUnavailable` when the database is unreachable."""
    try:
        async with store.engine.connect() as conn:
            return list((await conn.execute(stmt)).mappings().all())
    except Exception as exc:
        if is_transient(exc):
            raise StoreUnavailable(f"database unavailable: {exc}") from exc
        if isinstance(exc, sa.exc.SQLAlchemyError):
            raise StoreError(f"database error: {exc}") from exc
        raise


async def write_statements(store: SqlAccess, stmts: Sequence[Any]) -> None:
    """Execute ``stmts`` in one transaction of the group-commit writer."""

    async def run(conn: AsyncConnection) -> None:
        for stmt in stmts:
            await conn.execute(stmt)

    await store.writer.submit(WriteOp(run))


def where_equal(stmt: S, columns: sa.ColumnCollection[str, Any], **values: Any) -> S:
    """``stmt`` narrowed to the rows whose column of each keyword's name equals its value,
    in the order given; a value of None narrows nothing (the caller did not filter on it)."""
    for name, value in values.items():
        if value is not None:
            stmt = stmt.where(columns[name] == value)
    return stmt


class SqlTables:
    """A repository of records in tables beside a :class:`~csms.store.SqlStore`'s: its
    reads through :func:`read_rows`, its writes through the store's group-commit writer."""

    def __init__(self, store: SqlAccess) -> None:
        self._store = store

    async def _rows(self, stmt: sa.Select[Any]) -> list[sa.RowMapping]:
        return await read_rows(self._store, stmt)

    async def _first(self, stmt: sa.Select[Any]) -> sa.RowMapping | None:
        rows = await self._rows(stmt)
        return rows[0] if rows else None

    async def _run(self, run: Callable[[AsyncConnection], Awaitable[R]]) -> R:
        """``run`` on the writer's connection, committed with its batch."""
        return await self._store.writer.submit(WriteOp(run))

    async def _execute(self, stmt: Any) -> int:
        """One write statement; how many rows it touched."""

        async def run(conn: AsyncConnection) -> int:
            return int((await conn.execute(stmt)).rowcount)

        return await self._run(run)

    async def _write(self, stmts: Sequence[Any]) -> None:
        """``stmts`` in one transaction."""
        await write_statements(self._store, stmts)
