"""What a station's session waits for (an answer, the clock), ended when its connection goes
or the station stops: a call in flight ends with the session, never left running to fail on
the closed connection with nobody to hear it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from chargegrid.clock import Clock

__all__ = ["ConnectionLost", "answered", "slept"]


class ConnectionLost(Exception):
    """The socket closed while the station waited for something."""


async def answered(call: Coroutine[Any, Any, Any], reader: asyncio.Task[None]) -> asyncio.Task[Any]:
    """Run ``call`` (an OCPP call) until it ends, its task returned done (its result or error
    in it). :class:`ConnectionLost` if the connection's ``reader`` ends first; cancelled (the
    station stops), the call is ended before the cancellation goes on."""
    task = asyncio.ensure_future(call)
    try:
        await asyncio.wait({task, reader}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        await _abandon(task)
        raise
    if not task.done():
        await _abandon(task)
        raise ConnectionLost("connection closed while waiting for an answer")
    return task


async def slept(clock: Clock, delay_s: float, reader: asyncio.Task[None]) -> None:
    """Sleep ``delay_s`` on ``clock``; :class:`ConnectionLost` if the connection ends first."""
    sleeper = asyncio.ensure_future(clock.sleep(delay_s))
    try:
        await asyncio.wait({sleeper, reader}, return_when=asyncio.FIRST_COMPLETED)
        done = sleeper.done()
    finally:
        sleeper.cancel()
    if not done:
        raise ConnectionLost("connection closed")


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # what a call nobody waits for ended with is no error to report


async def _abandon(task: asyncio.Future[Any]) -> None:
    """End a call whose answer nobody waits for any more: cancelled and waited for, and what
    it ended with taken (it may have failed on the closing connection just before)."""
    task.cancel()
    task.add_done_callback(_retrieved)
    await asyncio.wait({task})
