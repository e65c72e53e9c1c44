"""A swap station's rack as flexible load: pack jobs, readiness, shortfall, limits."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np
import pytest

from optimizer import (
    InvalidProblem,
    LimitNode,
    Planner,
    PlannerConfig,
    SwapRack,
    TimeGrid,
    check_limits,
    compile_problem,
    solve,
    solve_direct,
)
from optimizer.fastlp import build_lp
from optimizer.lp import KIND_INDEX, KINDS
from optimizer.scenario import problem_from_dict
from optimizer.swap import SPARE_PRIORITY, rack_jobs, readiness_targets
from tests.unit.optimizer.helpers import T0, at, problem

Backend = Literal["direct", "pyomo"]


def _rack(**kwargs: Any) -> SwapRack:
    fields: dict[str, Any] = {
        "rack_id": "R", "node_id": "grid", "pack_soc_pct": (50.0, 90.0),
        "pack_capacity_wh": 10e3, "max_pack_power_w": 4e3, "max_rack_power_w": 6e3,
        "ready_soc_pct": 90.0, "swap_times": (at(0.5), at(1.5)), "efficiency": 1.0,
    }  # fmt: skip
    fields.update(kwargs)
    return SwapRack(**fields)


def test_fullest_pack_serves_the_first_swap_and_brought_packs_queue() -> None:
    jobs = rack_jobs(_rack(pack_ids=("P1", "P2")), T0, at(2.0))
    assert [(j.pack, j.swap_at) for j in jobs] == [
        ("P2", at(0.5)),
        ("P1", at(1.5)),
        ("in:1", None),
        ("in:2", None),
    ]
    assert [j.energy_wh for j in jobs] == [0.0, 4000.0, 7000.0, 7000.0]
    assert [j.available_from for j in jobs] == [None, None, at(0.5), at(1.5)]
    assert [j.priority for j in jobs] == pytest.approx([1.1, 1.05, SPARE_PRIORITY, SPARE_PRIORITY])
    # Three swaps with two packs: the pack swap 1 brings serves swap 3.
    third = rack_jobs(_rack(swap_times=(at(0.25), at(0.5), at(1.5))), T0, at(2.0))[2]
    assert (third.pack, third.available_from, third.ready_by) == ("in:1", at(0.25), at(1.5))
    assert readiness_targets(_rack(), at(1.0)) == ((1, 90.0, at(0.5)),)


@pytest.mark.parametrize("backend", ["direct", "pyomo"])
def test_hand_computed_rack(backend: Backend) -> None:
    """Pack 90 % -> swap 0:30 (needs 0); pack 50 % -> swap 1:30: 4 kWh at 4 kW per pack;
    brought packs (20 %) need 7 kWh each but have 1.5 h and 0.5 h at 4 kW, under a 6 kW rack:
    11 kWh fit in all, 2 kW x 1 h + 6 kW x 1.5 h, so 2 and 5 kWh short, no swap unready."""
    pr = problem(n_steps=8, swap_racks=(_rack(),), nodes=(LimitNode("grid", max_import_w=20e3),))
    plan = solve(pr, PlannerConfig(backend=backend))
    rack = plan.swap_racks["R"]
    assert rack.power_w == pytest.approx((4e3, 4e3) + (6e3,) * 6)
    assert rack.shortfall_wh == pytest.approx((0.0, 0.0, 2000.0, 5000.0), abs=1e-6)
    assert rack.unready_swaps == ()
    assert plan.shortfall_wh["R/2"] == pytest.approx(0.0, abs=1e-6)
    assert plan.energy_wh("R/2") == pytest.approx(4000.0)


@pytest.mark.parametrize("backend", ["direct", "pyomo"])
def test_unreachable_readiness_is_a_shortfall_never_a_broken_limit(backend: Backend) -> None:
    """The site gives the rack 3 kW. The 50 % pack needs 4 kWh for swap 2 at 0:45; it can get
    0.75 h x 3 kW = 2.25 kWh: 1.75 kWh short, the swap is expected to find no ready pack, and
    import never passes 3 kW (the shortfall is priced, the limit is a bound)."""
    rack = _rack(swap_times=(at(0.25), at(0.75)), max_rack_power_w=10e3)
    pr = problem(n_steps=4, swap_racks=(rack,), nodes=(LimitNode("grid", max_import_w=3e3),))
    plan = solve(pr, PlannerConfig(backend=backend))
    assert plan.status == "optimal"
    got = plan.swap_racks["R"]
    assert got.shortfall_wh[1] == pytest.approx(1750.0)
    assert got.unready_swaps == (at(0.75),)
    assert max(plan.grid_import_w) <= 3e3 + 1e-6
    cp = compile_problem(pr)
    p_kw = np.array([plan.load_power_w[lid] for lid in cp.load_ids]) / 1000.0
    assert check_limits(cp, p_kw, np.zeros((0, 4)), np.zeros((0, 4))) == []


@pytest.mark.parametrize("backend", ["direct", "pyomo"])
def test_rack_under_a_limited_node_draws_through_its_power_column(backend: Backend) -> None:
    """The rack hangs under a 5 kW panel (its own limit 6 kW): the 50 % pack takes its 4 kWh
    at 4 kW before and after the first swap, the panel caps the rack at 5 kW from 0:30 and
    the spares share the rest: 5 kWh x 1.5 h - 2 kWh = 5.5 of their 14 kWh."""
    nodes = (LimitNode("grid", max_import_w=20e3), LimitNode("panel", "grid", max_import_w=5e3))
    pr = problem(n_steps=8, swap_racks=(_rack(node_id="panel"),), nodes=nodes)
    plan = solve(pr, PlannerConfig(backend=backend))
    rack = plan.swap_racks["R"]
    assert rack.power_w == pytest.approx((4e3, 4e3) + (5e3,) * 6)
    assert rack.shortfall_wh[:2] == pytest.approx((0.0, 0.0), abs=1e-6)
    assert sum(rack.shortfall_wh[2:]) == pytest.approx(8500.0)
    assert plan.nodes["panel"].power_w == pytest.approx(rack.power_w)


def test_the_flows_see_one_column_per_rack_and_step_never_a_pack() -> None:
    """Pack columns sit in their energy row and their rack's row only; the rack's power column
    w is what the node rows see (decision 0423)."""
    nodes = (LimitNode("grid", max_import_w=20e3), LimitNode("panel", "grid", max_import_w=5e3))
    pr = problem(n_steps=8, swap_racks=(_rack(node_id="panel"),), nodes=nodes)
    cp = compile_problem(pr)
    lp = build_lp(cp)
    names = list(KINDS)
    owner = np.repeat(np.arange(lp.n_cols), np.diff(lp.a_start))
    row_kind = np.array(names)[lp.row_keys.kind[lp.a_index]]
    col_kind = np.array(names)[lp.col_keys.kind[owner]]
    pack = (col_kind == "p") & (cp.rack_load[lp.col_keys.ent[owner]] >= 0)
    assert set(row_kind[pack]) == {"energy", "rack"}
    assert set(row_kind[col_kind == "w"]) == {"rack", "flow"}
    assert (col_kind == "w").sum() == 2 * cp.n_steps  # its rack row and the panel's flow


def test_a_node_the_rack_cannot_overload_gets_no_flow_row() -> None:
    """Two packs may draw 8 kW but the rack only 6: a 7 kW panel above it cannot bind, so the
    direct LP keeps its flow only in the last step (kept for the warm start), and the plan is
    the unpruned Pyomo LP's."""
    nodes = (LimitNode("grid", max_import_w=20e3), LimitNode("panel", "grid", max_import_w=7e3))
    pr = problem(n_steps=8, swap_racks=(_rack(node_id="panel"),), nodes=nodes)
    cp = compile_problem(pr)
    lp = build_lp(cp)
    flows = lp.col_keys.kind == KIND_INDEX["f"]
    panel = cp.node_ids.index("panel")
    assert lp.col_keys.step[flows & (lp.col_keys.ent == panel)].tolist() == [cp.n_steps - 1]
    direct = solve(pr, PlannerConfig(backend="direct")).swap_racks["R"]
    pyomo = solve(pr, PlannerConfig(backend="pyomo")).swap_racks["R"]
    assert direct.power_w == pytest.approx(pyomo.power_w, abs=1e-6)
    assert direct.shortfall_wh == pytest.approx(pyomo.shortfall_wh, abs=1e-6)


def test_warm_replans_with_a_rack_reach_the_cold_optimum() -> None:
    """Re-plans a step apart, swaps passing and packs filling, start from the previous basis
    (the rack's power columns carried by key) and end where a cold solve does."""
    planner = Planner(PlannerConfig())
    nodes = (LimitNode("grid", max_import_w=20e3), LimitNode("panel", "grid", max_import_w=5e3))
    prices = tuple(0.1 + 0.05 * (i % 5) for i in range(16))
    for k, soc in enumerate([(50.0, 90.0, 30.0), (60.0, 90.0, 35.0), (70.0, 90.0, 40.0)]):
        now = at(0.25 * k)
        swaps = tuple(at(h) for h in (0.5, 1.0, 1.5, 2.5) if at(h) > now)
        rack = _rack(node_id="panel", pack_soc_pct=soc, swap_times=swaps)
        pr = dataclasses.replace(
            problem(n_steps=16, swap_racks=(rack,), nodes=nodes, prices=prices),
            grid=TimeGrid.uniform(start=now, step_s=900.0, n_steps=16),
        )
        plan = planner.plan(pr)
        assert plan.solver_start == ("cold" if k == 0 else "warm")
        cold = solve_direct(compile_problem(pr))
        assert plan.objective == pytest.approx(cold.objective, rel=1e-7, abs=1e-6)


def test_rack_limit_is_checked() -> None:
    pr = problem(n_steps=4, swap_racks=(_rack(),))
    cp = compile_problem(pr)
    p_kw = np.where(cp.load_pmax_kw > 0, 4.0, 0.0)
    assert any("swap rack R" in line for line in check_limits(cp, p_kw, np.zeros((0, 4)),
                                                              np.zeros((0, 4))))  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pack_soc_pct": (50.0, 101.0)}, "pack_soc_pct[1]"),
        ({"pack_soc_pct": (math.nan,)}, "pack_soc_pct[0]"),
        ({"ready_soc_pct": -1.0}, "ready_soc_pct"),
        ({"max_rack_power_w": math.inf}, "max_rack_power_w"),
        ({"pack_capacity_wh": 0.0}, "pack_capacity_wh"),
        ({"swap_times": (at(1.0), at(0.5))}, "swap_times[1]"),
        ({"pack_ids": ("only-one",)}, "pack_ids"),
        ({"efficiency": 1.5}, "efficiency"),
    ],
)
def test_bad_rack_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidProblem) as err:
        _rack(**change)
    assert err.value.field == field


def test_rack_on_an_unknown_node_is_refused() -> None:
    with pytest.raises(InvalidProblem) as err:
        problem(swap_racks=(dataclasses.replace(_rack(), node_id="nowhere"),))
    assert err.value.field == "swap_racks[0].node_id"


def test_scenario_file_reads_a_rack() -> None:
    data = {
        "grid": {"start": T0.isoformat(), "step_s": 900, "n_steps": 4},
        "tariff": {"import_price_per_kwh": [0.1] * 4},
        "nodes": [{"node_id": "grid"}],
        "swap_racks": [{
            "rack_id": "R", "node_id": "grid", "pack_soc_pct": [50, 90],
            "pack_capacity_wh": 10000, "max_pack_power_w": 4000, "max_rack_power_w": 6000,
            "ready_soc_pct": 90, "swap_times": [at(0.5).isoformat()],
        }],
    }  # fmt: skip
    assert problem_from_dict(data).swap_racks[0].swap_times == (at(0.5),)
    data["swap_racks"][0]["swap_times"] = ["noon"]  # type: ignore[index]
    with pytest.raises(InvalidProblem, match="ISO 8601"):
        problem_from_dict(data)
