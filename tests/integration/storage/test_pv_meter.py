"""A PV plant metering over OCPP 2.1 as the planner's PV (decision 0922): the simulators' PV
plant (``FleetConfig.pv``, MeterValues on EVSE 0) is a ``[[pv]]`` plant with a ``station``;
the planner counts what it meters, so the EVs take it on top of a grid cap, and when the
plant stops producing the next reading re-plans them back under the cap."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.events import DomainEvent, PlanComputed
from csms.sites import PvAsset, Site, SiteStation
from simulators.pv import ClearSkyPV
from simulators.pv_station import PvSpec
from tests.integration.planning.harness import START
from tests.integration.storage.test_storage_unit import (
    Seen,
    _cap_drop,
    _settings,
    _site,
    depot_store,
    sim_fleet,
)
from tests.integration.storage.test_storage_unit import _site_loop as site_loop
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

PV_W = 20_000.0
CAP_W = 8_000.0


@dataclass(frozen=True, slots=True)
class SwitchedSun(ClearSkyPV):
    """The sky as the test switches it: PV_W while ``sunny[0]``, else nothing."""

    sunny: list[bool] = field(default_factory=lambda: [True])

    def power_w(self, at: datetime) -> float:
        return PV_W if self.sunny[0] else 0.0


def _pv_site() -> Site:
    base = _site()
    return base.model_copy(
        update={
            "stations": (
                *(s for s in base.stations if s.id != "BESS1"),
                SiteStation(id="PV-0001", node="grid"),
            ),
            "storage": (),
            "pv": (
                PvAsset(
                    id="carport", node="grid", peak_w=30_000.0, station="PV-0001", stale_after_s=60
                ),
            ),
        }
    )


async def test_the_simulated_pv_plant_is_the_planners_pv() -> None:
    clock = VirtualClock(start=START, speed=8.0)
    store = await depot_store()
    seen = Seen()
    plans: list[PlanComputed] = []

    def on_plan(event: DomainEvent) -> None:
        if isinstance(event, PlanComputed):
            plans.append(event)

    sky = SwitchedSun("PV-0001", PV_W)
    async with Csms(_settings(), clock=clock, store=store) as csms:
        csms.bus.subscribe(seen)
        csms.bus.subscribe(on_plan)
        await csms.sites.apply(_pv_site())
        fleet = sim_fleet(csms.url, clock, pv=(PvSpec("PV-0001", sky),))
        run = asyncio.create_task(fleet.run(until=START + timedelta(hours=1)))
        loop = await site_loop(csms)
        reading = await wait_until(lambda: loop.state.pv.get("carport"), 60, "the plant metered")
        assert reading is not None and reading.power_w == PV_W and reading.at > START
        await wait_until(
            lambda: sum(max(0.0, ev.power_w) for ev in loop.state.evses.values()) > 15_000.0,
            60,
            "EVs charging",
        )

        # a cap under what the EVs draw: the plan counts the metered PV on top of it
        capped_at = await _cap_drop(csms, clock, cap_w=CAP_W)
        plan = await wait_until(
            lambda: [p for p in plans if p.at >= capped_at and p.problem.pv], 60, "a plan"
        )
        (plant,) = plan[0].problem.pv
        assert plant.pv_id == "carport" and plant.forecast_w[0] == pytest.approx(0.9 * PV_W)
        await wait_until(
            lambda: seen.ev_total_at(clock.now()) > CAP_W + 5_000.0,
            60,
            "the EVs given the metered PV on top of the cap",
        )
        assert loop.metered_import_w() < sum(
            max(0.0, ev.power_w) for ev in loop.state.evses.values()
        )  # the storage controller's estimate subtracts it too

        # the plant stops producing: its next reading re-plans the EVs back under the cap
        sky.sunny[0] = False
        cut = clock.now()
        await wait_until(
            lambda: (r := loop.state.pv.get("carport")) is not None and r.at > cut,
            120,
            "the plant's reading after the sun",
        )
        assert loop.state.pv["carport"].power_w == 0.0
        await wait_until(
            lambda: seen.ev_total_at(clock.now()) <= CAP_W + 1,
            60,
            "EV limits back within the cap",
        )
        controller = loop.storage
        assert controller is not None and controller.pv is not None
        assert controller.pv.refused == {} and not controller.pv.lapses.get(("carport", "stale"))
        run.cancel()
    await store.close()
