"""Group commit for meter samples.

Many stations send MeterValues at once; writing each message in its own database
transaction makes the commit the bottleneck. :class:`SampleWriter` gathers the samples of
every handler waiting at the moment into one ``add_samples`` call and wakes each handler
when that call has committed, so every answer still follows a durable write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from csms.core.durability import Retrying
from csms.store.base import Store, StoredSample

__all__ = ["SampleWriter"]

logger = logging.getLogger(__name__)


class SampleWriter:
    def __init__(self, store: Store, retrying: Retrying, *, max_batch: int = 5000) -> None:
        self._store = store
        self._retrying = retrying
        self._max_batch = max_batch
        self._pending: list[tuple[Sequence[StoredSample], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    async def write(self, samples: Sequence[StoredSample], *, station_id: str = "-") -> None:
        """Return once ``samples`` are durable."""
        if not samples:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((samples, fut))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="csms-sample-writer")
        await asyncio.shield(fut)

    async def _run(self) -> None:
        while self._pending:
            batch: list[tuple[Sequence[StoredSample], asyncio.Future[None]]] = []
            count = 0
            while self._pending and (not batch or count < self._max_batch):
                item = self._pending.pop(0)
                batch.append(item)
                count += len(item[0])
            rows = [s for samples, _ in batch for s in samples]
            try:
                await self._retrying(
                    lambda rows=rows: self._store.add_samples(rows),  # type: ignore[misc]
                    what=f"{len(rows)} meter samples",
                )
            except BaseException as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
                if not isinstance(exc, Exception):
                    for _, fut in self._pending:
                        if not fut.done():
                            fut.cancel()
                    self._pending.clear()
                    raise
                continue
            self.batches += 1
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)

    async def close(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
