"""A storage unit as a real OCPP 2.1 client beside a simulated EV station, under the storage
controller, on a virtual clock (issue 15):

1. the grid cap drops: the controller's first step after it tells the unit to discharge;
2. the controller stops: the unit's last schedule runs out and it is Idle;
3. the unit goes silent: it is no longer counted on and the EV limits absorb what it did.

Every wait is on a condition (tests/waiting.py), never on time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import ServerSettings, Settings
from csms.domain import ChargingLimit, IdToken
from csms.events import ChargingLimitSent, DomainEvent, StorageDispatched
from csms.planning import PlanningSettings
from csms.planning.loop import SiteLoop
from csms.sites import NewConstraint, SessionDefaults, Site, SiteStation, StorageAsset
from csms.store import MemoryStore
from csms.telemetry.settings import TelemetrySettings
from simulators import Fleet, FleetConfig
from simulators.storage import StorageSpec
from tests.integration.planning.harness import START, depot_scenario, depot_site, make_fleet
from tests.integration.storage.unit21 import StorageUnit21, storage_unit
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

INTERVAL_S = 5.0
#: generous against a loaded machine: reports come every 5 s of the virtual clock
STALE_S = 30.0
CAP_W = 8_000.0


class Seen:
    """The controller's steps and the EV limits accepted, from the bus."""

    def __init__(self) -> None:
        self.steps: list[StorageDispatched] = []
        self.ev_limits: dict[tuple[str, int], list[tuple[datetime, ChargingLimit]]] = {}

    def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, StorageDispatched):
            self.steps.append(event)
        elif (
            isinstance(event, ChargingLimitSent)
            and event.accepted
            and event.limit.station_id != "BESS1"
        ):
            key = (event.limit.station_id, event.limit.evse_id)
            self.ev_limits.setdefault(key, []).append((event.at, event.limit))

    def steps_since(self, at: datetime) -> list[StorageDispatched]:
        return [s for s in self.steps if s.at >= at]

    def ev_total_at(self, at: datetime) -> float:
        """The sum of the EVSEs' TxProfile limits in force at ``at`` (the newest accepted)."""
        total = 0.0
        for series in self.ev_limits.values():
            profiles = [limit for _, limit in series if limit.purpose == "TxProfile"]
            if not profiles:
                continue
            limit = profiles[-1]
            offset = (at - (limit.start_at or at)).total_seconds()
            started = [value for start, value, _ in limit.schedule if start <= max(0.0, offset)]
            total += started[-1]  # the periods start in order: the last one started is in force
        return total


async def _report(unit: StorageUnit21, clock: VirtualClock, reporting: asyncio.Event) -> None:
    while True:
        await reporting.wait()
        await unit.report()
        await clock.sleep(INTERVAL_S)


def _site() -> Site:
    # EVs in a hurry: 15 kWh each within 90 minutes at 11 kW, more than the cap leaves.
    hurry = SessionDefaults(energy_wh=15_000.0, dwell_s=5400.0, max_power_w=11_000.0)
    base = depot_site(stations=1, connectors=2, feeder_stations=0, site_kw=60.0, defaults=hurry)
    return base.model_copy(
        update={
            "stations": (*base.stations, SiteStation(id="BESS1", node="grid")),
            "storage": (
                StorageAsset(
                    id="bess",
                    node="grid",
                    capacity_wh=100_000.0,
                    max_charge_w=30_000.0,
                    max_discharge_w=30_000.0,
                    min_soc_pct=10.0,
                    station="BESS1",
                    evse=1,
                ),
            ),
        }
    )


def _settings() -> Settings:
    return Settings(
        server=ServerSettings(port=0, unknown_stations="accept", gc_freeze_interval_s=None),
        planning=PlanningSettings(
            horizon_s=2 * 3600, storage_interval_s=INTERVAL_S, storage_stale_after_s=STALE_S
        ),
        telemetry=TelemetrySettings(enabled=False),
    )


async def _cap_drop(csms: Csms, clock: VirtualClock, *, cap_w: float = CAP_W) -> datetime:
    """The grid operator caps the site (by default below what the EVs draw); returns when
    it is stored (every control step from then on reads it)."""
    now = clock.now()
    await csms.sites.create_constraint(
        "depot",
        NewConstraint(
            node_id="grid",
            kind="cap",
            start=now - timedelta(seconds=1),
            end=now + timedelta(hours=1),
            max_import_w=cap_w,
            source="dso",
        ),
    )
    return clock.now()


def hurried_scenario() -> pd.DataFrame:
    """The depot's two EVs in a hurry, arriving 30 s and 35 s in: the station has booted by
    then (10 s of wall time at speed 3; an EV at a station still offline is refused), and
    what the tests are about begins once they charge, so no more of the clock is spent."""
    return depot_scenario(stations=1, connectors=2, first_arrival_s=30.0, arrivals_within_s=10.0)


async def depot_store() -> MemoryStore:
    """An open store with the depot's two drivers' tokens."""
    store = MemoryStore()
    await store.open()
    for k in range(2):
        await store.put_id_token(IdToken(f"TAG{k:05d}"))
    return store


def sim_fleet(url: str, clock: VirtualClock, **devices: Any) -> Fleet:
    """The depot's simulated station (two EVs in a hurry) with these site devices
    (``FleetConfig`` fields: ``storage``, ``site_meter``, ...)."""
    config = FleetConfig(
        url=url,
        stations=1,
        ocpp="mixed",
        connectors=2,
        max_current_a=32.0,
        meter_interval_s=INTERVAL_S,
        heartbeat_interval_s=3600.0,
        prefix="SIM",
        response_timeout_s=10.0,
        **devices,
    )
    scenario = hurried_scenario()
    return Fleet(config, scenario, clock=clock)


async def _site_loop(csms: Csms) -> SiteLoop:
    found = await wait_until(lambda: csms.planning.loops.get("depot"), 30, "the loop")
    assert found is not None
    return found


@dataclass
class Depot:
    """The depot running: EVs charging, the unit reporting every interval."""

    csms: Csms
    clock: VirtualClock
    seen: Seen
    unit: StorageUnit21
    loop: SiteLoop
    #: cleared: the unit stops reporting (goes silent)
    reporting: asyncio.Event


@contextlib.asynccontextmanager
async def depot_with_unit() -> AsyncIterator[Depot]:
    """The depot site with two EVs in a hurry and the unit (a real 2.1 client, 30 kW, at
    60 %), on a virtual clock; yields once the EVs charge."""
    clock = VirtualClock(start=START, speed=3.0)
    store = await depot_store()
    seen = Seen()
    scenario = hurried_scenario()
    async with Csms(_settings(), clock=clock, store=store) as csms:
        csms.bus.subscribe(seen)
        await csms.sites.apply(_site())
        fleet = make_fleet(
            csms.url, scenario, clock, stations=1, connectors=2, meter_interval_s=10.0
        )
        run = asyncio.create_task(fleet.run(until=START + timedelta(hours=1)))
        reporting = asyncio.Event()
        reporting.set()
        async with storage_unit(
            csms.url, "BESS1", clock, capacity_wh=100_000.0, soc_pct=60.0, max_w=30_000.0
        ) as unit:
            await unit.boot()
            reporter = asyncio.create_task(_report(unit, clock, reporting))
            try:
                loop = await _site_loop(csms)
                await wait_until(lambda: loop.metered_import_w() > 15_000.0, 60, "EVs charging")
                yield Depot(csms, clock, seen, unit, loop, reporting)
            finally:
                reporter.cancel()
                run.cancel()
    await store.close()


async def test_cap_drop_controller_stop_and_silence() -> None:
    async with depot_with_unit() as depot:
        csms, clock, seen, unit, loop = depot.csms, depot.clock, depot.seen, depot.unit, depot.loop
        reporting = depot.reporting
        # 1. The cap drops under what the EVs draw: the first step after it discharges.
        dropped_at = await _cap_drop(csms, clock)
        first = (await wait_until(lambda: seen.steps_since(dropped_at), 60, "a step"))[0]
        unit_id, setpoint_w, _ = first.setpoints[0]
        assert unit_id == "bess" and setpoint_w < -5_000.0, first
        got = await wait_until(
            lambda: [r for r in unit.received if r.at >= dropped_at and r.setpoint_w < 0],
            30,
            "the discharge setpoint at the unit",
        )
        assert got[0].mode == "CentralSetpoint"
        assert got[0].valid_to - got[0].at <= timedelta(seconds=3 * INTERVAL_S + 1)
        await wait_until(lambda: unit.battery.power_w < 0, 30, "the unit discharging")

        # 2. The controller stops: the last schedule runs out and the unit is Idle.
        controller = loop.storage
        assert controller is not None
        await controller.stop()
        last = unit.received[-1]
        await wait_until(lambda: clock.now() > last.valid_to, 60, "the schedule's end")
        assert unit.idle_at(clock.now()) and unit.received[-1] == last
        await wait_until(lambda: unit.battery.power_w == 0.0, 30, "the unit reporting Idle")
        assert not loop.state.units.dispatching
        # The planner took the undispatched unit at its worst case: the EVs within the cap.
        stopped_at = clock.now()
        await wait_until(
            lambda: seen.ev_total_at(clock.now()) <= CAP_W + 1,
            60,
            "EV limits within the cap without storage control",
        )
        assert clock.now() > stopped_at
        controller.start()  # the plan counts on the unit again, the EVs get more
        await wait_until(lambda: unit.setpoint_at(clock.now()) < -1_000.0, 90, "discharging again")

        await wait_until(
            lambda: seen.ev_total_at(clock.now()) > CAP_W + 1_000.0,
            90,
            "the EVs given more than the cap, the unit discharging for them",
        )

        # 3. The unit goes silent: not counted on; the EV limits absorb the difference.
        silent_at = clock.now()
        reporting.clear()
        step = await wait_until(
            lambda: [s for s in seen.steps_since(silent_at) if s.excluded], 90, "exclusion"
        )
        assert step[0].excluded == (("bess", "stale"),)
        assert step[0].ev_reduction_w > 0.0
        await wait_until(
            lambda: seen.ev_total_at(clock.now()) <= CAP_W + 1,
            120,
            "EV limits within the cap without the unit",
        )


async def test_the_simulators_21_storage_unit_discharges_then_falls_back_to_idle() -> None:
    """The same with the simulators' storage unit (a 2.1 station under the stations' runner):
    it takes the controller's CentralSetpoint schedules, discharges when the cap drops, and
    its schedule runs out to Idle when the controller stops."""
    clock = VirtualClock(start=START, speed=3.0)
    store = await depot_store()
    seen = Seen()
    spec = StorageSpec(
        "BESS1", 100_000.0, 30_000.0, 30_000.0, initial_soc=0.6, min_soc=0.1, max_soc=1.0
    )
    async with Csms(_settings(), clock=clock, store=store) as csms:
        csms.bus.subscribe(seen)
        await csms.sites.apply(_site())
        fleet = sim_fleet(csms.url, clock, storage=(spec,))
        run = asyncio.create_task(fleet.run(until=START + timedelta(hours=1)))
        unit = await wait_until(lambda: fleet.storage_runners, 30, "the storage runner")
        model = unit[0].device.unit
        loop = await _site_loop(csms)
        await wait_until(lambda: loop.state.units.readings().get("bess"), 60, "its readings")
        assert loop.state.units.units["bess"].soc_pct == pytest.approx(60.0, abs=1.0)
        await wait_until(lambda: loop.metered_import_w() > 15_000.0, 60, "EVs charging")

        dropped_at = await _cap_drop(csms, clock)
        first = (await wait_until(lambda: seen.steps_since(dropped_at), 60, "a step"))[0]
        unit_id, setpoint_w, _ = first.setpoints[0]
        assert unit_id == "bess" and setpoint_w < -5_000.0, first
        await wait_until(lambda: model.power_w < -5_000.0, 60, "the simulated unit discharging")
        await wait_until(
            lambda: (r := loop.state.units.units["bess"]).power_w is not None and r.power_w < 0,
            60,
            "its export reported back",
        )

        controller = loop.storage
        assert controller is not None
        await controller.stop()
        await wait_until(lambda: model.schedules_expired >= 1, 60, "its schedule run out")
        assert model.setpoint_w(clock.now()) is None  # Idle
        await wait_until(lambda: model.power_w == 0.0, 30, "no power once Idle")
        run.cancel()
    await store.close()
