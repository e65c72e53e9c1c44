"""The station cache's rules: changes applied in order, a gap forgets everything, a read
that raced a change is not kept, callers at once share one feed read, and a feed that
cannot be read sends every caller to the store."""

from __future__ import annotations

import asyncio

import pytest

from csms.core.station_cache import StationCache
from csms.domain import RegistrationStatus
from csms.exceptions import StoreUnavailable
from csms.store.base import StationRecord
from csms.store.station_feed import Change
from tests.waiting import Entered, wait_until


class FakeFeed:
    """The database's change table, in memory; ``gate`` holds reads until released
    (``waiting``: the reads held there now)."""

    def __init__(self) -> None:
        self.rows: list[Change] = []
        self.reads = 0
        self.waiting = 0
        self.gate: asyncio.Event | None = None
        self.broken = False

    def change(self, station_id: str) -> None:
        self.rows.append((len(self.rows) + 1, station_id))

    async def position(self) -> int:
        return self.rows[-1][0] if self.rows else 0

    async def changes(self, since: int, limit: int) -> list[Change]:
        self.reads += 1
        snapshot = [r for r in self.rows if r[0] >= since][:limit]  # as of the call
        if self.gate is not None:
            self.waiting += 1
            try:
                await self.gate.wait()
            finally:
                self.waiting -= 1
        if self.broken:
            raise StoreUnavailable("feed down")
        return snapshot

    async def close(self) -> None:
        pass


def record(station_id: str, password_hash: str | None = "h1", **kw: object) -> StationRecord:
    return StationRecord(station_id, password_hash=password_hash, vendor="V", **kw)  # type: ignore[arg-type]


async def started(feed: FakeFeed, *records: StationRecord) -> StationCache:
    cache = StationCache(feed)  # type: ignore[arg-type]

    async def listed() -> list[StationRecord]:
        return list(records)

    await cache.open(listed)
    return cache


async def read_held(feed: FakeFeed) -> None:
    await wait_until(lambda: feed.waiting == 1, 10, "a feed read held at the gate")


class Reads:
    def __init__(self, store: dict[str, StationRecord]) -> None:
        self.store = store
        self.count = 0

    def __call__(self, station_id: str):  # type: ignore[no-untyped-def]
        async def read() -> StationRecord | None:
            self.count += 1
            return self.store.get(station_id)

        return read


async def test_hits_keep_only_the_admission_fields() -> None:
    feed = FakeFeed()
    cache = await started(feed, record("A"))
    reads = Reads({})
    got = await cache.get("A", reads("A"))
    assert got == StationRecord("A", password_hash="h1")  # no vendor: not kept
    assert reads.count == 0 and cache.hits == 1


async def test_a_change_by_anyone_is_read_again_at_the_next_question() -> None:
    feed = FakeFeed()
    feed.change("A")
    cache = await started(feed, record("A"), record("B"))
    store = {"A": record("A", "h2"), "B": record("B")}
    reads = Reads(store)
    assert (await cache.get("A", reads("A"))).password_hash == "h1"  # type: ignore[union-attr]
    feed.change("A")  # another node changed A's password
    assert (await cache.get("A", reads("A"))).password_hash == "h2"  # type: ignore[union-attr]
    assert (await cache.get("B", reads("B"))) == StationRecord("B", password_hash="h1")
    assert reads.count == 1
    store["A"] = record("A", "h2", registration=RegistrationStatus.REJECTED)
    feed.change("A")
    got = await cache.get("A", reads("A"))
    assert got is not None and got.registration is RegistrationStatus.REJECTED
    del store["A"]
    feed.change("A")  # deleted: not known any more, and nothing cached for it
    assert await cache.get("A", reads("A")) is None
    assert await cache.get("A", reads("A")) is None
    assert reads.count == 4


async def test_pruned_or_emptied_changes_forget_everything() -> None:
    feed = FakeFeed()
    feed.change("X")
    cache = await started(feed, record("A"), record("B"))
    reads = Reads({"A": record("A", "h9"), "B": record("B")})
    feed.change("Y")
    feed.rows = feed.rows[1:]  # the row this node last saw is gone
    assert (await cache.get("A", reads("A"))).password_hash == "h9"  # type: ignore[union-attr]
    assert cache.resets == 1 and cache.position == 2
    feed.rows = []  # emptied (and numbered from 1 again)
    feed.change("Z")
    assert (await cache.get("B", reads("B"))) is not None
    assert cache.resets == 2 and reads.count == 2
    assert (await cache.get("B", reads("B"))) is not None and reads.count == 2


async def test_a_bulk_change_forgets_everything_and_reads_on() -> None:
    feed = FakeFeed()
    cache = await started(feed, record("A"))
    for i in range(300):
        feed.change(f"S{i}")
    reads = Reads({"A": record("A")})
    await cache.get("A", reads("A"))
    assert cache.resets == 1 and cache.position == 256 and reads.count == 1
    await cache.get("A", reads("A"))  # the rest are applied, A stays
    assert cache.resets == 1 and cache.position == 300 and reads.count == 1


async def test_a_read_that_raced_a_change_is_not_kept() -> None:
    feed = FakeFeed()
    cache = await started(feed, record("B"))
    stale = record("A", "old")

    async def slow_read() -> StationRecord | None:
        feed.change("A")  # committed while the read was on its way
        cache.apply(await feed.changes(cache.position or 0, 256))  # another caller applies it
        return stale

    assert await cache.get("A", slow_read) is stale
    reads = Reads({"A": record("A", "new")})
    assert (await cache.get("A", reads("A"))).password_hash == "new"  # type: ignore[union-attr]
    assert reads.count == 1


async def test_callers_at_once_share_a_read_begun_after_they_asked() -> None:
    feed = FakeFeed()
    cache = await started(feed, record("A"))
    feed.gate = asyncio.Event()
    first = asyncio.create_task(cache.fresh())
    await read_held(feed)
    assert feed.reads == 1  # under way
    feed.change("A")  # committed after that read began: the callers below must see it
    callers = Entered()
    later = [callers.start(cache.fresh()) for _ in range(20)]
    await wait_until(lambda: callers.inside == 20, 10, "twenty callers waiting")
    assert feed.reads == 1  # they wait for the next read, not one each
    feed.gate.set()
    await asyncio.gather(first, *later)
    assert feed.reads == 2  # one more read for the twenty
    reads = Reads({"A": record("A", "h2")})
    feed.gate = None
    assert (await cache.get("A", reads("A"))).password_hash == "h2"  # type: ignore[union-attr]


async def test_a_caller_that_leaves_does_not_cancel_the_shared_read() -> None:
    feed = FakeFeed()
    cache = await started(feed, record("A"))
    feed.gate = asyncio.Event()
    first = asyncio.create_task(cache.fresh())
    await read_held(feed)
    feed.change("A")
    callers = Entered()
    leaving, staying = (callers.start(cache.fresh()) for _ in range(2))
    await wait_until(lambda: callers.inside == 2, 10, "two callers waiting")
    leaving.cancel()
    feed.gate.set()
    await asyncio.gather(first, staying)
    assert cache.position == 1


async def test_an_unreadable_feed_sends_callers_to_the_store() -> None:
    feed = FakeFeed()
    cache = await started(feed, record("A"))
    feed.broken = True
    reads = Reads({"A": record("A", "h2")})
    assert (await cache.get("A", reads("A"))).password_hash == "h2"  # type: ignore[union-attr]
    assert cache.feed_failures == 1 and reads.count == 1
    # Callers waiting for a read that fails go to the store too.
    feed.gate = asyncio.Event()
    first = asyncio.create_task(cache.get("A", reads("A")))
    await read_held(feed)
    callers = Entered()
    others = [callers.start(cache.get("A", reads("A"))) for _ in range(3)]
    await wait_until(lambda: callers.inside == 3, 10, "three callers waiting")
    feed.gate.set()
    got = await asyncio.gather(first, *others)
    assert all(r is not None and r.password_hash == "h2" for r in got)
    assert reads.count == 5
    feed.broken, feed.gate = False, None
    feed.change("A")
    await cache.get("A", reads("A"))  # read again: its change seen
    assert reads.count == 6
    assert (await cache.get("A", reads("A"))).password_hash == "h2"  # type: ignore[union-attr]
    assert reads.count == 6


async def test_not_started_reads_the_store_and_the_size_is_bounded() -> None:
    feed = FakeFeed()
    cache = StationCache(feed, max_entries=2)  # type: ignore[arg-type]
    reads = Reads({"A": record("A")})
    await cache.get("A", reads("A"))
    assert reads.count == 1 and feed.reads == 0

    async def listed() -> list[StationRecord]:
        return [record("A"), record("B"), record("C")]

    await cache.open(listed)
    assert len(cache) == 2


@pytest.mark.parametrize("position", [0, 5])
async def test_apply_before_start_is_a_mistake(position: int) -> None:
    cache = StationCache(FakeFeed())  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        cache.apply([(position, "A")])
