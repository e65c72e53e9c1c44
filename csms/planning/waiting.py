"""How a site loop waits between re-plans: on its clock or a wake-up, and, when a re-plan was
asked for too soon, held back on the clock; :attr:`Waiting.idle` says it waits with nothing
to do before the clock moves (what a test driving a manual clock goes on from)."""

from __future__ import annotations

import asyncio

from csms.planning.context import PlanningContext

__all__ = ["Waiting"]


class Waiting:
    """A loop's waits on its context's clock (monotonic seconds), woken early by ``wake``."""

    def __init__(self, ctx: PlanningContext, wake: asyncio.Event) -> None:
        self.ctx = ctx
        self.wake = wake
        #: While waiting: until when; and whether what it waits for is a held-back re-plan.
        self._until: float | None = None
        self._holding = False

    @property
    def idle(self) -> bool:
        """Waiting on the clock with nothing to do before it moves: no wake-up, or one held
        back until a time still to come."""
        until = self._until
        if until is None or until <= self.ctx.clock.monotonic():
            return False
        return self._holding or not self.wake.is_set()

    async def clock_or_wake(self, wait_s: float) -> None:
        """Until ``wait_s`` from now on the clock, or the wake-up if sooner."""
        self._until = until = self.ctx.clock.monotonic() + wait_s
        sleeper = asyncio.ensure_future(self._sleep_until(until))
        waiter = asyncio.ensure_future(self.wake.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._until = None
            sleeper.cancel()
            waiter.cancel()

    async def hold(self, seconds: float) -> None:
        """A re-plan asked for, held back ``seconds`` on the clock."""
        self._until, self._holding = self.ctx.clock.monotonic() + seconds, True
        try:
            await self.ctx.clock.sleep(seconds)
        finally:
            self._until, self._holding = None, False

    async def _sleep_until(self, until: float) -> None:
        # measured when this task starts: the clock may have moved since ``until`` was fixed
        await self.ctx.clock.sleep(until - self.ctx.clock.monotonic())
