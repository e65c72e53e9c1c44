"""The storage controller's EV reduction is taken off the sessions at once, before the
re-plan it asks for (decision 0927)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from chargegrid.clock import ManualClock
from csms.domain import ChargingLimit
from csms.planning import PlanningSettings
from csms.planning.loop import SiteLoop
from csms.planning.sending import ProfileSender
from csms.planning.state import Lease, Sent
from tests.unit.planning.test_periods import END, STEP, T0, _state
from tests.waiting import wait_until


@dataclass
class _Commands:
    sent: list[ChargingLimit] = field(default_factory=list)

    def is_online(self, station_id: str) -> bool:
        return True

    async def set_charging_profile(self, limit: ChargingLimit) -> None:
        self.sent.append(limit)


def _ctx(commands: _Commands) -> Any:
    tasks: list[Any] = []

    def spawn(coro: Any, *, what: str) -> None:
        import asyncio

        tasks.append(asyncio.ensure_future(coro))

    return SimpleNamespace(
        settings=PlanningSettings(deadband_w=500.0),
        clock=ManualClock(T0 + timedelta(minutes=5)),
        commands=commands,
        spawn=spawn,
        tasks=tasks,
    )


async def test_a_cut_lowers_each_drawing_session_by_its_share_for_the_rest_of_its_profile() -> None:
    state, a, b = _state()
    commands = _Commands()
    ctx = _ctx(commands)
    a.sent = Sent(10_000.0, "TxProfile", T0, "accepted", END, 1,
                  ((T0, 10_000.0), (STEP, 4_000.0)))  # fmt: skip
    b.sent = Sent(6_000.0, "TxProfile", T0, "accepted", END, 2)
    a.sent.lease = Lease(STEP, raised=((T0, 10_000.0),), free=((T0, 2_000.0),))
    a.power_w, b.power_w = 8_000.0, 4_000.0  # A draws less than its limit
    sender = ProfileSender(ctx, state, refused=lambda _r: None, v2x_refused=lambda *_: None)
    await sender.cut(6_000.0)  # half of the 12 kW drawn
    now = ctx.clock.now()
    assert a.sent.periods == ((now, 4_000.0), (STEP, 4_000.0)) and a.sent.valid_to == END
    assert b.sent.periods == ((now, 2_000.0),) and b.sent.valid_to == END
    assert a.sent.lease is not None and a.sent.lease.raised == ((T0, 4_000.0),)
    assert sorted(limit.schedule[0][1] for limit in commands.sent) == [2_000.0, 4_000.0]
    # more than they draw: every one to 0; nothing drawn: nothing sent
    await sender.cut(1e6)
    assert a.sent.limit_w == b.sent.limit_w == 0.0
    a.power_w = b.power_w = 0.0
    sent = len(commands.sent)
    await sender.cut(5_000.0)
    assert len(commands.sent) == sent


async def test_the_loop_cuts_only_what_the_reduction_adds_until_its_replan_sends() -> None:
    state, a, b = _state()
    commands = _Commands()
    ctx = _ctx(commands)
    loop = SiteLoop(ctx, state)
    a.sent = Sent(10_000.0, "TxProfile", T0, "accepted", END, 1)
    b.sent = Sent(10_000.0, "TxProfile", T0, "accepted", END, 2)
    a.power_w = b.power_w = 10_000.0
    loop.reduce_evs(4_000.0)
    await wait_until(lambda: len(commands.sent) == 2, 5, "the cut")
    assert a.sent.limit_w == b.sent.limit_w == 8_000.0 and loop.urgent
    loop.reduce_evs(4_200.0)  # within the deadband of what was cut: nothing more
    loop.reduce_evs(0.0)
    assert loop.sender.cut_w == 4_000.0
    loop.reduce_evs(10_000.0)  # 6 kW more than was cut (the meter values still 10 kW each)
    await wait_until(lambda: len(commands.sent) == 4, 5, "the second cut")
    assert a.sent.limit_w == b.sent.limit_w == 5_000.0  # the draws 10 kW lower in all
