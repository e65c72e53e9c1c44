"""The simulators' grid meter as the site import (decision 0917): a 2.1 station of its own
reports the simulated site's grid connection on EVSE 0 (the EVs, the storage unit and a base
load no station meters); the central system reads exactly that, and the storage controller
holds the cap against the measured import, which the sum of what it knows would miss; with
the meter switched off mid-run it falls back, counted, and the cap still holds (0925)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.planning.loop import SiteLoop
from csms.sites import GridMeter, SiteStation
from simulators import Fleet, SiteMeterSpec
from simulators.meter_station import MeterStation
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


@dataclass
class MeteredDepot:
    """The depot running with its simulated grid meter and storage unit, EVs charging."""

    csms: Csms
    clock: VirtualClock
    seen: Seen
    fleet: Fleet
    loop: SiteLoop
    #: the simulated meter (its model; ``read(at)`` is the site's import at any moment)
    simulated: MeterStation


@contextlib.asynccontextmanager
async def metered_depot() -> AsyncIterator[MeteredDepot]:
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
        try:
            loop = await site_loop(csms)
            (runner,) = fleet.meter_runners
            await wait_until(lambda: loop.metered_import_w() > 15_000.0, 60, "EVs charging")
            yield MeteredDepot(csms, clock, seen, fleet, loop, runner.device)
        finally:
            run.cancel()
    await store.close()


async def test_the_simulated_meter_is_the_import_the_controller_holds() -> None:
    async with metered_depot() as depot:
        csms, clock, seen, loop, simulated = (
            depot.csms, depot.clock, depot.seen, depot.loop, depot.simulated
        )  # fmt: skip
        meter = loop.state.meter

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
        # (the EVs may already be at their storage-free limits when a step reads the import:
        # decision 0626, so the step is not required to see the import above the cap)
        now = await _cap_drop(csms, clock, cap_w=CAP_W)
        steps = await wait_until(
            lambda: [
                s
                for s in seen.steps_since(now)
                if s.import_source == "meter" and any((w or 0.0) < 0 for _, w, _ in s.setpoints)
            ],
            60,
            "a step on the measured import, discharging",
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


async def test_the_meter_goes_silent_the_controller_falls_back_and_the_cap_holds() -> None:
    """The meter's station is switched off mid-run (``Fleet.stop_station``): the steps fall
    back to the estimate plus the unmetered load the meter last showed, counted at
    ``/metrics``, and the site's real import (the simulated meter's model, read directly)
    stays within the cap; switched on again, the steps use the meter once more."""
    async with metered_depot() as depot:
        csms, clock, seen, fleet, loop = (
            depot.csms, depot.clock, depot.seen, depot.fleet, depot.loop
        )  # fmt: skip
        meter = loop.state.meter
        controller = loop.storage
        assert controller is not None
        await wait_until(
            lambda: (meter.import_w or 0.0) > loop.metered_import_w() + BASE_W / 2,
            60,
            "the meter read, above the estimate",
        )
        capped_at = await _cap_drop(csms, clock, cap_w=CAP_W)
        await wait_until(
            lambda: [s for s in seen.steps_since(capped_at) if s.import_source == "meter"],
            60,
            "a step on the meter under the cap",
        )

        with pytest.raises(ValueError, match="no station"):
            fleet.restart_station("NOWHERE")
        await fleet.stop_station("GRIDMETER")
        with pytest.raises(ValueError, match="not running"):
            await fleet.stop_station("GRIDMETER")
        silent_at = clock.now()
        fallbacks = await wait_until(
            lambda: [
                s
                for s in seen.steps_since(silent_at)
                if s.import_source == "estimate"
                and (s.site_import_w or 0.0) > loop.metered_import_w() + BASE_W / 2
            ][2:],
            90,
            "three steps on the estimate and the held unmetered load",
        )
        assert controller.meter_fallbacks["stale"] >= 3, controller.meter_fallbacks
        # the site limit holds: the site's real import, which nobody reports now
        real = depot.simulated.read(clock.now())
        assert real.import_w <= CAP_W + 1_000.0, (real, fallbacks[-1])
        # counted where /metrics serves it
        text = csms.planning.storage_metrics_text()
        assert 'chargegrid_storage_meter_fallbacks_total{site="depot",reason="stale"}' in text
        assert 'chargegrid_storage_site_import_w{site="depot",source="estimate"}' in text

        fleet.restart_station("GRIDMETER")
        back_at = clock.now()
        await wait_until(
            lambda: [s for s in seen.steps_since(back_at) if s.import_source == "meter"],
            90,
            "a step on the meter again",
        )
        assert depot.simulated.read(clock.now()).import_w <= CAP_W + 1_000.0
