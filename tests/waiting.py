"""Waiting on conditions, never on time: the one helper tests use instead of fixed sleeps.

A fixed ``asyncio.sleep`` is a guess about how fast the machine is; on a loaded CI machine
the guess is wrong and the test fails (or, worse, passes without testing anything). Wait
for what the test needs instead, with a generous deadline that only a real failure reaches::

    await wait_until(lambda: stats.points_written >= 100, 30, "the first points")
    value = await wait_until(lambda: store_get(), 10, "the row")  # returns the truthy value

The predicate may be a plain function or return an awaitable (an ``async def`` or a lambda
calling one); it is polled every ``every_s`` seconds of wall time until it returns something
truthy, which is returned. On timeout the test fails with ``what`` and the last value seen.

To wait until tasks are inside a call (waiting in it), start them with :class:`Entered`
and wait on its count::

    callers = Entered()
    tasks = [callers.start(cache.fresh()) for _ in range(20)]
    await wait_until(lambda: callers.inside == 20, 10, "twenty callers waiting")
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["Entered", "wait_until", "wait_until_sync"]

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


class Entered:
    """Tasks started on a call, each counted in the step that enters the call: a count of
    n means n tasks have run their call up to its first wait (``inside`` only grows)."""

    def __init__(self) -> None:
        self.inside = 0

    def start(self, call: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        async def entering() -> T:
            self.inside += 1
            return await call

        return asyncio.create_task(entering())


class _Turn:
    """Yields once to whatever drives the coroutine (an asyncio task reschedules it at the
    loop's next turn); needs no running loop."""

    def __await__(self) -> Generator[None, None, None]:
        yield


async def next_turn() -> None:
    """Give the driver one turn, as an awaited send or read does: what a fake's behaviour
    is, not a wait for anything."""
    await _Turn()


async def until_cancelled() -> None:
    """A task's body that runs until it is cancelled (it waits on nothing that will come)."""
    await asyncio.Event().wait()
