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
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(kw_only=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: ``initial_s * multiplier**n``, capped at ``max_s``
    (grown one failure at a time, so it never overflows however long the failures last)."""

    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.1
    rng: Callable[[], float] = random.random
    #: failures counted since the last reset
    attempt: int = field(default=0, init=False)
    _base_s: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.reset()

    def next_delay(self) -> float:
        """The wait before the next attempt; each call counts one failure."""
        base = self._base_s
        self._base_s = min(self.max_s, base * self.multiplier)
        self.attempt += 1
        if not self.jitter:
            return base
        return base * (1.0 + self.jitter * (2.0 * self.rng() - 1.0))

    def reset(self) -> None:
        """After a success: the next failure waits ``initial_s`` again."""
        self.attempt = 0
        self._base_s = min(self.max_s, self.initial_s)
