"""Persistence of the central system: the :class:`Store` protocol and its implementations.

``open_store(url)`` picks one from a database URL:

- ``memory://``: :class:`MemoryStore` (nothing survives the process);
- ``sqlite+aiosqlite:///path/to/file.db``: :class:`SqlStore` on an SQLite file;
- ``postgresql+asyncpg://user@host:5432/dbname``: :class:`SqlStore` on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from csms.exceptions import ConfigError
from csms.store.base import NewTransaction, StationEvent, StationRecord, Store, StoredSample
from csms.store.engine import dialect_of
from csms.store.memory import MemoryStore
from csms.store.sql import SqlStore

__all__ = [
    "MemoryStore",
    "NewTransaction",
    "SqlStore",
    "StationEvent",
    "StationRecord",
    "Store",
    "StoredSample",
    "open_store",
]


def open_store(url: str, **options: Any) -> Store:
    """Create (not yet open) the store for ``url``; ``options`` go to the SQL store."""
    if url.startswith("memory://"):
        if options:
            raise ConfigError(f"the memory store takes no options, got {sorted(options)}")
        return MemoryStore()
    dialect_of(url)  # ConfigError for anything but SQLite (aiosqlite) or PostgreSQL (asyncpg)
    return SqlStore(url, **options)
