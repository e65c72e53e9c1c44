"""Holding an answer until the store has the data.

A store write that fails with :class:`~csms.exceptions.StoreUnavailable` is retried with
capped exponential backoff until it succeeds or the caller is cancelled (the station went
away; it will resend). Every store write is idempotent, so a retry never stores twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from csms.exceptions import StoreUnavailable

__all__ = ["Retrying"]

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
        delay = self.initial_s
        attempt = 0
        while True:
            try:
                result = await op()
            except StoreUnavailable as exc:
                attempt += 1
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
                delay = min(delay * 2, self.max_s)
                continue
            if attempt:
                logger.info("station %s: %s stored after %d retries", station_id, what, attempt)
            return result
