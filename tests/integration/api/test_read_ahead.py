"""A connecting station's dashboard figures are read ahead only while a dashboard watches the
event stream: without one, a connection costs no store read for them (decision 0226)."""

from __future__ import annotations

from typing import Any

import pytest

from csms.api.stream import EventFilter
from csms.events import StationConnected
from csms.store.memory import MemoryStore
from tests.integration.api.conftest import START, Api
from tests.waiting import wait_until


@pytest.fixture
def reads(store: MemoryStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    statuses, samples = store.connector_statuses, store.latest_samples

    async def connector_statuses(station_id: str) -> Any:
        seen.append(f"statuses {station_id}")
        return await statuses(station_id)

    async def latest_samples(station_id: str) -> Any:
        seen.append(f"power {station_id}")
        return await samples(station_id)

    monkeypatch.setattr(store, "connector_statuses", connector_statuses)
    monkeypatch.setattr(store, "latest_samples", latest_samples)
    return seen


async def test_no_read_ahead_without_a_stream_client(api: Api, reads: list[str]) -> None:
    api.csms.bus.publish(StationConnected("CP1", "2.0.1", START))
    # the connection is followed (a stream client added now sees the next ones) ...
    sub = api.services.hub.subscribe(EventFilter(), max_queue=10)
    try:
        api.csms.bus.publish(StationConnected("CP2", "2.0.1", START))
        await wait_until(lambda: reads == ["statuses CP2", "power CP2"], 10.0, "CP2 read ahead")
    finally:
        api.services.hub.unsubscribe(sub)
    # ... and CP1's figures were never read ahead: the first request reads them.
    assert await api.services.live.statuses("CP1") == []
    assert reads == ["statuses CP2", "power CP2", "statuses CP1"]
