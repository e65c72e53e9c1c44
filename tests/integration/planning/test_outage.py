"""The CSMS is stopped mid-day: the stations stay under the site and feeder limits on their
profiles and then their safe defaults; a new CSMS on the same database picks the sessions up
where they are."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from pathlib import Path

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import DatabaseSettings, ServerSettings, Settings
from csms.domain import IdToken
from csms.events import DomainEvent, PlanUpdated
from csms.planning import PlanningSettings
from csms.store import SqlStore
from simulators import Fleet
from tests.integration.planning.harness import (
    START,
    depot_scenario,
    depot_site,
    make_fleet,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

STATIONS, CONNECTORS = 20, 2
SPEED = 120.0


def _power(fleet: Fleet, feeder_ids: set[str]) -> tuple[float, float]:
    site = feeder = 0.0
    for runner in fleet.runners:
        for c in runner.station.connectors.values():
            site += c.power_w
            if runner.station_id in feeder_ids:
                feeder += c.power_w
    return site, feeder


async def test_outage_stays_safe_and_restart_resumes(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}"
    store = SqlStore(url)
    await store.open()
    for k in range(STATIONS * CONNECTORS):
        await store.put_id_token(IdToken(f"TAG{k:05d}"))
    await store.close()
    clock = VirtualClock(start=START, speed=SPEED)
    site = depot_site(stations=STATIONS, connectors=CONNECTORS)
    feeder_ids = {s.id for s in site.stations if s.node == "feeder"}
    settings = Settings(
        server=ServerSettings(port=0, unknown_stations="accept"),
        database=DatabaseSettings(url=url),
        planning=PlanningSettings(horizon_s=4 * 3600, min_replan_gap_s=30),
    )
    first = Csms(settings, clock=clock)
    await first.start()
    await first.sites.apply(site)
    port = first.port
    fleet = make_fleet(
        first.url,
        depot_scenario(stations=STATIONS, connectors=CONNECTORS),
        clock,
        stations=STATIONS,
        connectors=CONNECTORS,
    )
    run = asyncio.create_task(fleet.run(until=START + timedelta(seconds=5400)))
    try:
        await clock.sleep(1200 - (clock.now() - START).total_seconds())

        # Every EV has arrived by now (the last at 960 s); wait, bounded, until the CSMS
        # has seen each of their transactions start (a loaded machine may lag a little).
        # The site's planner is loaded in the background after ``apply``: absent is "not yet".
        def sessions() -> dict[object, object]:
            loop = first.planning.loops.get("depot")
            return {
                ev.key: ev.tx.id
                for ev in (loop.state.evses.values() if loop is not None else ())
                if ev.tx is not None
            }

        await wait_until(
            lambda: len(sessions()) == STATIONS * CONNECTORS, 20.0, "every session's start"
        )
        before = sessions()
        # Die in the middle of the renewal into the next window (shortly before 17:30): some
        # stations have their TxProfiles carried past 17:30, the others fall back at 17:30.
        plans: list[PlanUpdated] = []
        first.bus.subscribe(lambda e: plans.append(e) if isinstance(e, PlanUpdated) else None)
        renewal_at = START + timedelta(seconds=1800 - 90)
        await clock.sleep(max(0.0, (renewal_at - clock.now()).total_seconds()))
        await wait_until(
            lambda: any(p.at >= renewal_at for p in plans), 20.0, "the renewal", every_s=0.001
        )
        delivered = {
            ev.key: ev.delivered_wh for ev in first.planning.loops["depot"].state.evses.values()
        }
        await first.stop()  # the CSMS is gone
        killed_at = clock.now()

        # 20 virtual minutes without a CSMS: longer than a TxProfile lives.
        worst_site = worst_feeder = 0.0
        while (clock.now() - killed_at).total_seconds() < 1200:
            site_w, feeder_w = _power(fleet, feeder_ids)
            worst_site, worst_feeder = max(worst_site, site_w), max(worst_feeder, feeder_w)
            await asyncio.sleep(0.05)  # sampling the fleet's power, not waiting for it
        assert worst_site <= 150_000.0
        assert worst_feeder <= 60_000.0
        site_w, feeder_w = _power(fleet, feeder_ids)
        assert site_w <= 40 * 3750.0 + 1.0  # every station on its safe default by now
        assert feeder_w <= 16 * 3750.0 + 1.0

        second = Csms(
            settings.model_copy(
                update={"server": settings.server.model_copy(update={"port": port})}
            ),
            clock=clock,
        )
        events: list[DomainEvent] = []
        second.bus.subscribe(events.append)
        await second.start()
        try:
            began = time.perf_counter()
            await wait_until(
                lambda: any(isinstance(e, PlanUpdated) and e.limits_w for e in events),
                30.0,
                "the restarted CSMS's first plan",
            )
            resumed_s = time.perf_counter() - began
            state = second.planning.loops["depot"].state
            after = {ev.key: ev.tx.id for ev in state.evses.values() if ev.tx is not None}
            assert after == before  # the same sessions, picked up
            # Where they are: at least the energy they had before the outage (the last to
            # arrive may have had little yet on a loaded machine).
            behind = [
                (ev.key, delivered[ev.key], ev.delivered_wh)
                for ev in state.evses.values()
                if ev.tx is not None and ev.delivered_wh < delivered[ev.key]
            ]
            assert not behind, behind
            assert sum(delivered.values()) > 100.0 * len(delivered)  # they had been charging
            await wait_until(
                lambda: sum(r.online for r in fleet.runners) == STATIONS,
                30.0,
                "every station back online",
            )

            # Every session has a TxProfile from the new CSMS, confirmed by its station.
            def confirmed() -> bool:
                view = second.planning.plans.view("depot")
                return view is not None and all(
                    e.ack == "accepted" for e in view.evses if e.transaction_id is not None
                )

            with contextlib.suppress(AssertionError):  # the assert below names the stations
                await wait_until(confirmed, 30.0, "every TxProfile confirmed")
            view = second.planning.plans.view("depot")
            assert view is not None
            assert confirmed(), [
                (e.station_id, e.evse_id, e.ack) for e in view.evses if e.ack != "accepted"
            ]
            print(
                f"outage: worst site {worst_site:.0f} W, feeder {worst_feeder:.0f} W; "
                f"first plan {resumed_s:.2f} s after restart"
            )
        finally:
            await second.stop()
    finally:
        run.cancel()
        await fleet.stop()
        await first.stop()
