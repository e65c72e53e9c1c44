"""Optimizer plans and grid constraints as the running CSMS publishes them (``PlanComputed``,
``GridConstraintSet``) become ``plan`` and ``grid_constraint`` points."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from csms.events import GridConstraintSet, PlanComputed
from csms.telemetry.lineprotocol import to_epoch
from csms.telemetry.points import PointEncoder
from optimizer import Plan, Problem
from optimizer.inputs import Evse, LimitNode, StorageUnit, Tariff
from optimizer.plan import EvsePlan, NodePlan, StoragePlan
from optimizer.problem import TimeGrid

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MS = 1_767_268_800_000  # T0 in ms
STEP_MS = 900_000


def _encode(record: object, *, plan_steps: int = 0) -> list[str]:
    enc = PointEncoder(now_s=lambda: T0.timestamp(), plan_steps=plan_steps)
    out: list[str] = []
    enc.encode_many([record], out)  # type: ignore[list-item]
    assert enc.encode_errors == 0
    return out


def _plan_event() -> PlanComputed:
    grid = TimeGrid.uniform(start=T0, step_s=900, n_steps=2)
    problem = Problem(
        grid=grid,
        nodes=(
            LimitNode("grid", max_import_w=20_000.0),
            LimitNode("panel", parent_id="grid", max_import_w=11_000.0),
        ),
        evses=(Evse("CP1/1", "panel"), Evse("CP2/1", "grid")),
        tariff=Tariff(import_price_per_kwh=(0.3, 0.45)),
        storage=(
            StorageUnit(
                "B1",
                "grid",
                capacity_wh=40_000.0,
                soc_wh=20_000.0,
                max_charge_w=10_000.0,
                max_discharge_w=10_000.0,
            ),
        ),
    )
    zeros = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    plan = Plan(
        grid=grid,
        status="optimal",
        evses={
            "CP1/1": EvsePlan(
                "CP1/1", Evse("x", "grid").phase, ("7", "7"), (11_000.0, 4000.0), (15.9, 5.8)
            ),
            "CP2/1": EvsePlan(
                "CP2/1", Evse("x", "grid").phase, (None, "8"), (0.0, 6000.0), (0.0, 8.7)
            ),
        },
        storage={"B1": StoragePlan("B1", (-2000.0, 10_000.0), (19_500.0, 22_000.0), (0.0, 0.0))},
        flexible_loads={},
        nodes={
            # step 0: the panel binds (CP1/1 at 11 kW); step 1: the grid binds (20 kW)
            "grid": NodePlan(
                "grid", (9000.0, 20_000.0), zeros, (20_000.0, 20_000.0), (None, "import")
            ),
            "panel": NodePlan(
                "panel", (11_000.0, 4000.0), zeros, (11_000.0, 11_000.0), ("import", None)
            ),
        },
        shortfall_wh={},
        grid_import_w=(9000.0, 20_000.0),
        grid_export_w=(0.0, 0.0),
        energy_cost=0.0,
        demand_charge_cost=0.0,
        degradation_cost=0.0,
        peak_import_w=20_000.0,
        solve_time_s=0.01,
        backend="test",
    )
    return PlanComputed(
        site_id="depot",
        plan_id="depot@1",
        at=T0,
        plan=plan,
        problem=problem,
        ancestors={"grid": ("grid",), "panel": ("panel", "grid")},
    )


def test_a_plan_is_one_point_per_evse_storage_unit_node_and_step_with_the_constraint() -> None:
    assert _encode(_plan_event()) == [
        'plan,asset=CP1/1,asset_kind=evse,site=depot constraint="panel:import",energy_wh=2750,'
        f'limit_w=11000,plan_id="depot@1",power_w=11000 {MS}',
        'plan,asset=CP1/1,asset_kind=evse,site=depot constraint="grid:import",energy_wh=1000,'
        f'limit_w=20000,plan_id="depot@1",power_w=4000 {MS + STEP_MS}',
        'plan,asset=CP2/1,asset_kind=evse,site=depot constraint="none",energy_wh=0,'
        f'plan_id="depot@1",power_w=0 {MS}',
        'plan,asset=CP2/1,asset_kind=evse,site=depot constraint="grid:import",energy_wh=1500,'
        f'limit_w=20000,plan_id="depot@1",power_w=6000 {MS + STEP_MS}',
        'plan,asset=B1,asset_kind=storage,site=depot constraint="none",energy_wh=-500,'
        f'plan_id="depot@1",power_w=-2000,soc_pct=48.75 {MS}',
        'plan,asset=B1,asset_kind=storage,site=depot constraint="grid:import",energy_wh=2500,'
        f'limit_w=20000,plan_id="depot@1",power_w=10000,soc_pct=55 {MS + STEP_MS}',
        # the limit tree: the root is the site (its import, limit in force and price) ...
        'plan,asset=grid,asset_kind=site,site=depot constraint="none",energy_wh=2250,'
        f'import_price_per_kwh=0.3,limit_w=20000,plan_id="depot@1",power_w=9000 {MS}',
        'plan,asset=grid,asset_kind=site,site=depot constraint="grid:import",energy_wh=5000,'
        f'import_price_per_kwh=0.45,limit_w=20000,plan_id="depot@1",power_w=20000 '
        f"{MS + STEP_MS}",
        # ... and every other node its own limit, whichever node binds
        'plan,asset=panel,asset_kind=node,site=depot constraint="panel:import",energy_wh=2750,'
        f'limit_w=11000,plan_id="depot@1",power_w=11000 {MS}',
        'plan,asset=panel,asset_kind=node,site=depot constraint="grid:import",energy_wh=1000,'
        f'limit_w=11000,plan_id="depot@1",power_w=4000 {MS + STEP_MS}',
    ]


def _constraint(change: str, at: datetime) -> GridConstraintSet:
    return GridConstraintSet(
        site_id="depot",
        node_id="feeder-1",
        constraint_id="c1",
        source="DSO",
        change=change,
        limits=(("import_max", 50_000.0, "W"), ("export_max", 0.0, "W")),
        start=T0,
        end=T0 + timedelta(hours=2),
        at=at,
    )


def test_a_grid_constraint_is_in_force_from_its_start_to_its_end() -> None:
    tags = "grid_constraint,kind={},node=feeder-1,site=depot,unit=W"
    end = MS + 7_200_000
    assert _encode(_constraint("created", T0 - timedelta(minutes=5))) == [
        tags.format("import_max")
        + f' active=true,constraint_id="c1",reason="DSO",value=50000 {MS}',
        tags.format("import_max") + f' active=false,constraint_id="c1" {end}',
        tags.format("export_max") + f' active=true,constraint_id="c1",reason="DSO",value=0 {MS}',
        tags.format("export_max") + f' active=false,constraint_id="c1" {end}',
    ]


def test_a_cancelled_constraint_ends_when_cancelled() -> None:
    tags = "grid_constraint,kind=import_max,node=feeder-1,site=depot,unit=W"
    lines = _encode(_constraint("cancelled", T0 + timedelta(minutes=30)))
    assert lines[0] == tags + f' active=false,constraint_id="c1" {MS + 1_800_000}'
    # cancelled before it began: off from its start
    early = _encode(_constraint("cancelled", T0 - timedelta(hours=1)))
    assert early[0] == tags + f' active=false,constraint_id="c1" {MS}'


def test_plan_lines_are_what_point_writes() -> None:
    """The plan lines are built without ``Point``: the same bytes for awkward ids and numbers."""
    from influxdb_client.client.write.point import Point
    from influxdb_client.domain.write_precision import WritePrecision

    event = _plan_event()
    watts = (1234.5678, 1e-7, 123456789.123, -0.0, 7e22, -2.5)
    grid = TimeGrid.uniform(start=T0, step_s=300, n_steps=len(watts))
    phase = Evse("x", "grid").phase
    zeros = ((0.0, 0.0, 0.0),) * len(watts)
    binding = (None, "import", "L2", "export", "import", None)
    odd = "CP 1,=x/1"
    plan = replace(
        event.plan,
        grid=grid,
        evses={odd: EvsePlan(odd, phase, (None,) * len(watts), watts, watts)},
        storage={},
        nodes={
            "grid": NodePlan("grid", watts, zeros, (3.3e4,) * len(watts), binding),
            "panel": NodePlan("panel", watts, zeros, (None,) * len(watts), (None,) * len(watts)),
        },
    )
    problem = replace(
        event.problem,
        grid=grid,
        evses=(Evse(odd, "panel"),),
        storage=(),
        tariff=Tariff(import_price_per_kwh=(0.3,) * len(watts)),
    )
    record = replace(event, site_id="de pot", plan_id='p "7"', plan=plan, problem=problem)
    expected = []
    for k, w in enumerate(watts):
        p = Point("plan").time(to_epoch(grid.step_start(k), "ms"), WritePrecision.MS)
        p.tag("site", "de pot").tag("asset_kind", "evse").tag("asset", odd)
        p.field("power_w", w).field("energy_wh", w * (300 / 3600.0))
        p.field("constraint", f"grid:{binding[k]}" if binding[k] else "none")
        p.field("limit_w", 3.3e4 if binding[k] == "import" else None)
        p.field("plan_id", 'p "7"')
        expected.append(p.to_line_protocol())
    for node_id, limit in (("grid", 3.3e4), ("panel", None)):
        kind = "site" if node_id == "grid" else "node"
        for k, w in enumerate(watts):
            p = Point("plan").time(to_epoch(grid.step_start(k), "ms"), WritePrecision.MS)
            p.tag("site", "de pot").tag("asset_kind", kind).tag("asset", node_id)
            p.field("power_w", w).field("energy_wh", w * (300 / 3600.0))
            p.field("constraint", f"grid:{binding[k]}" if binding[k] else "none")
            p.field("limit_w", limit)
            p.field("import_price_per_kwh", 0.3 if kind == "site" else None)
            p.field("plan_id", 'p "7"')
            expected.append(p.to_line_protocol())
    assert _encode(record) == expected


def test_only_the_first_plan_steps_are_written_when_asked() -> None:
    every = _encode(_plan_event())
    first = _encode(_plan_event(), plan_steps=1)
    # Every asset keeps its first step, and only that.
    assert first == [line for line in every if line.endswith(f" {MS}")]
    assert first and len(first) < len(every)
    assert _encode(_plan_event(), plan_steps=5) == every  # more than the plan has
