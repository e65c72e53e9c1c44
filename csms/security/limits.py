"""Limits on who may connect how often (sans-I/O: the caller passes the time).

* :class:`AddressLimits`: open connections per source address, and connection attempts per
  second per source address (a token bucket), checked before TLS or HTTP is read;
* :class:`AuthBackoff`: after a few failed authentications of one station id, further
  attempts for that id are refused for a time that doubles with each failure, until one
  succeeds (a password guesser gets a few tries an hour, not thousands a second).

Both keep bounded memory under a flood of distinct addresses or ids: entries that carry no
information any more (a full bucket, no open connection, an expired backoff) are dropped
first, and past ``max_entries`` the oldest go.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["AddressLimits", "AuthBackoff"]

_E = TypeVar("_E")


def _make_room(
    entries: dict[str, _E],
    max_entries: int,
    *,
    stale: Callable[[_E], bool],
    kept: Callable[[_E], bool] = lambda entry: False,
) -> None:
    """Room in a full table: the entries that carry no information any more dropped, then,
    still full, the longest-known ones (insertion order) down to 90 %, except those
    ``kept``."""
    for key, entry in list(entries.items()):
        if stale(entry):
            del entries[key]
    target = int(max_entries * 0.9)
    for key in list(entries):
        if len(entries) < target:
            break
        if not kept(entries[key]):
            del entries[key]


@dataclass(slots=True)
class _Address:
    open: int
    tokens: float
    at: float


class AddressLimits:
    """Open connections and attempts per second, per source address."""

    def __init__(
        self,
        *,
        max_open: int | None,
        attempts_per_s: float | None,
        burst: int,
        max_entries: int = 100_000,
        exempt: frozenset[str] = frozenset(),
    ) -> None:
        self.exempt = exempt
        self.max_open = max_open
        self.attempts_per_s = attempts_per_s
        self.burst = burst
        self.max_entries = max_entries
        self._by_address: dict[str, _Address] = {}

    def __len__(self) -> int:
        return len(self._by_address)

    def open_count(self, address: str) -> int:
        entry = self._by_address.get(address)
        return 0 if entry is None else entry.open

    def attempt(self, address: str, now: float) -> str | None:
        """A new connection from ``address``: None (counted as open) or why it is refused."""
        if address in self.exempt:
            return None
        entry = self._by_address.get(address)
        if entry is None:
            if len(self._by_address) >= self.max_entries:
                # Entries with open connections stay; the open limit bounds those.
                _make_room(
                    self._by_address,
                    self.max_entries,
                    stale=lambda e: e.open == 0 and self._refilled(e, now),
                    kept=lambda e: e.open > 0,
                )
            entry = self._by_address[address] = _Address(0, float(self.burst), now)
        if self.attempts_per_s is not None:
            entry.tokens = min(
                float(self.burst), entry.tokens + (now - entry.at) * self.attempts_per_s
            )
            entry.at = now
            if entry.tokens < 1.0:
                return "too-many-attempts"
            entry.tokens -= 1.0
        if self.max_open is not None and entry.open >= self.max_open:
            return "too-many-connections"
        entry.open += 1
        return None

    def closed(self, address: str) -> None:
        """A connection :meth:`attempt` admitted has ended."""
        entry = self._by_address.get(address)
        if entry is not None and entry.open > 0:
            entry.open -= 1

    def _refilled(self, entry: _Address, now: float) -> bool:
        """Whether the address's bucket is full again (it would start so if forgotten)."""
        rate = self.attempts_per_s or 0.0
        return rate == 0.0 or entry.tokens + (now - entry.at) * rate >= self.burst


@dataclass(slots=True)
class _Failures:
    count: int
    until: float


class AuthBackoff:
    """Failed authentications per station id and the wait they impose."""

    def __init__(
        self,
        *,
        free_failures: int,
        initial_s: float,
        max_s: float,
        max_entries: int = 100_000,
    ) -> None:
        self.free_failures = free_failures
        self.initial_s = initial_s
        self.max_s = max_s
        self.max_entries = max_entries
        self._by_id: dict[str, _Failures] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def retry_after(self, station_id: str, now: float) -> float | None:
        """Seconds ``station_id`` must still wait before trying again; None: it may try."""
        entry = self._by_id.get(station_id)
        if entry is None or entry.until <= now:
            return None
        return entry.until - now

    def failed(self, station_id: str, now: float) -> float:
        """Count a failure; the wait it imposes (0 within the free failures)."""
        entry = self._by_id.get(station_id)
        if entry is None:
            if len(self._by_id) >= self.max_entries:
                _make_room(
                    self._by_id, self.max_entries, stale=lambda e: e.until + self.max_s <= now
                )
            entry = self._by_id[station_id] = _Failures(0, now)
        entry.count += 1
        over = entry.count - self.free_failures
        wait = 0.0 if over <= 0 else min(self.max_s, self.initial_s * 2 ** (over - 1))
        entry.until = now + wait
        return wait

    def succeeded(self, station_id: str) -> None:
        self._by_id.pop(station_id, None)
