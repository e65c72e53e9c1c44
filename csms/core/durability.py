"""Holding an answer until the store has the data.

A store write that fails with :class:`~csms.exceptions.StoreUnavailable` is retried with
capped exponential backoff until it succeeds or the caller is cancelled (the station went
away; it will resend). Every store write is idempotent, so a retry never stores twice.

:func:`uncancellable` runs a commit and what it announces to the end even when the caller
is cancelled meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from csms.backoff import Backoff
from csms.exceptions import StoreUnavailable

__all__ = ["Retrying", "uncancellable"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Retrying:
    """Run store operations, retrying while the store is unavailable."""

    def __init__(self, *, initial_s: float = 0.1, max_s: float = 5.0) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.outage_retries = 0

    async def __call__(
        self, op: Callable[[], Awaitable[T]], *, what: str, station_id: str = "-"
    ) -> T:
        backoff: Backoff | None = None  # made at the first failure: none per answer
        while True:
            try:
                result = await op()
            except StoreUnavailable as exc:
                if backoff is None:
                    backoff = Backoff(initial_s=self.initial_s, max_s=self.max_s, jitter=0.0)
                delay = backoff.next_delay()
                attempt = backoff.attempt
                self.outage_retries += 1
                log = logger.warning if attempt in (1, 10) or attempt % 50 == 0 else logger.debug
                log(
                    "station %s: %s held, store unavailable (attempt %d, retry in %.2f s): %s",
                    station_id,
                    what,
                    attempt,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                continue
            if backoff is not None:
                logger.info(
                    "station %s: %s stored after %d retries", station_id, what, backoff.attempt
                )
            return result


async def uncancellable(work: Coroutine[Any, Any, T], background: set[asyncio.Task[Any]]) -> T:
    """Run ``work`` in a task of its own (kept in ``background`` until it ends) and wait for
    its outcome; a cancelled caller stops waiting, ``work`` goes on.

    What ``asyncio.shield`` does, with one callback instead of three (forget the task, mark
    its failure as seen, hand its outcome to the caller) and no second future chained to
    the first. Used for a transaction's start and stop; the per-message writes (meter
    values, TransactionEvent) need no task: the store runs their ``on_commit`` itself
    (decision 0254)."""
    loop = asyncio.get_running_loop()
    task: asyncio.Task[T] = loop.create_task(work)
    outcome: asyncio.Future[T] = loop.create_future()

    def settle(done: asyncio.Task[T]) -> None:
        background.discard(done)
        if done.cancelled():
            if not outcome.done():
                outcome.cancel()
            return
        error = done.exception()  # seen even when the caller is gone
        if outcome.done():  # the caller was cancelled meanwhile
            return
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(done.result())

    background.add(task)
    task.add_done_callback(settle)
    return await outcome
