from __future__ import annotations

import pytest

import csms.store
from csms.exceptions import ConfigError
from csms.store import MemoryStore, SqlStore, open_store


def test_exported_members() -> None:
    assert csms.store.__all__ == [
        "MemoryStore",
        "NewTransaction",
        "SqlStore",
        "StationEvent",
        "StationRecord",
        "Store",
        "StoredSample",
        "open_store",
    ]
    for name in csms.store.__all__:
        assert hasattr(csms.store, name)


def test_open_store_memory() -> None:
    assert isinstance(open_store("memory://"), MemoryStore)


def test_open_store_rejects_unknown_scheme() -> None:
    with pytest.raises(ConfigError, match="mysql://x"):
        open_store("mysql://x")


@pytest.mark.parametrize(
    ("url", "dialect"),
    [
        ("sqlite+aiosqlite:///data/cg.db", "sqlite"),
        ("sqlite+aiosqlite:////var/lib/cg.db", "sqlite"),
        ("postgresql+asyncpg://postgres@127.0.0.1:5432/cg", "postgresql"),
    ],
)
def test_open_store_sql(url: str, dialect: str) -> None:
    store = open_store(url, max_batch_ops=10)
    assert isinstance(store, SqlStore)
    assert store.dialect == dialect


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///:memory:",
        "sqlite:///x.db",
        "postgresql://postgres@127.0.0.1/cg",
        "postgresql+psycopg2://postgres@127.0.0.1/cg",
        "not a url",
    ],
)
def test_open_store_refuses(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url)


def test_memory_store_takes_no_options() -> None:
    with pytest.raises(ConfigError, match="max_batch_ops"):
        open_store("memory://", max_batch_ops=3)


def test_sqlite_synchronous_is_checked() -> None:
    with pytest.raises(ConfigError, match="sqlite_synchronous"):
        open_store("sqlite+aiosqlite:///x.db", sqlite_synchronous="SOMETIMES")
