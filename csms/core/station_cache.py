"""Station records for admissions, kept in memory and kept true by the store's change feed
(decision 0246).

A handshake needs the station's passwords, registration and security profiles. Reading
them from the store at every handshake was the largest single cost of a connection left
(decision 0236). :class:`StationCache` keeps those fields of every registered station
(read once at start, then on a miss) and, before it answers, applies every change the feed
(:mod:`csms.store.station_feed`) lists that was committed before the question was asked, by
anyone: this process, another node on the same database, the API, a command on the
database. So a changed password, a blocked station or a pending profile upgrade holds at
the next handshake, as with a read.

The rules, sans-I/O, in :meth:`StationCache.apply` and :meth:`StationCache.fill`:

- the changes are numbered in commit order; the feed's answer must start at the number
  last applied, otherwise rows were pruned or the table emptied: everything is forgotten;
- a record read from the store is kept only if no change was applied while it was read
  (``generation``), so a read that raced a change cannot put the old record back;
- when the feed cannot be read, the cache is not used: the store is read, as without it;
- when the feed is late (its read has not answered within ``wait_max_s``), neither: a
  handshake has its own timeout, and a feed read that stalls must not take every handshake
  in progress with it (decision 0248).

A feed read is a round trip (a thread on SQLite, the database on PostgreSQL): handshakes
asking at once share one read, run in a task of its own (:meth:`StationCache.fresh` waits
for a read that began after it was called, not for one already under way, which might have
missed a change committed a moment before; a caller that leaves or gives up does not cancel
it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from csms.exceptions import StoreUnavailable
from csms.store.base import StationRecord
from csms.store.station_feed import Change, StationFeed

__all__ = ["StationCache", "admission_fields"]

logger = logging.getLogger(__name__)

#: Changes read at a time; a longer backlog (a bulk import) forgets everything instead.
_BATCH = 256


def admission_fields(record: StationRecord) -> StationRecord:
    """What a handshake and a boot decide on, without the rest (vendor, firmware, times):
    about a third of the memory of the whole record."""
    return StationRecord(
        record.station_id,
        password_hash=record.password_hash,
        registration=record.registration,
        security_profile=record.security_profile,
        pending_password_hash=record.pending_password_hash,
        pending_security_profile=record.pending_security_profile,
    )


class StationCache:
    """Registered stations' admission fields, invalidated by the change feed."""

    def __init__(
        self,
        feed: StationFeed,
        *,
        max_entries: int = 100_000,
        wait_max_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < wait_max_s < float("inf"):
            raise ValueError(f"wait_max_s must be positive and finite, got {wait_max_s}")
        self.feed = feed
        self.max_entries = max_entries
        #: how long a question waits for the feed before it reads the store instead
        self.wait_max_s = wait_max_s
        self._monotonic = monotonic
        self._entries: dict[str, StationRecord] = {}
        #: the number of the last change applied; None until started
        self.position: int | None = None
        #: bumped whenever changes are applied (a fill begun before is not kept)
        self.generation = 0
        self.hits = 0
        self.misses = 0
        #: times the feed could not be read (the store was read instead)
        self.feed_failures = 0
        #: questions the feed did not answer within ``wait_max_s`` (the store was read)
        self.feed_late = 0
        #: times everything was forgotten (pruned changes, a bulk change, an emptied table)
        self.resets = 0
        #: callers waiting for the feed now
        self.waiting = 0
        #: the feed read under way and when it began
        self._reading: asyncio.Task[None] | None = None
        self._read_began = 0.0
        #: what callers who came during that read wait for: the next read
        self._next: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    # -- sans-I/O rules -------------------------------------------------------------------
    def start(self, position: int, records: Iterable[StationRecord]) -> None:
        """Begin at change ``position`` with ``records`` read after it was taken."""
        self._entries.clear()
        self.generation += 1
        self.position = position
        for record in records:
            if len(self._entries) >= self.max_entries:
                break
            self._entries[record.station_id] = admission_fields(record)

    def apply(self, changes: list[Change]) -> None:
        """The feed's answer to ``changes(self.position, _BATCH)``."""
        position = self.position
        assert position is not None, "not started"
        if (position > 0 and (not changes or changes[0][0] != position)) or len(changes) >= _BATCH:
            # Rows this node had not seen are gone, or too many to go through: forget all.
            self._entries.clear()
            self.generation += 1
            self.resets += 1
            self.position = changes[-1][0] if changes else 0
            logger.info("station cache cleared (change feed at %d)", self.position)
            return
        if len(changes) > (position > 0):
            # Also for a station not cached: a read of it may be on its way, and must not
            # be kept (it may have been taken before the change).
            self.generation += 1
            for seq, station_id in changes:
                if seq > position:
                    self._entries.pop(station_id, None)
            self.position = changes[-1][0]

    def lookup(self, station_id: str) -> StationRecord | None:
        hit = self._entries.get(station_id)
        if hit is not None:
            self.hits += 1
        else:
            self.misses += 1
        return hit

    def fill(self, record: StationRecord, generation: int) -> None:
        """Keep ``record``, read while ``generation`` was current, unless changes were
        applied meanwhile (the read may have raced one of them)."""
        if generation == self.generation and len(self._entries) < self.max_entries:
            self._entries[record.station_id] = admission_fields(record)

    # -- I/O ------------------------------------------------------------------------------
    async def open(
        self, list_stations: Callable[[], Awaitable[list[StationRecord]]]
    ) -> list[StationRecord]:
        """Start from the feed's position and every station listed after it was taken
        (a change in between is applied at the first handshake). Returns the list."""
        position = await self.feed.position()
        records = await list_stations()
        self.start(position, records)
        return records

    async def get(
        self, station_id: str, read: Callable[[], Awaitable[StationRecord | None]]
    ) -> StationRecord | None:
        """The station's record as the store has it now; ``read`` reads it from the store."""
        if self.position is None:
            return await read()
        try:
            current = await self.fresh()
        except StoreUnavailable as exc:
            self.feed_failures += 1
            logger.debug("station changes unreadable, reading the store: %s", exc)
            return await read()
        if not current:
            self.feed_late += 1
            return await read()
        hit = self.lookup(station_id)
        if hit is not None:
            return hit
        generation = self.generation
        record = await read()
        if record is not None:
            self.fill(record, generation)
        return record

    async def fresh(self) -> bool:
        """Every change committed before this call is applied (one feed read for all the
        callers waiting at once): True. False when the feed did not answer within
        ``wait_max_s``, or a read under way is already that late (nothing is known then)."""
        reading = self._reading
        if reading is not None and self._monotonic() - self._read_began > self.wait_max_s:
            return False  # behind a read that is stuck: not worth waiting at all
        waiter = self._next
        if waiter is None:
            waiter = self._next = asyncio.get_running_loop().create_future()
            if reading is None:
                self._read_next()
        self.waiting += 1
        try:
            async with asyncio.timeout(self.wait_max_s):
                await asyncio.shield(waiter)
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1
        return True

    @property
    def reading(self) -> bool:
        """A feed read is under way."""
        return self._reading is not None

    def _read_next(self) -> None:
        """A feed read, in a task of its own, for the callers waiting on ``_next``."""
        waiter, self._next = self._next, None
        assert waiter is not None
        self._read_began = self._monotonic()
        self._reading = asyncio.get_running_loop().create_task(self._read_for(waiter))

    async def _read_for(self, waiter: asyncio.Future[None]) -> None:
        assert self.position is not None
        try:
            self.apply(await self.feed.changes(self.position, _BATCH))
        except Exception as exc:  # handed to the callers (StoreUnavailable: they read the store)
            if not waiter.done():
                waiter.set_exception(exc)
                waiter.exception()  # retrieved: callers that left must not leave a warning
        else:
            if not waiter.done():
                waiter.set_result(None)
        finally:
            self._reading = None
            if self._next is not None:  # callers who came during this read: the next one
                self._read_next()

    async def close(self) -> None:
        reading, self._reading, self._next = self._reading, None, None
        if reading is not None:
            reading.cancel()
        await self.feed.close()

    def stats(self) -> dict[str, Any]:
        return {
            "entries": len(self._entries),
            "hits": self.hits,
            "misses": self.misses,
            "feed_failures": self.feed_failures,
            "feed_late": self.feed_late,
            "resets": self.resets,
        }
