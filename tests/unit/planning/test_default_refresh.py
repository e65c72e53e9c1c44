"""A cap lowers the safe defaults: the re-plan sends every station its new TxDefaultProfile
at once, not one round trip after the other, and does not ask the stations their settings
again (decision 0025)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from csms.domain import ChargingLimit
from csms.planning import PlanningSettings, SiteState
from csms.planning.loop import SiteLoop
from csms.sites import NewConstraint, SiteNode
from csms.sites.constraints import GridConstraint
from tests.unit.planning.test_minimum_current import T0, Clock, Commands, Sites, _site
from tests.waiting import wait_until


class HeldCommands(Commands):
    """Answers at once until ``hold`` is cleared; then each send waits for it."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.go = asyncio.Event()
        self.go.set()
        self.in_flight = 0
        self.asked = 0

    async def set_charging_profile(self, limit: ChargingLimit) -> None:
        self.in_flight += 1
        try:
            await self.go.wait()
        finally:
            self.in_flight -= 1
        await super().set_charging_profile(limit)

    async def get_configuration(self, station_id: str, keys: Any) -> list[Any]:
        self.asked += 1
        return []

    async def get_variables(self, station_id: str, names: Any) -> list[Any]:
        self.asked += 1
        return []


async def test_a_cap_sends_every_stations_lower_default_at_once() -> None:
    clock = Clock()
    commands = HeldCommands(clock)
    sites = Sites([])
    service = SimpleNamespace(
        settings=PlanningSettings(),
        clock=clock,
        commands=commands,
        sites=sites,
        bus=SimpleNamespace(publish=lambda event: None),
        spawn=lambda coro: coro.close(),
    )
    # 20 EVSEs under 200 kW: 10 kW each; capped to 100 kW, 5 kW (above 6 A on 3 phases)
    site = _site().model_copy(update={"nodes": (SiteNode(id="grid", max_import_w=200_000.0),)})
    state = SiteState(site)
    loop = SiteLoop(service, state)  # type: ignore[arg-type]
    for st in state.stations.values():
        st.online = st.seen = True
    for station_id in state.stations:  # as each boots: its settings asked, its default sent
        await loop.defaults.send(station_id)
    assert commands.asked == len(state.stations) == 20
    before = {ev.key: ev.default_w for ev in state.evses.values()}
    assert all(w is not None and w > 0 for w in before.values())

    cap = GridConstraint(
        **NewConstraint(
            node_id="grid", max_import_w=100_000.0, start=T0, end=T0 + timedelta(hours=2)
        ).model_dump(),
        id="cap",
        site_id="depot",
        created_at=T0,
    )
    commands.go.clear()
    refresh = asyncio.create_task(loop.defaults.refresh([cap], T0))
    # every EVSE's new default in flight together, while none has been answered
    await wait_until(lambda: commands.in_flight == 20, 10, "twenty defaults in flight at once")
    commands.go.set()
    await refresh
    assert commands.asked == 20  # not asked again
    after = {ev.key: ev.default_w for ev in state.evses.values()}
    for key, w in after.items():
        old = before[key]
        assert w is not None and old is not None and w < old, (key, old, w)
    assert sum(w for w in after.values() if w is not None) <= 100_000.0 + 1e-6
