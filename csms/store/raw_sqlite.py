"""The hot writes on SQLite straight through the DBAPI connection (decision 0230).

On the group-commit writer's thread a batch runs on a pysqlite connection. Through
SQLAlchemy every ``execute`` of an already cached statement still built its parameters
row by row (key lookups, a bind processor per value, the ``insertmanyvalues`` rewrite of
an INSERT with RETURNING, result rows wrapped and processed): about as much CPU as the
rest of a message's handling. Here each hot statement is compiled once by SQLAlchemy
from the table definitions (so its text is the one SQLAlchemy would send) and run with
positional parameters through ``sqlite3`` itself; a UTC timestamp is formatted the way
SQLAlchemy stores it on SQLite (a unit test holds the two equal). Errors are raised as
SQLAlchemy's exceptions, so the writer tells transient failures from others as before.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from csms.store.tables import UtcDateTime

__all__ = ["RawStatement", "as_sqlalchemy_error", "sqlite_timestamp"]

_DIALECT = sqlite.dialect()


def sqlite_timestamp(value: datetime | None) -> str | None:
    """A :class:`~csms.store.tables.UtcDateTime` as SQLAlchemy binds it on SQLite (naive
    UTC text with microseconds); naive input is taken as UTC."""
    if value is None:
        return None
    tz = value.tzinfo
    if tz is not None:
        if tz is not UTC:
            value = value.astimezone(UTC)
        value = value.replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


class RawStatement:
    """One SQLAlchemy statement compiled once for SQLite, run on a ``sqlite3`` cursor with
    parameters taken by name from dicts (``params``)."""

    __slots__ = ("_convert", "_get", "keys", "sql")

    def __init__(self, statement: Any, columns: Sequence[str] | None = None) -> None:
        """``columns``: an INSERT's columns (the parameters' names are the columns');
        an UPDATE names its parameters itself (``bindparam``)."""
        compiled = statement.compile(
            dialect=_DIALECT, column_keys=None if columns is None else list(columns)
        )
        self.sql: str = compiled.string
        self.keys: tuple[str, ...] = tuple(compiled.positiontup or ())
        convert: list[tuple[int, Callable[[Any], Any]]] = []
        for i, name in enumerate(self.keys):
            kind = compiled.binds[name].type
            if isinstance(kind, UtcDateTime):
                convert.append((i, sqlite_timestamp))
                continue
            process = kind.dialect_impl(_DIALECT).bind_processor(_DIALECT)
            if process is not None:
                convert.append((i, process))
        self._convert = tuple(convert)
        getter = operator.itemgetter(*self.keys)
        self._get: Callable[[dict[str, Any]], Any] = (
            getter if len(self.keys) > 1 else (lambda row: (getter(row),))
        )

    def params(self, row: dict[str, Any]) -> tuple[Any, ...]:
        values = self._get(row)
        if not self._convert:
            return tuple(values)
        out = list(values)
        for i, process in self._convert:
            out[i] = process(out[i])
        return tuple(out)

    def execute(self, cursor: sqlite3.Cursor, row: dict[str, Any]) -> int:
        """Run for one row; the number of rows it changed."""
        try:
            cursor.execute(self.sql, self.params(row))
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(self.sql, exc) from exc
        return int(cursor.rowcount)

    def executemany(self, cursor: sqlite3.Cursor, rows: Iterable[dict[str, Any]]) -> int:
        """Run for every row; the number of rows changed in all."""
        params = [self.params(row) for row in rows]
        if not params:
            return 0
        try:
            cursor.executemany(self.sql, params)
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(self.sql, exc) from exc
        return int(cursor.rowcount)


def as_sqlalchemy_error(sql: str, exc: sqlite3.Error) -> BaseException:
    """A ``sqlite3`` error as SQLAlchemy's (``OperationalError``, ``IntegrityError``, ...)."""
    error: BaseException = sa.exc.DBAPIError.instance(sql, None, exc, sqlite3.Error)
    return error
