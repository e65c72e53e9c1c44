"""Capped exponential backoff: the one waiting rule of everything that tries again.

The supervisor's restarts, the store writes held during an outage (``core/durability.py``)
and the telemetry sender's retries all wait ``initial_s``, then ``multiplier`` times longer
after each failure, never longer than ``max_s``, and start afresh after a success. The
telemetry sender adds a jitter; the others wait the exact figure. Pure: it tells how long to
wait, the caller sleeps.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Exponential backoff with jitter: ``initial_s * multiplier**n``, capped at ``max_s``
    (grown one failure at a time, so it never overflows however long the failures last)."""

    def __init__(
        self,
        *,
        initial_s: float = 0.5,
        max_s: float = 30.0,
        multiplier: float = 2.0,
        jitter: float = 0.1,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.multiplier = multiplier
        self.jitter = jitter
        self._rng = rng
        #: failures counted since the last reset
        self.attempt = 0
        self._base_s = min(max_s, initial_s)

    def next_delay(self) -> float:
        """The wait before the next attempt; each call counts one failure."""
        base = self._base_s
        self._base_s = min(self.max_s, base * self.multiplier)
        self.attempt += 1
        if not self.jitter:
            return base
        return base * (1.0 + self.jitter * (2.0 * self._rng() - 1.0))

    def reset(self) -> None:
        """After a success: the next failure waits ``initial_s`` again."""
        self.attempt = 0
        self._base_s = min(self.max_s, self.initial_s)
