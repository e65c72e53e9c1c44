from __future__ import annotations

import sqlite3

import asyncpg
import pytest
import sqlalchemy as sa

from csms.store.transient import is_transient


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _wrapped(cls: type[sa.exc.DBAPIError], orig: BaseException) -> sa.exc.DBAPIError:
    return cls("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        _wrapped(sa.exc.OperationalError, sqlite3.OperationalError("database is locked")),
        _wrapped(sa.exc.OperationalError, sqlite3.OperationalError("disk I/O error")),
        _wrapped(sa.exc.InterfaceError, Exception("connection is closed")),
        _wrapped(sa.exc.DBAPIError, _PgError("57P01")),  # admin shutdown
        _wrapped(sa.exc.DBAPIError, _PgError("08006")),  # connection failure
        _wrapped(sa.exc.DBAPIError, _PgError("40001")),  # serialization failure
        _wrapped(sa.exc.DBAPIError, asyncpg.exceptions.ConnectionDoesNotExistError()),
        sa.exc.DBAPIError("x", {}, Exception("gone"), connection_invalidated=True),
    ],
)
def test_transient(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad"),
        _wrapped(sa.exc.OperationalError, sqlite3.OperationalError("no such table: x")),
        _wrapped(sa.exc.IntegrityError, sqlite3.IntegrityError("UNIQUE constraint failed")),
        _wrapped(sa.exc.DBAPIError, _PgError("23505")),  # unique violation
        _wrapped(sa.exc.DBAPIError, _PgError("42P01")),  # undefined table
    ],
)
def test_not_transient(error: BaseException) -> None:
    assert not is_transient(error)
