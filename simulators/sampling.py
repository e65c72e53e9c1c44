"""Clock-aligned meter samples, as stations take them: one every interval since the epoch
(a 60 s interval samples at each whole minute), whatever the device."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from simulators.quantities import positive

__all__ = ["SampleClock", "aligned_after"]


def aligned_after(at: datetime, interval_s: float) -> datetime:
    """The first instant after ``at`` that is a whole number of ``interval_s`` since the epoch."""
    seconds = at.timestamp()
    slot = math.floor(seconds / interval_s) + 1
    return at + timedelta(seconds=slot * interval_s - seconds)


class SampleClock:
    """A device's meter samples, aligned to the clock: one every ``interval_s`` since the
    epoch, the first after ``start``."""

    def __init__(self, interval_s: float, start: datetime) -> None:
        self.interval_s = positive("meter_interval_s", interval_s)
        #: when the next sample is due
        self.next = aligned_after(start, self.interval_s)

    def take(self, by: datetime) -> datetime | None:
        """The sample due by ``by`` (the earliest if several), the next one then set after
        it; None when none is due."""
        at = self.next
        if at > by:
            return None
        self.next = aligned_after(at, self.interval_s)
        return at
