"""PostgreSQL going away under the store (simulated by terminating the store's server
processes from an admin connection, since the shared server must not be restarted): a call
during the outage succeeds after an internal retry or raises StoreUnavailable, the next
call succeeds, and nothing is stored twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from csms.domain import ConnectorStatus, MeterSample, StatusReport
from csms.exceptions import StoreUnavailable
from csms.store import NewTransaction, SqlStore, StationRecord, StoredSample
from tests.integration.store.conftest import terminate_backends
from tests.integration.store.tcp_proxy import TcpProxy
from tests.waiting import wait_until

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _sample(i: int, tx: int | None = None) -> StoredSample:
    return StoredSample(
        "CP1",
        1,
        1,
        tx,
        MeterSample(T0 + timedelta(seconds=i), "Energy.Active.Import.Register", float(i), "Wh"),
    )


@pytest.fixture
async def pg_store(fresh_postgres_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore(fresh_postgres_url, retry_delays_s=(0.05, 0.2))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_idle_connections_killed_next_calls_succeed(pg_store: SqlStore) -> None:
    await pg_store.put_station(StationRecord("CP1"))
    tx, _ = await pg_store.open_transaction(
        NewTransaction("CP1", 1, 1, T0, start_key="k", meter_start_wh=0.0)
    )
    assert await pg_store.add_samples([_sample(0, tx.id)]) == 1

    assert await terminate_backends(pg_store.url) >= 1
    # Writes and reads right after the outage: the pool drops the dead connections.
    assert await pg_store.add_samples([_sample(1, tx.id)]) == 1
    assert await pg_store.get_station("CP1") == StationRecord("CP1")

    assert await terminate_backends(pg_store.url) >= 1
    again, created = await pg_store.open_transaction(
        NewTransaction("CP1", 1, 1, T0, start_key="k", meter_start_wh=0.0)
    )
    assert (again.id, created) == (tx.id, False)
    assert [s.sample.value for s in await pg_store.samples_for_transaction(tx.id)] == [0.0, 1.0]


async def test_outage_during_concurrent_writes(pg_store: SqlStore) -> None:
    """Kill the connections repeatedly while 40 callers write 200 items; each call either
    succeeds or raises StoreUnavailable, and callers that retry (as the core does) until
    success leave every sample and status stored exactly once."""
    await pg_store.put_station(StationRecord("CP1"))
    items = 200
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(items):
        queue.put_nowait(i)
    outcomes = {"ok": 0, "unavailable": 0}

    async def store_item(i: int) -> None:
        while True:
            try:
                await pg_store.add_samples([_sample(i)])
                await pg_store.record_status(
                    StatusReport("CP1", 1, 1, ConnectorStatus.CHARGING, T0 + timedelta(seconds=i))
                )
                await pg_store.record_seen("CP1", T0 + timedelta(seconds=i))
                outcomes["ok"] += 1
                return
            except StoreUnavailable:
                outcomes["unavailable"] += 1
                await asyncio.sleep(0.05)  # the caller's own backoff before it tries again

    async def caller() -> None:
        while not queue.empty():
            await store_item(queue.get_nowait())

    kills = 0

    async def killer() -> None:
        # The outages' pace: a kill every 10 ms, but only once an item has been stored since
        # the last one, so a loaded machine, slow to reconnect, still gets through (kills
        # that came faster than any write could finish would hold the test forever).
        nonlocal kills
        stored = -1
        while not queue.empty():
            await asyncio.sleep(0.01)
            if outcomes["ok"] > stored:
                stored = outcomes["ok"]
                kills += await terminate_backends(pg_store.url)

    await asyncio.wait_for(asyncio.gather(killer(), *(caller() for _ in range(40))), timeout=60)
    assert outcomes["ok"] == items
    # The outage did hit writes in flight.
    assert kills > 0
    assert outcomes["unavailable"] + pg_store.writer.retries > 0

    assert await pg_store.add_samples([_sample(i) for i in range(items)]) == 0
    latest = await pg_store.latest_samples("CP1")
    assert [s.sample.value for s in latest] == [items - 1.0]
    history = await pg_store.status_history("CP1")
    assert [r.timestamp for r in history] == [T0 + timedelta(seconds=i) for i in range(items)]
    station = await pg_store.get_station("CP1")
    assert station is not None
    assert station.last_seen_at == T0 + timedelta(seconds=items - 1)


async def test_server_unreachable_raises_store_unavailable() -> None:
    from tests.services import free_port

    store = SqlStore(
        f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere",
        retry_delays_s=(0.01,),
        connect_timeout_s=1.0,
    )
    with pytest.raises(StoreUnavailable):
        await store.open()
    await store.close()


async def test_server_down_then_back(fresh_postgres_url: str) -> None:
    """The server disappears (connections cut, new ones refused) and comes back: calls
    during the outage raise StoreUnavailable, the first call after it succeeds, and a call
    made during a short outage succeeds through the store's own retries."""
    admin = sa.make_url(fresh_postgres_url)
    proxy = TcpProxy(admin.host or "127.0.0.1", admin.port or 5432)
    await proxy.up()
    url = admin.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    store = SqlStore(url, retry_delays_s=(0.05, 0.1, 0.5), connect_timeout_s=1.0)
    await store.open()
    try:
        await store.put_station(StationRecord("CP1"))
        assert await store.add_samples([_sample(0)]) == 1

        await proxy.down()
        with pytest.raises(StoreUnavailable):
            await store.add_samples([_sample(1)])
        with pytest.raises(StoreUnavailable):
            await store.get_station("CP1")

        await proxy.up()
        assert await store.add_samples([_sample(1), _sample(0)]) == 1
        assert await store.get_station("CP1") == StationRecord("CP1")

        # Back while the store is still retrying: the call succeeds.
        await proxy.down()
        pending = asyncio.create_task(store.add_samples([_sample(2)]))
        await wait_until(lambda: store.writer.retries > 0, 30, "a retry while the store is down")
        await proxy.up()
        assert await pending == 1
        assert store.writer.retries > 0
        assert [s.sample.value for s in await store.latest_samples("CP1")] == [2.0]
    finally:
        await store.close()
        await proxy.down()
