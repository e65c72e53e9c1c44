"""Waiting on conditions, never on time: the one helper tests use instead of fixed sleeps.

A fixed ``asyncio.sleep`` is a guess about how fast the machine is; on a loaded CI machine
the guess is wrong and the test fails (or, worse, passes without testing anything). Wait
for what the test needs instead, with a generous deadline that only a real failure reaches::

    await wait_until(lambda: stats.points_written >= 100, 30, "the first points")
    value = await wait_until(lambda: store_get(), 10, "the row")  # returns the truthy value

The predicate may be a plain function or return an awaitable (an ``async def`` or a lambda
calling one); it is polled every ``every_s`` seconds of wall time until it returns something
truthy, which is returned. On timeout the test fails with ``what`` and the last value seen.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["wait_until", "wait_until_sync"]

T = TypeVar("T")


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    timeout_s: float,
    what: str,
    *,
    every_s: float = 0.02,
) -> T:
    """Poll ``predicate`` until it is truthy and return its value; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout_s:g} s waiting for {what} (last: {value!r})"
            )
        await asyncio.sleep(every_s)


def wait_until_sync(
    predicate: Callable[[], T], timeout_s: float, what: str, *, every_s: float = 0.02
) -> T:
    """:func:`wait_until` for code without an event loop (threads, subprocesses)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout_s:g} s waiting for {what} (last: {value!r})"
            )
        time.sleep(every_s)
