"""The simulators' grid meter as the site import (decision 0917): a 2.1 station of its own
reports the simulated site's grid connection on EVSE 0 (the EVs, the storage unit and a base
load no station meters); the central system reads exactly that, and the storage controller
holds the cap against the measured import, which the sum of what it knows would miss."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.sites import GridMeter, SiteStation
from simulators import SiteMeterSpec
from simulators.storage import StorageSpec
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

BASE_W = 15_000.0
CAP_W = 30_000.0


async def test_the_simulated_meter_is_the_import_the_controller_holds() -> None:
    clock = VirtualClock(start=START, speed=3.0)
    store = await depot_store()
    seen = Seen()
    base = _site()
    site = base.model_copy(
        update={
            "stations": (*base.stations, SiteStation(id="GRIDMETER", node="grid")),
            "meter": GridMeter(station="GRIDMETER", evse=0),
        }
    )
    unit = StorageSpec(
        "BESS1", 100_000.0, 30_000.0, 30_000.0, initial_soc=0.6, min_soc=0.1, max_soc=1.0
    )
    async with Csms(_settings(), clock=clock, store=store) as csms:
        csms.bus.subscribe(seen)
        await csms.sites.apply(site)
        meter_spec = SiteMeterSpec("GRIDMETER", base_load_w=BASE_W)
        fleet = sim_fleet(csms.url, clock, storage=(unit,), site_meter=meter_spec)
        run = asyncio.create_task(fleet.run(until=START + timedelta(hours=1)))
        loop = await site_loop(csms)
        meter = loop.state.meter
        (runner,) = fleet.meter_runners
        simulated = runner.meter
        await wait_until(lambda: loop.metered_import_w() > 15_000.0, 60, "EVs charging")

        # what the simulated meter reported is what the central system reads
        def reads_the_same() -> bool:
            last = simulated.last
            return (
                last is not None
                and meter.measured_at == last.at
                and meter.import_w == round(last.import_w, 1) - round(last.export_w, 1)
            )

        await wait_until(reads_the_same, 60, "the meter's reading at the central system")
        await wait_until(  # the base load, which only the meter sees
            lambda: (meter.import_w or 0.0) > loop.metered_import_w() + BASE_W / 2,
            30,
            "the meter above the estimate",
        )

        # a cap over the estimate but under the measured import: the unit discharges for it
        now = await _cap_drop(csms, clock, cap_w=CAP_W)
        steps = await wait_until(
            lambda: [
                s
                for s in seen.steps_since(now)
                if s.import_source == "meter" and (s.site_import_w or 0.0) > CAP_W
            ],
            60,
            "a step on the measured import above the cap",
        )
        ((unit_id, setpoint_w, _),) = steps[0].setpoints
        # discharging (by the plan, which leaves room for the unmetered load, or to shave)
        assert unit_id == "bess" and setpoint_w is not None and setpoint_w < 0, steps[0]
        # the site's measured import comes back within the cap (a step's worth of slack)
        await wait_until(
            lambda: (
                meter.import_w is not None
                and meter.measured_at is not None
                and meter.measured_at > now
                and meter.import_w <= CAP_W + 1_000.0
            ),
            90,
            "the measured import within the cap",
        )
        controller = loop.storage
        assert controller is not None and controller.last_import is not None
        assert controller.meter_fallbacks.get("stale", 0) == 0
        run.cancel()
    await store.close()
