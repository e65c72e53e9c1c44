from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.simulators.central import FakeCentral


@pytest.fixture
async def central() -> AsyncIterator[FakeCentral]:
    c = FakeCentral(password="secret")
    yield c
    await c.stop()
