"""How many station handshakes run at once; the others wait their turn, reading paused.

In a reconnect storm the event loop accepts thousands of connections in one go (up to the
listen backlog per wake-up). Started all at once, their handshakes share the loop: each
one advances a little per turn, all of them finish late, many after their handshake
timeout, and the work spent on those is lost. :class:`HandshakeGate` lets ``limit``
handshakes run; a connection beyond them waits, with nothing read from it and no timer
running, and starts when one of the running handshakes ends, in the order they arrived.
The server then serves handshakes at the rate it can, each one quickly.

A connection that would wait longer than ``wait_max_s`` for its turn (the handshakes
waiting, at the rate they have been ending) is not kept: it is answered 503 at once, before
anything of it is read, with a Retry-After that books it a later turn. The turns booked this
way follow each other at that rate, so the stations sent away come back spread over the
time the server needs for them instead of all together.

Sans-I/O: the gate counts, keeps the waiting items and books the turns; the connection class
(:mod:`csms.ocpp.server`) pauses, resumes and answers the transports.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Generic, TypeVar

__all__ = ["HandshakeGate"]

T = TypeVar("T")

#: the handshake rate assumed before any has ended (per second), and the window the rate
#: is measured over (seconds)
_FIRST_RATE_PER_S = 100.0
_RATE_WINDOW_S = 3.0


class HandshakeGate(Generic[T]):
    """At most ``limit`` handshakes in progress (0 = no limit); the rest wait in order, or
    are sent away with a booked turn if they would wait longer than ``wait_max_s``."""

    __slots__ = (
        "_booked_until",
        "_ended",
        "_waiting",
        "limit",
        "peak_waiting",
        "refused",
        "running",
        "wait_max_s",
        "waited",
    )

    def __init__(self, limit: int, *, wait_max_s: float = math.inf) -> None:
        if limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}")
        if not wait_max_s > 0:
            raise ValueError(f"wait_max_s must be positive, got {wait_max_s}")
        self.limit = limit
        self.wait_max_s = wait_max_s
        #: handshakes started and not yet ended
        self.running = 0
        #: connections that had to wait for their turn, and the most waiting at once
        self.waited = 0
        self.peak_waiting = 0
        #: connections sent away with a later turn (503 and Retry-After)
        self.refused = 0
        self._waiting: deque[T] = deque()
        self._ended: deque[float] = deque()  # when the recent handshakes ended
        self._booked_until = 0.0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def rate_per_s(self, now: float) -> float:
        """Handshakes ended per second, over the last few seconds."""
        ended = self._ended
        while ended and ended[0] < now - _RATE_WINDOW_S:
            ended.popleft()
        if len(ended) < 10:
            return _FIRST_RATE_PER_S
        return len(ended) / max(now - ended[0], 0.1)

    def enter(self, item: T, now: float = 0.0) -> bool | float:
        """True: ``item``'s handshake may start now (its end must be told to
        :meth:`leave`). False: it waits; :meth:`leave` hands it back when its turn comes.
        A number: it would wait too long; it should come back after that many seconds."""
        if not self.limit or (self.running < self.limit and not self._waiting):
            self.running += 1
            return True
        rate = self.rate_per_s(now)
        if (len(self._waiting) + 1) / rate > self.wait_max_s:
            # Booked after the ones waiting and the ones sent away before it, one turn
            # every 1/rate seconds.
            self._booked_until = max(self._booked_until, now + self.wait_max_s) + 1 / rate
            self.refused += 1
            return self._booked_until - now
        self._waiting.append(item)
        self.waited += 1
        self.peak_waiting = max(self.peak_waiting, len(self._waiting))
        return False

    def leave(self, now: float = 0.0) -> list[T]:
        """A handshake ended (answered, refused, timed out or lost). Returns the waiting
        items whose turn it is now, in arrival order: each holds a place from now on (one
        that is gone by then must :meth:`leave` at once)."""
        self.running -= 1
        if self.limit:
            ended = self._ended
            ended.append(now)
            while ended[0] < now - _RATE_WINDOW_S:
                ended.popleft()
        turn: list[T] = []
        while self._waiting and self.running < self.limit:
            turn.append(self._waiting.popleft())
            self.running += 1
        return turn

    def close(self) -> list[T]:
        """Every waiting item, taken out (the server stops: they are closed unserved)."""
        waiting = list(self._waiting)
        self._waiting.clear()
        return waiting
