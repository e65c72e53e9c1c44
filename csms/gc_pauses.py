"""Keeping the cyclic garbage collector's pauses short under many connections.

With a thousand stations the heap holds millions of long-lived objects (connections,
protocol state, SQLAlchemy structures); every full (generation 2) collection walks all of
them, a pause of 100-300 ms that lands on whichever answers are in flight. Every
``interval_s`` :class:`GcFreezer` moves the objects alive at that moment into the
permanent generation (``gc.freeze()``), so full collections only walk what is newer. Objects
freed by reference counting are still freed at once; only reference cycles among frozen
objects wait until ``unfreeze_every`` freezes have passed, when everything is handed back
to the collector (one long pause per such period instead of one every few seconds).
"""

from __future__ import annotations

import asyncio
import gc
import logging

__all__ = ["GcFreezer"]

logger = logging.getLogger(__name__)


class GcFreezer:
    def __init__(self, *, interval_s: float = 5.0, unfreeze_every: int = 360) -> None:
        self.interval_s = interval_s
        self.unfreeze_every = unfreeze_every
        self._task: asyncio.Task[None] | None = None
        self.freezes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="csms-gc-freezer")

    async def stop(self) -> None:
        """Stop freezing and hand every frozen object back to the collector (frozen garbage
        would otherwise stay in memory for the life of the process)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            gc.unfreeze()

    def step(self) -> None:
        """One period: freeze, or every ``unfreeze_every`` periods, unfreeze."""
        self.freezes += 1
        if self.unfreeze_every and self.freezes % self.unfreeze_every == 0:
            gc.unfreeze()
            logger.debug("gc: unfrozen")
        else:
            gc.freeze()
            # Not gc.get_freeze_count(): it walks the whole permanent generation (tens of
            # ms with a thousand stations) on the event loop.
            logger.debug("gc: frozen (period %d)", self.freezes)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.step()
