"""A thread of its own for blocking work handed over from the event loop (the SQLite
writer's batches, decision 0237; the station feed's reads, decision 0248).

A job goes in through a queue and its outcome comes back by one ``call_soon_threadsafe``,
the least a hand-over between threads costs (an executor adds a work item, a concurrent
future, a semaphore and a chained asyncio future per job). Jobs run one at a time, in the
order they were handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

__all__ = ["OwnThread"]

J = TypeVar("J")
R = TypeVar("R")


class OwnThread(Generic[J, R]):
    """``execute(job)`` for every job handed to :meth:`run`, on one thread named ``name``."""

    def __init__(self, execute: Callable[[J], R], *, name: str) -> None:
        self._execute = execute
        self._jobs: queue.SimpleQueue[
            tuple[J, asyncio.Future[R], asyncio.AbstractEventLoop] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, job: J) -> asyncio.Future[R]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[R] = loop.create_future()
        self._jobs.put((job, done, loop))
        return done

    def stop(self) -> None:
        """After the jobs queued before it (blocking: call it from a thread)."""
        self._jobs.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, done, loop = item
            try:
                result = self._execute(job)
            except BaseException as exc:  # handed to the awaiting task, which decides
                outcome: tuple[R | None, BaseException | None] = (None, exc)
            else:
                outcome = (result, None)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, done, *outcome)


def _settle(done: asyncio.Future[R], result: R | None, error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(cast(R, result))
