"""A run's end: the stations stop at its deadline and deliver what they had decided to send.

A run cut at ``until`` (``chargegrid sim --duration-h``) stops every station's simulation
at once, so nothing more is decided, and then gives the stations a bounded real time to
deliver what their models had already decided to send: a swap timed out just before the
end is reported to the central system, not only counted in the run's summary. What is
still queued once that time is up is what the central system never got (``Fleet.unsent``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from chargegrid.clock import Clock
from simulators.messages import QUEUED_OFFLINE
from simulators.runner import StationRunner

__all__ = ["DRAIN_S", "drain", "undelivered", "until_next_tick"]

#: Real seconds a run's stations get at its end to deliver what they had decided to send.
DRAIN_S = 10.0


def undelivered(runner: StationRunner) -> int:
    """The messages kept until the central system has them (transaction messages, charging
    needs, a device's reports) still in the station's outbox, the one in flight included."""
    return sum(isinstance(item.message, QUEUED_OFFLINE) for item in runner.outbox)


async def drain(runners: Sequence[StationRunner], drain_s: float) -> None:
    """Wait until every station has delivered its kept messages, at most ``drain_s`` real
    seconds (a station still connecting may connect and boot to do so)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + drain_s
    # Polled: the outboxes of many stations empty in their own connection tasks.
    while any(undelivered(r) for r in runners) and loop.time() < end:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


def until_next_tick(clock: Clock, deadline: datetime | None, every_s: float) -> float:
    """Real seconds to the next progress update or, if sooner, to the deadline (on a fast
    clock a run would otherwise go well past its deadline between two updates)."""
    if deadline is None:
        return every_s
    left_s = (deadline - clock.now()).total_seconds() / clock.speed
    return max(0.0, min(every_s, left_s))
