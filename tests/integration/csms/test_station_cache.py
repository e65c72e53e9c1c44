"""Station records cached for handshakes (decision 0246): a change written by another node
or the API on the same database (a new password, a blocked station, a pending profile
upgrade, a deleted station) holds at the very next handshake, on SQLite and PostgreSQL,
while an unchanged station's handshake reads no station record; a feed read that stalls
holds no handshake (decision 0248)."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v16 import call

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.config import Settings
from csms.core.passwords import hash_password
from csms.domain import RegistrationStatus
from csms.store import SqlStore
from csms.store.base import StationRecord
from csms.store.station_feed import SqliteStationFeed
from tests.integration.csms.conftest import PASSWORD, PASSWORD_HASH, make_settings
from tests.integration.csms.databases import truncate_all
from tests.integration.csms.stations import connect_station, raw_connect
from tests.integration.csms.test_connections import refused_status
from tests.waiting import wait_until

#: The cache's size in these tests (on by default since decision 0248; first off, 0246).
CACHED = 100_000


class CountingStore(SqlStore):
    """This node's store, counting its station reads."""

    reads = 0

    async def get_station(self, station_id: str) -> StationRecord | None:
        self.reads += 1
        return await super().get_station(station_id)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    postgres: str = request.getfixturevalue("postgres_url")
    return postgres


@pytest.fixture
async def nodes(url: str) -> AsyncIterator[tuple[CountingStore, SqlStore]]:
    """This node's store and another writer's (another node, the API, a CLI command)."""
    mine, other = CountingStore(url), SqlStore(url)
    await mine.open()
    await other.open()
    if mine.dialect == "postgresql":
        await truncate_all(mine.engine)
    await other.put_station(StationRecord("CP", password_hash=PASSWORD_HASH))
    try:
        yield mine, other
    finally:
        await other.close()
        await mine.close()


async def boot_status(app: Csms, password: str) -> str:
    async with raw_connect(app.url, "CP", password=password) as ws:
        await ws.send(
            json.dumps(
                [2, "b", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}]
            )
        )
        answer = json.loads(await ws.recv())
    status: str = answer[2]["status"]
    return status


async def test_changes_by_another_writer_hold_at_the_next_handshake(
    nodes: tuple[CountingStore, SqlStore], clock: ManualClock
) -> None:
    mine, other = nodes
    async with Csms(make_settings(station_cache_max=CACHED), clock=clock, store=mine) as app:
        cache = app.central.stations
        assert cache is not None and len(cache) == 1
        async with connect_station(app.url, "CP", password=PASSWORD) as cp:
            boot = await cp.call(
                call.BootNotification(charge_point_vendor="A", charge_point_model="B")
            )
            assert boot.status == "Accepted"
        assert mine.reads == 0 and cache.hits >= 1

        # A new password, written by another writer: the old one is refused at once.
        await other.put_station(
            StationRecord("CP", password_hash=hash_password("fresh-pass", n=2**4))
        )
        assert await refused_status(app.url, "CP", password=PASSWORD) == 401
        assert await boot_status(app, "fresh-pass") == "Accepted"
        reads = mine.reads
        assert reads >= 1  # read once after the change, then cached again
        assert await boot_status(app, "fresh-pass") == "Accepted"
        assert mine.reads == reads

        # Blocked: the registration becomes Rejected; the next boot is answered so.
        record = await other.get_station("CP")
        assert record is not None
        await other.put_station(
            dataclasses.replace(record, registration=RegistrationStatus.REJECTED)
        )
        assert await boot_status(app, "fresh-pass") == "Rejected"

        # A pending profile upgrade is what the next admission reports.
        record = await other.get_station("CP")
        assert record is not None
        await other.put_station(dataclasses.replace(record, pending_security_profile=2))
        admission = await app.central.admission("CP", "fresh-pass")
        assert admission.allowed and admission.pending_security_profile == 2

        # Only the site changes: not an admission change, the cache keeps the record.
        position = cache.position
        record = await other.get_station("CP")
        assert record is not None
        await other.put_station(dataclasses.replace(record, site_id="elsewhere"))
        await app.central.admission("CP", "fresh-pass")
        assert cache.position == position

        # Deleted: the station is unknown at the next handshake.
        await other.delete_station("CP")
        assert await refused_status(app.url, "CP", password="fresh-pass") == 401
        await wait_until(lambda: app.server.link("CP") is None, 10.0, "gone")


async def test_a_station_created_after_start_is_read_then_cached(
    nodes: tuple[CountingStore, SqlStore], clock: ManualClock
) -> None:
    mine, other = nodes
    async with Csms(make_settings(station_cache_max=CACHED), clock=clock, store=mine) as app:
        assert await refused_status(app.url, "LATE") == 401  # unknown: not cached
        await other.put_station(StationRecord("LATE"))
        async with raw_connect(app.url, "LATE"):
            pass
        reads = mine.reads
        async with raw_connect(app.url, "LATE"):
            pass
        assert mine.reads == reads


async def test_with_the_cache_off_every_handshake_reads(
    nodes: tuple[CountingStore, SqlStore], clock: ManualClock
) -> None:
    mine, _ = nodes
    assert Settings().server.station_cache_max == CACHED  # on by default (decision 0248)
    async with Csms(make_settings(station_cache_max=0), clock=clock, store=mine) as app:
        assert app.central.stations is None
        for _ in range(2):
            async with raw_connect(app.url, "CP", password=PASSWORD):
                pass
        assert mine.reads == 2


async def test_a_stalled_sqlite_feed_read_holds_no_handshake(
    tmp_path: Path, clock: ManualClock
) -> None:
    # SQLite may retry the start of a read for up to about 10 s, whatever the busy timeout
    # (its WAL index changing under it): on the event loop, that stall held every handshake
    # in progress past the server's 10 s handshake timeout (decision 0248). Here the feed's
    # read is held until the test, on the event loop, lets it go: the handshake meanwhile is
    # answered from the store, and the read, once let go, serves the next one.
    mine = CountingStore(f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}")
    await mine.open()
    await mine.put_station(StationRecord("CP", password_hash=PASSWORD_HASH))
    settings = make_settings(station_cache_max=CACHED, station_feed_wait_max_s=0.2)
    try:
        async with Csms(settings, clock=clock, store=mine) as app:
            cache = app.central.stations
            assert cache is not None and isinstance(cache.feed, SqliteStationFeed)
            feed = cache.feed
            held, let_go, stalled = threading.Event(), threading.Event(), threading.Event()
            real = feed._fetch

            def fetch(sql: str, *params: object) -> list[object]:
                if sql.startswith("PRAGMA") and not let_go.is_set():
                    held.set()
                    # Longer than the server's handshake timeout if nothing lets it go.
                    if not let_go.wait(15):
                        stalled.set()
                return real(sql, *params)

            feed._fetch = fetch  # type: ignore[method-assign]
            async with raw_connect(app.url, "CP", password=PASSWORD):
                pass
            assert held.is_set() and not let_go.is_set()
            assert (cache.feed_late, mine.reads) == (1, 1)
            let_go.set()
            await wait_until(lambda: not cache.reading, 10, "the held read's end")
            assert not stalled.is_set()
            async with raw_connect(app.url, "CP", password=PASSWORD):
                pass
            assert (cache.feed_late, mine.reads) == (1, 1) and cache.hits >= 1
    finally:
        await mine.close()
