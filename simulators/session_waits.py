"""What a station's session waits for (an answer, the clock), ended when its connection goes
or the station stops: a call in flight ends with the session, never left running to fail on
the closed connection with nobody to hear it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Coroutine
from typing import Any

from chargegrid.clock import Clock

__all__ = ["AnswerHandOver", "ConnectionLost", "answered", "slept"]


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


class AnswerHandOver:
    """The answer to the session's call in flight, handed from the connection's reader to the
    session: the reader takes the frame behind it only once the session has applied it, as
    a station's stack does (a 1.6 station knows its transaction's id, from the
    StartTransaction answer, before it handles a TxProfile sent right behind that answer)."""

    def __init__(self) -> None:
        self._due: tuple[str, asyncio.Future[None]] | None = None

    def expect(self) -> str:
        """A call goes out: the unique id its answer will carry."""
        self.applied()
        unique_id = str(uuid.uuid4())
        self._due = (unique_id, asyncio.get_running_loop().create_future())
        return unique_id

    def applied(self) -> None:
        """The session applied the answer (or gave up on it): the reader goes on."""
        due, self._due = self._due, None
        if due is not None and not due[1].done():
            due[1].set_result(None)

    async def taken_in(self, raw: str | bytes) -> None:
        """After the reader handed ``raw`` on: wait until the session applied it, if it is
        the answer the session waits for (any other frame goes on at once)."""
        due = self._due
        if due is None or due[1].done():
            return
        try:
            frame = json.loads(raw)
        except ValueError:
            return
        if isinstance(frame, list) and len(frame) > 1 and frame[0] in (3, 4) and frame[1] == due[0]:
            await due[1]
