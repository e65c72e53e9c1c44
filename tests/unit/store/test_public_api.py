from __future__ import annotations

import pytest

import csms.store
from csms.exceptions import ConfigError
from csms.store import MemoryStore, open_store


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
