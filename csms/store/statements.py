"""Reading and writing tables that live beside the store on a :class:`SqlStore`'s engine
and group-commit writer (the DER and battery-swap tables): reads whose transient failures
are :class:`~csms.exceptions.StoreUnavailable` (so the core holds and retries the answer),
writes that go through the writer like the store's own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.exceptions import StoreError, StoreUnavailable
from csms.store.sql import SqlStore
from csms.store.transient import is_transient
from csms.store.writer import WriteOp

__all__ = ["read_rows", "write_statements"]


async def read_rows(store: SqlStore, stmt: sa.Select[Any]) -> list[sa.RowMapping]:
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


async def write_statements(store: SqlStore, stmts: Sequence[Any]) -> None:
    """Execute ``stmts`` in one transaction of the group-commit writer."""

    async def run(conn: AsyncConnection) -> None:
        for stmt in stmts:
            await conn.execute(stmt)

    await store.writer.submit(WriteOp(run))
