"""What follows a station's answer: announcing what it tells the station (decision 0014).

A 1.6 station learns the central system's id of its transaction from the StartTransaction
answer, and refuses a TxProfile naming an id it has not been told. So the start is
announced (the planner re-plans on it and sends that TxProfile) only once the answer is
written, and a command naming a transaction whose answer is still on its way waits for it.

:class:`AfterAnswer` holds what follows one answer; :class:`Untold` knows the transactions
whose id is in an answer not yet written. Both are plain bookkeeping: the OCPP edge says
when an answer is out, the core says what follows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["AfterAnswer", "Untold"]


class AfterAnswer:
    """What follows the answer to one station message, held until the edge has written
    the answer (``done(sent=True)``) or given up on it (``done(sent=False)``: the
    connection closed, the handler failed or was cancelled). Work handed over after that
    runs at once: a commit that outlived its cancelled handler still announces."""

    __slots__ = ("_held", "sent")

    def __init__(self) -> None:
        self._held: list[Callable[[bool], None]] | None = []
        #: None until the answer is out or given up on; then whether it was written.
        self.sent: bool | None = None

    def then(self, work: Callable[[bool], None]) -> None:
        """Run ``work(sent)`` once the answer is out (now, if it already is)."""
        if self._held is None:
            assert self.sent is not None
            work(self.sent)
        else:
            self._held.append(work)

    def done(self, *, sent: bool) -> None:
        """The answer was written (``sent``) or never will be: run what was held."""
        held, self._held = self._held, None
        if held is None:
            return
        self.sent = sent
        for work in held:
            work(sent)


class Untold:
    """The transactions whose id a station has not been told yet (its answer is on its way
    or was lost); a command naming one waits (:meth:`told`) until it has been."""

    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}
        #: Commands waiting now (a test's rendezvous; 0 when nothing waits).
        self.waiters = 0

    def __contains__(self, transaction_id: int) -> bool:
        return transaction_id in self._events

    def hold(self, transaction_id: int) -> None:
        """An answer naming ``transaction_id`` is about to be written."""
        if transaction_id not in self._events:
            self._events[transaction_id] = asyncio.Event()

    def tell(self, transaction_id: int) -> None:
        """The station has been told ``transaction_id`` (or named it itself)."""
        event = self._events.pop(transaction_id, None)
        if event is not None:
            event.set()

    async def told(self, transaction_id: int, *, timeout_s: float) -> bool:
        """Wait until the station has been told ``transaction_id``; False if it still has
        not after ``timeout_s`` (the connection is likely gone; the caller goes on)."""
        event = self._events.get(transaction_id)
        if event is None:
            return True
        self.waiters += 1
        try:
            async with asyncio.timeout(timeout_s):
                await event.wait()
        except TimeoutError:
            return False
        finally:
            self.waiters -= 1
        return True
