"""A swap station on a virtual clock: the planner schedules its rack under the site cap, sends
the limit as a station-level profile over OCPP 2.1, re-plans at each swap, every forecast swap
finds a ready pack, and a swap the forecast did not know finds none and is reported."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from ocpp.v21 import call

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import ServerSettings, Settings
from csms.domain import RackSwap, SwapRackReading
from csms.events import DomainEvent, SiteReadingsReceived, SwapWithoutReadyPack
from csms.planning import PlanningSettings
from csms.sites import NodeKind, Site, SiteNode, SwapStation
from csms.store import MemoryStore
from simulators.swap import PackSpec, SwapArrival, SwapStationSpec
from simulators.swap import SwapStation as RackModel
from tests.integration.csms.stations import StationScript, connect_station
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

START = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
SPEED = 600.0
CAP_W = 30_000.0
PACK_WH = 60_000.0
#: the forecast: swaps at these times of day (UTC site)
SWAPS = (time(6, 40), time(7, 0), time(7, 30), time(9, 30))


def _site() -> Site:
    return Site(
        id="swapsite",
        nodes=(SiteNode(id="grid", kind=NodeKind.GRID_CONNECTION, max_import_w=CAP_W),),
        swap=(
            SwapStation(
                id="rack",
                station="SW1",
                node="grid",
                rack_size=3,
                pack_capacity_wh=PACK_WH,
                max_pack_power_w=20_000.0,
                max_rack_power_w=40_000.0,
                ready_soc_pct=90.0,
                arrival_soc_pct=30.0,
                swap_times=SWAPS,
            ),
        ),
    )


def _limit_at(profile: dict[str, Any], now: datetime) -> float:
    (schedule,) = profile["charging_schedule"]
    start = datetime.fromisoformat(schedule["start_schedule"])
    offset = (now - start).total_seconds()
    periods = [p for p in schedule["charging_schedule_period"] if p["start_period"] <= offset]
    return float(periods[-1]["limit"]) if periods else 0.0


async def test_the_rack_is_ready_for_every_forecast_swap_under_the_cap() -> None:
    clock = VirtualClock(start=START, speed=SPEED)
    store = MemoryStore()
    await store.open()
    settings = Settings(
        server=ServerSettings(port=0, unknown_stations="accept"),
        planning=PlanningSettings(horizon_s=4 * 3600, step_s=900, min_replan_gap_s=30),
    )
    model = RackModel(
        SwapStationSpec(
            station_id="SW1",
            slots=3,
            packs=(PackSpec("P1", PACK_WH, 0.92), PackSpec("P2", PACK_WH, 0.7),
                   PackSpec("P3", PACK_WH, 0.6)),
            max_rack_power_w=40_000.0,
            max_pack_power_w=20_000.0,
            ready_soc=0.9,
            target_soc=0.9,
            swap_time_s=120.0,
        ),
        start=START,
    )  # fmt: skip
    day = START.date()
    arrivals = [
        SwapArrival(f"V{k}", datetime.combine(day, t, UTC), PackSpec(f"D{k}", PACK_WH, 0.3))
        for k, t in enumerate(SWAPS)
    ]
    # one the forecast does not know, right after the 07:00 swap took the last ready pack
    surprise = datetime.combine(day, time(7, 5), UTC)
    arrivals.append(SwapArrival("X", surprise, PackSpec("DX", PACK_WH, 0.2)))
    model.add_arrivals(arrivals)
    script = StationScript()
    seen: list[DomainEvent] = []
    rack_w: list[tuple[datetime, float, float]] = []  # (at, drawn, limit in force)
    records: list[Any] = []
    async with Csms(settings, clock=clock, store=store) as csms:
        csms.bus.subscribe(seen.append)
        await csms.sites.apply(_site())
        async with connect_station(csms.url, "SW1", version="2.1", script=script) as cp:
            await cp.call(
                call.BootNotification(
                    charging_station={"model": "rack", "vendor_name": "t"}, reason="PowerUp"
                )
            )

            def profiles() -> list[dict[str, Any]]:
                return [kw["charging_profile"] for action, kw in script.received
                        if action == "SetChargingProfile"]  # fmt: skip

            await wait_until(lambda: profiles(), 30.0, "the rack's first limit")
            last = clock.now()
            minute = 0.0
            while clock.now() < START + timedelta(hours=3, minutes=40):
                await clock.sleep(10.0)
                now = clock.now()
                (profile,) = profiles()[-1:]
                limit = _limit_at(profile, now)
                model.set_power_limit_w(limit)
                report = model.advance((now - last).total_seconds())
                last = now
                rack_w.append((now, report.power_w, limit))
                records += report.swaps
                minute += 10.0
                if report.swaps or minute >= 60.0:
                    minute = 0.0
                    packs = [p for p in model.slots if p is not None]
                    swaps = tuple(
                        RackSwap(r.finished, None if r.pack_out_soc is None
                                 else r.pack_out_soc * 100.0)
                        for r in report.swaps
                    )  # fmt: skip
                    reading = SwapRackReading(
                        "rack", now, tuple(p.soc * 100.0 for p in packs),
                        tuple(p.serial for p in packs), swaps,
                    )  # fmt: skip
                    csms.bus.publish(SiteReadingsReceived("swapsite", (), (), now, swap=(reading,)))
            # The bus hands each reading to the loop's state as it is published: no wait.
            rack = csms.planning.loops["swapsite"].state.racks["rack"]
            counted = (rack.swaps_seen, rack.no_ready_pack)

    outcomes = {r.vehicle_id: r.outcome for r in records}
    assert outcomes == {"V0": "swapped", "V1": "swapped", "V2": "swapped", "V3": "swapped",
                        "X": "no_ready_pack"}, records  # fmt: skip
    # every limit the planner sent kept the rack under the site cap, and the rack obeyed
    assert all(limit <= CAP_W + 1e-6 and drawn <= limit + 1e-6 for _, drawn, limit in rack_w)
    assert max(drawn for _, drawn, _ in rack_w) > 0.0
    found = [e for e in seen if isinstance(e, SwapWithoutReadyPack)]
    assert [(e.swap_id, e.station_id, e.pack_out_soc_pct) for e in found] == [("rack", "SW1", None)]
    assert counted == (5, 1)
    # a re-plan followed each swap reading: the limits sent outnumber the timer's
    assert len(profiles()) >= 5
