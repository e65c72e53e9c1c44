"""One clock for the whole system.

Everything that reads time takes it from a :class:`Clock`. Production runs on the
:class:`WallClock`; simulations and demos on a :class:`VirtualClock` that runs faster than
real time; unit tests on a :class:`ManualClock` that only moves when told to.

Two processes agree on virtual time when they are given the same start, speed and anchor:
virtual time is ``start + (wall_now - anchor) * speed``. All datetimes are aware UTC.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "VirtualClock", "WallClock", "clock_from_settings", "utc"]


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """What every time-reading component depends on."""

    @property
    def speed(self) -> float:
        """Clock seconds per wall-clock second."""

    def now(self) -> datetime:
        """The current time, aware UTC."""

    def monotonic(self) -> float:
        """Clock seconds from an arbitrary origin; never goes backwards."""

    async def sleep(self, seconds: float) -> None:
        """Wait for ``seconds`` of clock time."""


class WallClock:
    """The real clock."""

    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """A clock running ``speed`` times faster than the wall clock from ``start``.

    ``anchor`` is the wall-clock instant at which virtual time equals ``start`` (default: now).
    """

    def __init__(
        self,
        *,
        start: datetime,
        speed: float = 1.0,
        anchor: datetime | None = None,
    ) -> None:
        if not math.isfinite(speed) or speed <= 0:
            raise ValueError(f"clock speed must be positive and finite, got {speed}")
        self._start = utc(start)
        self._speed = float(speed)
        wall_anchor = utc(anchor) if anchor is not None else datetime.now(UTC)
        # Map the anchor onto the monotonic clock once, so virtual time never jumps
        # when the wall clock is adjusted.
        self._mono_anchor = time.monotonic() - (datetime.now(UTC) - wall_anchor).total_seconds()

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def start(self) -> datetime:
        return self._start

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    def monotonic(self) -> float:
        return (time.monotonic() - self._mono_anchor) * self._speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self._speed)


class ManualClock:
    """A clock that moves only when :meth:`advance` is called (for tests).

    Sleepers wake, in deadline order, when the clock is advanced past their deadline.
    """

    speed = 1.0

    def __init__(self, start: datetime | None = None) -> None:
        self._now = utc(start) if start is not None else datetime(2026, 1, 1, tzinfo=UTC)
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._seq), fut))
        await fut

    def sleepers(self) -> list[float]:
        """When the sleepers still waiting wake (:meth:`monotonic` seconds), soonest first:
        a test sees that what it drives is idle, waiting on the clock, before it advances."""
        return sorted(at for at, _, fut in self._sleepers if not fut.done())

    def advance(self, seconds: float) -> None:
        """Move the clock forward and wake every sleeper whose deadline has passed."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._elapsed += seconds
        self._now += timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)


def clock_from_settings(
    *,
    start: datetime | None = None,
    speed: float = 1.0,
    anchor: datetime | None = None,
) -> Clock:
    """The clock ``serve``, ``sim`` and ``demo`` build from the same settings.

    No start and speed 1 is the wall clock; anything else is a :class:`VirtualClock`.
    """
    if start is None and speed == 1.0:
        return WallClock()
    return VirtualClock(start=start or datetime.now(UTC), speed=speed, anchor=anchor)
