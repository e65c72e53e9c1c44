"""The ``store`` fixture: every Store implementation, fresh and empty for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from csms.store import MemoryStore, Store


@pytest.fixture(params=["memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    s: Store = MemoryStore()
    await s.open()
    try:
        yield s
    finally:
        await s.close()
