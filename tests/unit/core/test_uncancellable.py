"""A commit and its announcement run to the end when the handler waiting for them is
cancelled; the handler still sees its cancellation, and a failure nobody waits for any more
is marked as seen."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from csms.core.durability import uncancellable


async def test_the_outcome_reaches_the_caller() -> None:
    background: set[asyncio.Task[Any]] = set()

    async def work() -> int:
        return 7

    assert await uncancellable(work(), background) == 7
    assert not background


async def test_a_failure_reaches_the_caller() -> None:
    background: set[asyncio.Task[Any]] = set()

    async def work() -> int:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await uncancellable(work(), background)


async def test_a_cancelled_caller_leaves_the_work_running_to_its_end() -> None:
    background: set[asyncio.Task[Any]] = set()
    release: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    started = asyncio.Event()
    finished: list[str] = []

    async def work() -> str:
        started.set()
        await release
        finished.append("committed and announced")
        return "done"

    caller = asyncio.create_task(uncancellable(work(), background))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert len(background) == 1 and not finished
    (task,) = background
    release.set_result(None)
    assert await task == "done"
    assert finished == ["committed and announced"]
    assert not background


async def test_a_failure_after_the_caller_left_is_marked_as_seen() -> None:
    background: set[asyncio.Task[Any]] = set()
    release: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    started = asyncio.Event()
    unseen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unseen.append(context))

    async def work() -> None:
        started.set()
        await release
        raise RuntimeError("failed after the caller left")

    caller = asyncio.create_task(uncancellable(work(), background))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    (task,) = background
    done = asyncio.Event()
    task.add_done_callback(lambda _: done.set())
    release.set_result(None)
    await done.wait()
    del task
    gc.collect()
    assert not unseen
    loop.set_exception_handler(None)


async def test_cancelled_work_cancels_the_caller() -> None:
    background: set[asyncio.Task[Any]] = set()
    started = asyncio.Event()
    forever: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def work() -> None:
        started.set()
        await forever

    caller = asyncio.create_task(uncancellable(work(), background))
    await started.wait()
    (task,) = background
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert not background
