"""What the running CSMS writes to telemetry for its planner and its grid operators: every
optimizer plan as ``plan`` points per EVSE and step with the constraint in force, and every
grid constraint as ``grid_constraint`` points (here into the embedded store)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import ServerSettings, Settings
from csms.domain import IdToken
from csms.events import DomainEvent, PlanComputed, PlanUpdated
from csms.planning import PlanningSettings
from csms.sites import NewConstraint
from csms.store import MemoryStore
from csms.telemetry import Aggregation, TelemetryQuery
from tests.integration.planning.harness import (
    START,
    depot_scenario,
    depot_site,
    make_fleet,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

STATIONS, CONNECTORS = 4, 1


async def test_plans_and_grid_constraints_land_in_telemetry(tmp_path: Path) -> None:
    clock = VirtualClock(start=START, speed=120.0)
    store = MemoryStore()
    await store.open()
    for k in range(STATIONS * CONNECTORS):
        await store.put_id_token(IdToken(f"TAG{k:05d}"))
    site = depot_site(
        stations=STATIONS, connectors=CONNECTORS, feeder_stations=2, site_kw=40, feeder_kw=15
    )
    settings = Settings(
        server=ServerSettings(port=0, unknown_stations="accept"),
        planning=PlanningSettings(horizon_s=2 * 3600, min_replan_gap_s=30),
        telemetry={  # type: ignore[arg-type]
            "embedded_path": tmp_path / "telemetry.sqlite3",
            "outbox_path": tmp_path / "outbox.sqlite3",
            "flush_interval_s": 0.01,
        },
    )
    plans: list[PlanComputed] = []
    async with Csms(settings, clock=clock, store=store) as csms:
        await csms.sites.apply(site)

        def seen(e: DomainEvent) -> None:
            if isinstance(e, PlanComputed):
                plans.append(e)

        csms.bus.subscribe(seen)
        fleet = make_fleet(
            csms.url,
            depot_scenario(stations=STATIONS, connectors=CONNECTORS, arrivals_within_s=60),
            clock,
            stations=STATIONS,
            connectors=CONNECTORS,
        )
        run = asyncio.create_task(fleet.run(until=START + timedelta(seconds=900)))
        cap_at = clock.now() + timedelta(seconds=120)
        await csms.sites.create_constraint(
            "depot",
            NewConstraint(
                node_id="grid",
                start=cap_at,
                end=cap_at + timedelta(hours=1),
                max_import_w=30_000.0,
                source="dso",
            ),
        )
        updated: list[PlanUpdated] = []
        csms.bus.subscribe(lambda e: updated.append(e) if isinstance(e, PlanUpdated) else None)
        await wait_until(lambda: len(plans) >= 2, 20.0, "two plans")
        await run
        telemetry = csms.telemetry
        assert telemetry is not None
        assert await asyncio.to_thread(telemetry.pipeline.flush, timeout_s=10)

        last = plans[-1]
        grid = last.plan.grid
        first_ms = grid.start.replace(microsecond=grid.start.microsecond // 1000 * 1000)
        per_asset = await telemetry.aquery(
            TelemetryQuery(
                measurement="plan",
                field="power_w",
                start=START,
                stop=START + timedelta(hours=4),
                aggregation=Aggregation.COUNT,
                group_by=("asset", "asset_kind"),
            )
        )
        limits = await telemetry.aquery(
            TelemetryQuery(
                measurement="grid_constraint",
                field="value",
                start=START,
                stop=START + timedelta(hours=3),
                aggregation=Aggregation.MAX,
                group_by=("node", "kind", "unit"),
            )
        )
        first_step = await telemetry.aquery(
            TelemetryQuery(
                measurement="plan",
                field="power_w",
                start=first_ms,  # points are stamped in whole milliseconds
                stop=first_ms + timedelta(milliseconds=1),
                aggregation=Aggregation.LAST,
                group_by=("asset",),
            )
        )
        assert not telemetry.stats.input_rejected and not telemetry.stats.dropped

    evses = sorted(last.plan.evses)
    assert len(evses) == STATIONS * CONNECTORS
    assert len(plans) >= 2
    # every plan: each EVSE of the site, one point per step of its first ``plan_steps``
    # (re-plans start at their own time, so each keeps its own points, except at a constraint
    # window's edges, where every plan has a step: there the newest plan's point is kept)
    written = settings.telemetry.plan_steps or 10**6
    stamps = [
        (t := p.plan.grid.step_start(k)).replace(microsecond=t.microsecond // 1000 * 1000)
        for p in plans
        for k in range(min(written, p.plan.grid.n_steps))
    ]
    steps = len(set(stamps))
    assert cap_at in {
        p.plan.grid.step_start(k) for p in plans for k in range(min(written, p.plan.grid.n_steps))
    }
    # and each node of the limit tree: the root as the site, the feeder as a node
    assert [(s.tags, [v for _, v in s.points]) for s in per_asset] == [
        ({"asset": a, "asset_kind": "evse"}, [float(steps)]) for a in evses
    ] + [
        ({"asset": "feeder", "asset_kind": "node"}, [float(steps)]),
        ({"asset": "grid", "asset_kind": "site"}, [float(steps)]),
    ]
    # the numbers are the plan's
    assert {s.tags["asset"]: s.points[0][1] for s in first_step} == pytest.approx(
        {a: last.plan.evses[a].power_w[0] for a in evses}
        | {n: last.plan.nodes[n].power_w[0] for n in ("feeder", "grid")}
    )
    assert [(s.tags, [v for _, v in s.points]) for s in limits] == [
        ({"node": "grid", "kind": "import_max", "unit": "W"}, [30_000.0])
    ]
