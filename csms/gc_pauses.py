"""Keeping the cyclic garbage collector's pauses short under many connections.

With a thousand stations the heap holds millions of long-lived objects (connections,
protocol state, SQLAlchemy structures); every full (generation 2) collection walks all of
them, a pause of 100-300 ms that lands on whichever answers are in flight. Every
``interval_s`` :class:`GcFreezer` moves the objects alive at that moment into the
permanent generation (``gc.freeze()``), so full collections only walk what is newer. Objects
freed by reference counting are still freed at once; only reference cycles among frozen
objects wait until ``unfreeze_every`` freezes have passed, when everything is handed back
to the collector (one long pause per such period instead of one every few seconds).

It also raises the youngest generation's threshold (``young_threshold``, decision 0243):
Python collects it after every 700 new container objects by default, and each OCPP call
makes a few hundred (its JSON, its domain objects, its tasks and futures), so collections
ran every few calls and their cascades into the older generations cost about a fifth of the
event loop's CPU on the hot path. Objects freed by reference counting are unaffected; only
garbage in reference cycles waits a little longer. The threshold is put back on ``stop``.
"""

from __future__ import annotations

import asyncio
import gc
import logging

__all__ = ["GcFreezer"]

logger = logging.getLogger(__name__)


class GcFreezer:
    """Freezes every ``interval_s`` (None: never) and, while started, collects the youngest
    generation every ``young_threshold`` new container objects (None: Python's setting)."""

    def __init__(
        self,
        *,
        interval_s: float | None = 5.0,
        unfreeze_every: int = 360,
        young_threshold: int | None = None,
    ) -> None:
        if young_threshold is not None and young_threshold < 1:
            raise ValueError("young_threshold must be at least 1")
        self.interval_s = interval_s
        self.unfreeze_every = unfreeze_every
        self.young_threshold = young_threshold
        self._task: asyncio.Task[None] | None = None
        self._saved_threshold: tuple[int, ...] | None = None
        self.freezes = 0

    def start(self) -> None:
        if self.young_threshold is not None and self._saved_threshold is None:
            self._saved_threshold = gc.get_threshold()
            gc.set_threshold(self.young_threshold, *self._saved_threshold[1:])
        if self.interval_s is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="csms-gc-freezer")

    async def stop(self) -> None:
        """Stop freezing and hand every frozen object back to the collector (frozen garbage
        would otherwise stay in memory for the life of the process); the thresholds are
        Python's again."""
        if self._saved_threshold is not None:
            gc.set_threshold(*self._saved_threshold)
            self._saved_threshold = None
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
        assert self.interval_s is not None
        while True:
            await asyncio.sleep(self.interval_s)
            self.step()
