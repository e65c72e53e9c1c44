"""The planner loop end to end: a mixed 1.6/2.0.1 simulated fleet of 40 EVSEs on a 150 kW
site with a 60 kW feeder, on a fast virtual clock. Site and feeder power are computed from the
stations' own meter values."""

from __future__ import annotations

import asyncio
import bisect
import time
from datetime import datetime, timedelta

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import ServerSettings, Settings
from csms.domain import IdToken
from csms.events import ChargingLimitSent, DomainEvent, PlanUpdated, TransactionStarted
from csms.planning import PlanningSettings
from csms.sites import NewConstraint
from csms.store import MemoryStore, Store
from tests.integration.planning.harness import (
    START,
    PowerLog,
    depot_scenario,
    depot_site,
    make_fleet,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

STATIONS, CONNECTORS = 20, 2
SPEED = 120.0
METER_S = 60.0


def _settings(**kw: object) -> Settings:
    return Settings(
        server=ServerSettings(port=0, unknown_stations="accept"),
        planning=PlanningSettings(horizon_s=4 * 3600, min_replan_gap_s=30),
        **kw,  # type: ignore[arg-type]
    )


async def _tokens(store: Store) -> None:
    for k in range(STATIONS * CONNECTORS):
        await store.put_id_token(IdToken(f"TAG{k:05d}"))


async def _sleep_virtual(clock: VirtualClock, seconds: float) -> None:
    await clock.sleep(seconds)


def _reactions(
    events: list[DomainEvent], triggers: list[datetime], log: PowerLog
) -> list[datetime]:
    """Marks that excuse an excess from each trigger (an EV's arrival, the cap, a plan) until
    the stations accepted every limit of the plan that answered it (the first plan from then
    on): the planner's and the stations' reaction, which a loaded machine stretches. A limit
    never accepted excuses nothing past the plan. A plan's limits are TxProfiles: a default
    accepted meanwhile (the cap's re-plan lowers them first) is not its answer."""
    accepted: dict[tuple[str, int], list[datetime]] = {}
    for e in events:
        if isinstance(e, ChargingLimitSent) and e.accepted and e.limit.purpose == "TxProfile":
            accepted.setdefault((e.limit.station_id, e.limit.evse_id), []).append(e.at)
    for series in accepted.values():
        series.sort()

    def answered_at(plan: PlanUpdated) -> datetime:
        done = plan.at
        for station_id, evse_id, _ in plan.limits_w:
            series = accepted.get((station_id, evse_id), [])
            i = bisect.bisect_left(series, plan.at)
            done = max(done, series[i] if i < len(series) else plan.at)
        return done

    plans = sorted(
        (e for e in events if isinstance(e, PlanUpdated) and e.limits_w), key=lambda p: p.at
    )
    times = log.times()
    marks: list[datetime] = []
    for trigger in triggers:
        answer = next((p for p in plans if p.at >= trigger), None)
        until = trigger if answer is None else answered_at(answer)
        marks += [trigger, until, *(t for t in times if trigger <= t <= until)]
    return marks


async def test_caps_hold_and_a_lowered_cap_reaches_every_station() -> None:
    clock = VirtualClock(start=START, speed=SPEED)
    store = MemoryStore()
    await store.open()
    await _tokens(store)
    site = depot_site(stations=STATIONS, connectors=CONNECTORS)
    async with Csms(_settings(), clock=clock, store=store) as csms:
        await csms.sites.apply(site)
        log = PowerLog(site)
        csms.bus.subscribe(log)
        # each event with the process's CPU time when it came: how much work the delivery
        # took, which a loaded machine does not change (its wall time it does)
        events: list[tuple[float, DomainEvent]] = []
        csms.bus.subscribe(lambda e: events.append((time.process_time(), e)))
        fleet = make_fleet(
            csms.url,
            depot_scenario(stations=STATIONS, connectors=CONNECTORS),
            clock,
            stations=STATIONS,
            connectors=CONNECTORS,
            meter_interval_s=METER_S,
        )
        run = asyncio.create_task(fleet.run(until=START + timedelta(seconds=2400)))
        await _sleep_virtual(clock, 1500 - (clock.now() - START).total_seconds())
        cap_at = clock.now()
        began = time.process_time()
        await csms.sites.create_constraint(
            "depot",
            NewConstraint(
                node_id="grid",
                start=cap_at,
                end=cap_at + timedelta(hours=2),
                max_import_w=100_000.0,
                source="dso",
            ),
        )
        # The plan after the cap (one that gathered the site once the cap was stored: a
        # re-plan already under way when it came ends after it without it), and every
        # station's answer to it.
        # Bounds on conditions, generous for a loaded machine; how fast is asserted below.
        stored_at = clock.now()

        def after_cap() -> list[PlanUpdated]:
            return [e for _, e in events if isinstance(e, PlanUpdated) and e.at >= stored_at]

        plan = (await wait_until(after_cap, 30.0, "the plan after the cap"))[0]
        sent = {(s, e) for s, e, _ in plan.limits_w}
        assert sent

        def answered() -> dict[tuple[str, int], float]:  # each EVSE's first answer since
            first: dict[tuple[str, int], float] = {}
            for t, e in events:
                if isinstance(e, ChargingLimitSent) and t >= began and e.accepted:
                    first.setdefault((e.limit.station_id, e.limit.evse_id), t)
            return first

        await wait_until(lambda: sent <= answered().keys(), 30.0, "every station's answer")
        # the work from the cap to the last station's answer, in the process's CPU seconds
        reached_s = max(t for k, t in answered().items() if k in sent) - began
        assert reached_s < 5.0
        await run
        view = csms.planning.plans.view("depot")
        assert view is not None
        assert view.non_compliance_count == 0
        assert view.status == "optimal"

    def limit(t: datetime) -> float:
        return 100_000.0 if t >= cap_at else 150_000.0

    changes = [e.at for _, e in events if isinstance(e, PlanUpdated) and e.limits_w]
    changes += [e.transaction.started_at for _, e in events if isinstance(e, TransactionStarted)]
    # A station is held to a new limit from the moment it accepted it, not from the plan's
    # time, and an arrival or the cap until the limits answering it were accepted: at this
    # clock speed a fraction of a wall second of delivery on a busy machine is a virtual
    # minute. How much work the delivery takes is asserted above (``reached_s``).
    changes += [e.at for _, e in events if isinstance(e, ChargingLimitSent) and e.accepted]
    changes.append(cap_at)
    arrivals = [e.transaction.started_at for _, e in events if isinstance(e, TransactionStarted)]
    plans = [e.at for _, e in events if isinstance(e, PlanUpdated) and e.limits_w]
    changes += _reactions([e for _, e in events], [*arrivals, cap_at, *plans], log)
    excused = {"changes": changes, "grace_s": METER_S}
    site_excess_s, site_worst_w = log.longest_excess_s("grid", limit, **excused)  # type: ignore[arg-type]
    feeder_excess_s, _ = log.longest_excess_s("feeder", lambda t: 60_000.0, **excused)  # type: ignore[arg-type]
    # Within one meter interval of the cap, every station has reported under it.
    later = [c for c in changes if c > cap_at + timedelta(seconds=1)]
    settle_s, _ = log.longest_excess_s(
        "grid",
        limit,
        since=cap_at + timedelta(seconds=METER_S),
        changes=later,
        grace_s=METER_S,
    )
    assert site_excess_s == 0.0
    assert feeder_excess_s == 0.0
    assert settle_s == 0.0
    assert log.peak_w("grid") > 90_000.0  # the cap is used, not just respected
    print(
        f"cap reached the stations in {reached_s:.3f} CPU s; peak site {log.peak_w('grid'):.0f} W, "
        f"feeder {log.peak_w('feeder'):.0f} W; worst transient {site_worst_w:.0f} W"
    )
