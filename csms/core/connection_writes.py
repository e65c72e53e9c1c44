"""A new connection's store write, held back briefly for the BootNotification.

A station sends its BootNotification right after the handshake. Recording the connection
(``connected``, last seen) and then the boot cost two statements per connecting station;
held back for ``wait_s``, the connection is recorded by the boot's own upsert
(``Store.record_boot(connected=True)``). A station that does not boot within ``wait_s`` (a
reconnect after a network blip) gets the connection write alone, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

__all__ = ["ConnectionWrites"]

logger = logging.getLogger(__name__)


class ConnectionWrites:
    """Connections not yet recorded, per station, and the writes of those that waited."""

    def __init__(
        self, write: Callable[[str, datetime], Coroutine[Any, Any, None]], *, wait_s: float = 1.0
    ) -> None:
        self._write = write
        self.wait_s = wait_s
        self._held: dict[str, asyncio.TimerHandle] = {}
        self._writing: dict[str, asyncio.Task[Any]] = {}

    def hold(self, station_id: str, at: datetime) -> None:
        """``station_id`` connected ``at``: written after ``wait_s`` unless taken first."""
        self.drop(station_id)
        loop = asyncio.get_running_loop()
        self._held[station_id] = loop.call_later(self.wait_s, self._start, station_id, at)

    def take(self, station_id: str) -> bool:
        """True when the connection of ``station_id`` is still unwritten: the caller's
        write records it (and this one is dropped)."""
        handle = self._held.pop(station_id, None)
        if handle is None:
            return False
        handle.cancel()
        return True

    def drop(self, station_id: str) -> None:
        """The connection ended: its write, if not yet done, is not wanted any more."""
        self.take(station_id)
        task = self._writing.pop(station_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        for handle in self._held.values():
            handle.cancel()
        self._held.clear()
        tasks = list(self._writing.values())
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    def _start(self, station_id: str, at: datetime) -> None:
        del self._held[station_id]
        task: asyncio.Task[None] = asyncio.create_task(self._write(station_id, at))
        self._writing[station_id] = task
        task.add_done_callback(lambda t: self._done(station_id, t))

    def _done(self, station_id: str, task: asyncio.Task[Any]) -> None:
        if self._writing.get(station_id) is task:
            del self._writing[station_id]
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # the store refused it (outages are retried by the write)
            logger.warning("station %s: connection not recorded: %s", station_id, exc)
