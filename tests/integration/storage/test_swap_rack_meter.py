"""A swap station's own MeterValues at the central system (decision 0915): the simulators'
swap station meters its rack on EVSE 0 and each slot's pack on its EVSE; the central system
reads exactly that, the storage controller's site import (no grid meter) counts the rack's
draw, and under a cap that the EVs and the rack together break, the site's import, as the
simulated site measures it, comes back within the cap."""

from __future__ import annotations

import asyncio
from datetime import time, timedelta

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.sites import SwapStation
from simulators import SiteMeterSpec
from simulators.storage import StorageSpec
from simulators.swap import PackSpec, SwapStationSpec
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

PACK_WH = 60_000.0


async def test_the_racks_metered_draw_and_packs_reach_the_controller_and_the_plan() -> None:
    clock = VirtualClock(start=START, speed=3.0)
    store = await depot_store()
    seen = Seen()
    rack = SwapStation(
        id="rack", station="SW1", node="grid", rack_size=2, pack_capacity_wh=PACK_WH,
        max_pack_power_w=15_000.0, max_rack_power_w=30_000.0, ready_soc_pct=90.0,
        arrival_soc_pct=10.0, swap_times=((START + timedelta(minutes=45)).time(), time(23)),
    )  # fmt: skip
    site = _site().model_copy(update={"swap": (rack,)})
    unit = StorageSpec(
        "BESS1", 100_000.0, 30_000.0, 30_000.0, initial_soc=0.6, min_soc=0.1, max_soc=1.0
    )
    simulated_rack = SwapStationSpec(
        "SW1", 2, (PackSpec("P1", PACK_WH, 0.3), PackSpec("P2", PACK_WH, 0.5)),
        max_rack_power_w=30_000.0, max_pack_power_w=15_000.0,
    )  # fmt: skip
    async with Csms(_settings(), clock=clock, store=store) as csms:
        csms.bus.subscribe(seen)
        await csms.sites.apply(site)
        fleet = sim_fleet(
            csms.url, clock, storage=(unit,), swaps=(simulated_rack,),
            swap_arrivals_per_hour=0.0, site_meter=SiteMeterSpec("GRIDMETER"),
        )  # fmt: skip
        run = asyncio.create_task(fleet.run(until=START + timedelta(hours=1)))
        loop = await site_loop(csms)
        state = loop.state.racks["rack"]
        (swap_runner,) = fleet.swap_runners
        model = swap_runner.device.swap
        (meter_runner,) = fleet.meter_runners
        truth = meter_runner.device

        # the packs the station meters are the rack the planner plans (not 10 % each)
        def packs_read() -> bool:
            soc = state.soc_pct(metered=True)
            return len(soc) == 2 and all(s > 25.0 for s in soc)

        await wait_until(packs_read, 60, "the slots' SoC at the central system")
        assert state.meter.refused == {}
        # the rack charging, as metered, in the controller's estimate beside the EVs'
        await wait_until(lambda: (state.meter.power_w or 0.0) > 5_000.0, 60, "the rack drawing")
        await wait_until(lambda: loop.metered_import_w() > 20_000.0, 60, "EVs charging")
        evs = sum(ev.power_w for ev in loop.state.evses.values() if ev.tx is not None)
        units = sum(u.power_w or 0.0 for u in loop.state.units.units.values())
        rack_w = state.meter.power_w or 0.0
        assert loop.metered_import_w() == pytest.approx(evs + units + rack_w)
        assert rack_w <= model.spec.max_rack_power_w

        # a cap the EVs' and the unit's draw alone would keep, the rack's breaks
        cap_w = evs + max(units, 0.0) + rack_w / 2
        now = await _cap_drop(csms, clock, cap_w=cap_w)
        # the controller's first steps see the cap broken: the rack's draw is in its import
        steps = await wait_until(
            lambda: [s for s in seen.steps_since(now) if (s.site_import_w or 0.0) > cap_w],
            60,
            "a control step on an import above the cap",
        )
        assert steps[0].import_source == "estimate"
        # the site's import, as the simulated grid connection measures it, back within the cap
        await wait_until(
            lambda: (
                truth.last is not None
                and truth.last.at > now + timedelta(seconds=30)
                and truth.last.import_w - truth.last.export_w <= cap_w + 1_000.0
            ),
            90,
            "the site's import within the cap",
        )
        controller = loop.storage
        assert controller is not None and controller.last_import is not None
        assert state.meter.lapses.get("stale", 0) == 0
        run.cancel()
    await store.close()
