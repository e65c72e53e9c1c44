"""PostgreSQL: a burst of reads (stations being admitted at once) is served by the pool's
connections, never by connections opened for the burst and closed after it."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from csms.store import SqlStore, StationRecord


async def test_bursts_of_reads_open_no_connections_beyond_the_pool(postgres_url: str) -> None:
    store = SqlStore(postgres_url)
    opened: list[Any] = []
    sa.event.listen(store.engine.sync_engine, "connect", lambda conn, record: opened.append(conn))
    await store.open()
    try:
        await store.put_station(StationRecord("POOL1"))
        for _ in range(3):
            found = await asyncio.gather(*(store.get_station("POOL1") for _ in range(60)))
            assert all(r is not None and r.station_id == "POOL1" for r in found)
        pool_size = store.engine.pool.size()  # type: ignore[attr-defined]
        assert 1 <= len(opened) <= pool_size
    finally:
        await store.close()
