"""PV and storage readings in the running planner: the EVs take the PV on top of the grid
cap and leave room for what the storage charges, the site's import (EVs plus storage less PV)
stays under the cap, and when the PV goes the EVs come back under it after the re-plan."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import ServerSettings, Settings
from csms.domain import IdToken, PvReading, StorageReading
from csms.events import PlanUpdated, SiteReadingsReceived, TransactionStarted
from csms.planning import PlanningSettings
from csms.sites import PvAsset, StorageAsset
from csms.store import MemoryStore
from tests.integration.planning.harness import (
    START,
    PowerLog,
    depot_scenario,
    depot_site,
    make_fleet,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

STATIONS, CONNECTORS = 4, 2
SPEED = 120.0
METER_S = 60.0
CAP_W = 30_000.0


async def test_pv_on_top_of_the_cap_and_gone_again() -> None:
    clock = VirtualClock(start=START, speed=SPEED)
    store = MemoryStore()
    await store.open()
    for k in range(STATIONS * CONNECTORS):
        await store.put_id_token(IdToken(f"TAG{k:05d}"))
    base = depot_site(
        stations=STATIONS, connectors=CONNECTORS, feeder_stations=0, site_kw=CAP_W / 1000
    )
    site = base.model_copy(
        update={
            "pv": (PvAsset(id="roof", node="grid", peak_w=40_000.0),),
            "storage": (
                StorageAsset(
                    id="bess",
                    node="grid",
                    capacity_wh=100_000.0,
                    max_charge_w=20_000.0,
                    max_discharge_w=20_000.0,
                ),
            ),
        }
    )
    settings = Settings(
        server=ServerSettings(port=0, unknown_stations="accept"),
        planning=PlanningSettings(horizon_s=4 * 3600, min_replan_gap_s=30),
    )
    now_w = {"pv": 0.0, "storage": 0.0}
    async with Csms(settings, clock=clock, store=store) as csms:
        await csms.sites.apply(site)
        log = PowerLog(site)
        csms.bus.subscribe(log)
        plans: list[PlanUpdated] = []
        starts: list[datetime] = []
        csms.bus.subscribe(lambda e: plans.append(e) if isinstance(e, PlanUpdated) else None)
        csms.bus.subscribe(
            lambda e: (
                starts.append(e.transaction.started_at)
                if isinstance(e, TransactionStarted)
                else None
            )
        )
        fleet = make_fleet(
            csms.url,
            depot_scenario(stations=STATIONS, connectors=CONNECTORS, arrivals_within_s=300),
            clock,
            stations=STATIONS,
            connectors=CONNECTORS,
            meter_interval_s=METER_S,
        )
        series: list[tuple[datetime, float]] = [(START, 0.0)]  # PV less storage

        def report(pv_w: float, storage_w: float) -> None:
            now = clock.now()
            series.append((now, pv_w - storage_w))
            csms.bus.publish(
                SiteReadingsReceived(
                    "depot",
                    (PvReading("roof", now, pv_w),),
                    (StorageReading("bess", now, 50.0, storage_w),),
                    now,
                )
            )

        async def sun() -> None:  # the site's energy management reports every minute
            while True:
                report(now_w["pv"], now_w["storage"])
                await clock.sleep(60.0)

        run = asyncio.create_task(fleet.run(until=START + timedelta(seconds=3600)))
        await clock.sleep(900.0)  # every EV has arrived, all on the 30 kW cap
        now_w.update(pv=30_000.0, storage=8_000.0)
        reporter = asyncio.create_task(sun())
        await clock.sleep(1200.0)
        sunny_until = clock.now()
        reporter.cancel()
        n_plans = len(plans)
        report(0.0, 8_000.0)  # a cloud: the PV is gone
        gone_at = clock.now()
        await wait_until(lambda: len(plans) > n_plans, 30.0, "a plan after the cloud")
        await run

    def room_at(t: datetime) -> float:  # what the EVs may draw: the cap, plus PV less storage
        return CAP_W + next(w for at, w in reversed(series) if at <= t)

    changes = [p.at for p in plans if p.limits_w] + starts
    excused = {"changes": changes, "grace_s": METER_S}
    # The EVs took the PV: well over the grid cap while the sun shone ...
    sunny = [t for t in log.times() if START + timedelta(seconds=1200) <= t < sunny_until]
    assert max(log.power_at(t, "grid") for t in sunny) > CAP_W + 12_000.0
    # ... and the import (EVs plus storage less the PV actually there) never went over the
    # cap, except within one meter interval of a change (a new plan, an arrival, the cloud).
    import_excess_s, _ = log.longest_excess_s("grid", room_at, **excused)  # type: ignore[arg-type]
    assert import_excess_s == 0.0
    # Once the PV is gone the EVs are back under the cap less the storage's charging.
    after = [t for t in log.times() if t > gone_at + timedelta(seconds=3 * METER_S)]
    assert after and max(log.power_at(t, "grid") for t in after) <= CAP_W - 8_000.0 + 1.0
