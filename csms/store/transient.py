"""Which database failures are transient (worth a retry, reported as StoreUnavailable)."""

from __future__ import annotations

import asyncio

from sqlalchemy import exc as sa_exc

__all__ = ["is_transient"]

#: SQLSTATE classes and codes of PostgreSQL failures that a retry can cure: connection
#: exceptions (08), operator intervention such as a server shutdown (57P01-57P03),
#: serialization failure and deadlock (40001, 40P01), too many connections (53300).
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "57P", "40001", "40P01", "53300", "53400")

#: SQLite OperationalErrors that are programming errors, not outages.
_PERMANENT_SQLITE_MESSAGES = ("no such table", "no such column", "syntax error", "has no column")


def _sqlstate(error: BaseException) -> str | None:
    for attr in ("sqlstate", "pgcode"):
        value = getattr(error, attr, None)
        if isinstance(value, str):
            return value
    return None


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return seen


def is_transient(error: BaseException) -> bool:
    """True when ``error`` means "the database cannot be reached or is busy right now"."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return True
    if isinstance(error, OSError):
        return True
    for link in _chain(error):
        state = _sqlstate(link)
        if state is not None:
            return state.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
        module = type(link).__module__
        if module.startswith("asyncpg") and type(link).__name__ in (
            "ConnectionDoesNotExistError",
            "InterfaceError",
            "InternalClientError",
            "ConnectionFailureError",
            "CannotConnectNowError",
        ):
            return True
        if isinstance(link, (ConnectionError, OSError, asyncio.TimeoutError)):
            return True
    if isinstance(error, sa_exc.InterfaceError):
        return True
    if isinstance(error, sa_exc.OperationalError):
        message = str(error.orig).lower()
        return not any(m in message for m in _PERMANENT_SQLITE_MESSAGES)
    return isinstance(error, sa_exc.DisconnectionError | sa_exc.TimeoutError)
