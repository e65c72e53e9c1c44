"""The Pyomo model and every layout of the direct LP are one LP, on named scenarios.

Decision 0402 rests on ``optimizer.model.build_model`` and ``optimizer.fastlp.build_lp``
(as shipped, with ``FLAT_PHASES`` and without ``PRUNE_FLOWS``) being the same LP built from
the same ``compile_problem`` arrays. Beyond the same optimum, each builder's optimal point is
carried into the other LP: it must meet every constraint and bound there and cost the same, so
each optimum is feasible and optimal in the other. The plans made from both solutions agree,
and so do the executable plans of the planner with discrete pilots and minimum currents.
The V2G scenario has EVs that give power back (decision 0908) under a phase limit, an
export cap and a demand charge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyomo.environ as pyo
import pytest

from optimizer import (
    Compiled,
    CurrentLimit,
    DeviceDimming,
    FlexibleLoad,
    LimitNode,
    NodeCap,
    Phase,
    PlannerConfig,
    Problem,
    PvPlant,
    Setpoint,
    StorageUnit,
    SwapRack,
    Tariff,
    build_model,
    compile_problem,
    solve,
    solve_direct,
    solve_pyomo,
)
from optimizer.fastlp import build_lp
from optimizer.lp import KINDS, LinearProgram
from optimizer.plan import make_plan, node_flows
from optimizer.solution import Solution
from tests.unit.optimizer.helpers import at, evse, problem, session

FloatArray = npt.NDArray[np.float64]
TOL = 1e-6
N_T = 8


def _storage_and_pv() -> Problem:
    """A phase-limited panel with 1- and 3-phase EVSEs, a battery under it, PV at the grid
    connection, an export price and a price valley."""
    return problem(
        n_steps=N_T,
        nodes=(
            LimitNode("grid", max_import_w=22e3, max_export_w=6e3),
            LimitNode("panel", "grid", max_phase_current_a=40.0),
        ),
        evses=(
            evse("A", "panel", phase=Phase.L1, max_current_a=32.0),
            evse("B", "panel"),
            evse("C", "grid", max_current_a=32.0),
        ),
        sessions=(
            session("SA", "A", hours=1.5, energy_wh=9e3),
            session("SB", "B", hours=2.0, energy_wh=18e3, priority=2.0),
            session("SC", "C", hours=1.0, energy_wh=25e3, arrival=at(0.5)),
        ),
        pv=(PvPlant("PV", "grid", (0.0, 4e3, 9e3, 14e3, 14e3, 9e3, 4e3, 0.0)),),
        storage=(
            StorageUnit(
                "B1",
                "panel",
                capacity_wh=30e3,
                soc_wh=12e3,
                max_charge_w=10e3,
                max_discharge_w=10e3,
                final_soc_min_wh=10e3,
                degradation_cost_per_kwh=0.01,
            ),
        ),
        tariff=Tariff(
            (0.30, 0.30, 0.12, 0.10, 0.10, 0.12, 0.35, 0.35),
            export_price_per_kwh=(0.05,) * N_T,
        ),
    )


def _demand_charge() -> Problem:
    """A billing peak already reached, a peak target above it, a CO2 signal and storage that
    can shave the peak."""
    return problem(
        n_steps=N_T,
        nodes=(LimitNode("grid", max_import_w=40e3),),
        evses=tuple(evse(f"E{i}", max_current_a=32.0) for i in range(3)),
        sessions=(
            session("S0", "E0", hours=2.0, energy_wh=30e3),
            session("S1", "E1", hours=1.25, energy_wh=12e3, priority=3.0),
            session("S2", "E2", hours=2.0, energy_wh=8e3, arrival=at(0.75)),
        ),
        storage=(
            StorageUnit(
                "B1",
                "grid",
                capacity_wh=20e3,
                soc_wh=15e3,
                max_charge_w=8e3,
                max_discharge_w=8e3,
                charge_efficiency=0.9,
                discharge_efficiency=0.92,
            ),
        ),
        tariff=Tariff(
            (0.2,) * 4 + (0.25,) * 4,
            demand_charge_per_kw=9.0,
            peak_so_far_w=8e3,
            peak_target_w=12e3,
            co2_g_per_kwh=(300.0, 280.0, 250.0, 200.0, 200.0, 260.0, 320.0, 350.0),
            co2_price_per_kg=0.1,
        ),
    )


def _grid_operator() -> Problem:
    """Operator caps (relative import, phase current), a dimming, a setpoint, a linear current
    limit, a flexible load and EVs that taper."""
    return problem(
        n_steps=N_T,
        nodes=(
            LimitNode("grid", max_import_w=30e3, max_export_w=5e3),
            LimitNode("feeder", "grid", max_phase_current_a=50.0),
            LimitNode("st1", "feeder", max_import_w=15e3),
        ),
        evses=(
            evse("E0", "st1", max_current_a=32.0),
            evse("E1", "st1", phase=Phase.L2),
            evse("E2", "feeder", phase=Phase.L3, max_current_a=32.0),
        ),
        sessions=(
            session(
                "S0",
                "E0",
                hours=2.0,
                energy_wh=20e3,
                energy_delivered_wh=2e3,
                taper_start_wh=12e3,
                taper_end_wh=24e3,
                taper_floor_w=1e3,
            ),
            session("S1", "E1", hours=1.5, energy_wh=6e3, max_power_w=3.5e3),
            session(
                "S2",
                "E2",
                hours=2.0,
                energy_wh=10e3,
                taper_start_wh=4e3,
                taper_end_wh=12e3,
                arrival=at(0.25),
            ),
        ),
        flexible_loads=(
            FlexibleLoad("rack", "st1", energy_wh=5e3, ready_by=at(1.5), max_power_w=6e3),
        ),
        node_caps=(
            NodeCap("grid", at(0.5), at(1.0), import_factor=0.6),
            NodeCap("feeder", at(1.0), at(1.5), max_phase_current_a=30.0),
        ),
        dimmings=(DeviceDimming("E0", at(0.25), at(1.0), max_power_w=1000.0),),
        setpoints=(Setpoint("grid", at(1.5), at(2.0), target_w=9e3, tolerance_w=1e3),),
        current_limits=(
            CurrentLimit("line", (("E0", 1.0), ("E1", 0.5), ("E2", -0.5)), max_current_a=14.0),
        ),
        tariff=Tariff((0.1, 0.3) * 4, export_price_per_kwh=(0.04,) * N_T),
    )


def _v2g() -> Problem:
    """Two V2G EVs (one single-phase under a phase limit, arriving at the price peak with
    little it may give) beside a battery and an EV that only charges, an export cap, a price
    peak with an export price, a demand charge."""
    return problem(
        n_steps=N_T,
        nodes=(
            LimitNode("grid", max_import_w=25e3, max_export_w=4e3),
            LimitNode("panel", "grid", max_phase_current_a=45.0),
        ),
        evses=(
            evse("A", "panel", phase=Phase.L2, max_current_a=32.0),
            evse("B", "panel"),
            evse("C", "grid", max_current_a=32.0),
        ),
        sessions=(
            session(
                "SA",
                "A",
                hours=2.0,
                energy_wh=4e3,
                max_discharge_w=7e3,
                discharge_limit_wh=1e3,
                discharge_cost_per_kwh=0.02,
                arrival=at(0.5),
            ),
            session(
                "SB",
                "B",
                hours=1.75,
                energy_wh=4e3,
                max_discharge_w=11e3,
                discharge_limit_wh=6e3,
                arrival=at(0.25),
            ),
            session("SC", "C", hours=1.0, energy_wh=15e3),
        ),
        storage=(
            StorageUnit(
                "B1", "grid", capacity_wh=20e3, soc_wh=10e3, max_charge_w=5e3, max_discharge_w=5e3
            ),
        ),
        tariff=Tariff(
            (0.1, 0.1, 0.5, 0.5, 0.1, 0.1, 0.4, 0.1),
            export_price_per_kwh=(0.0, 0.0, 0.3, 0.3, 0.0, 0.0, 0.2, 0.0),
            demand_charge_per_kw=0.02,
        ),
    )


def _swap_rack() -> Problem:
    """A swap station's rack under a phase-limited panel beside EVs: its charge limit binds,
    one swap's pack cannot be ready (a shortfall), a flexible load shares the panel."""
    return problem(
        n_steps=N_T,
        nodes=(
            LimitNode("grid", max_import_w=24e3),
            LimitNode("panel", "grid", max_phase_current_a=40.0),
        ),
        evses=(evse("A", "panel", phase=Phase.L1, max_current_a=32.0), evse("B", "grid")),
        sessions=(
            session("SA", "A", hours=1.5, energy_wh=8e3),
            session("SB", "B", hours=2.0, energy_wh=15e3, arrival=at(0.25)),
        ),
        flexible_loads=(
            FlexibleLoad("aux", "panel", energy_wh=3e3, ready_by=at(1.0), max_power_w=4e3),
        ),
        swap_racks=(
            SwapRack(
                "rack",
                "panel",
                pack_soc_pct=(40.0, 75.0, 10.0),
                pack_capacity_wh=20e3,
                max_pack_power_w=7e3,
                max_rack_power_w=12e3,
                ready_soc_pct=90.0,
                swap_times=(at(0.25), at(0.75), at(1.25), at(1.75)),
            ),
        ),
        tariff=Tariff((0.3, 0.3, 0.1, 0.1, 0.2, 0.2, 0.1, 0.1)),
    )


SCENARIOS: dict[str, Callable[[], Problem]] = {
    "storage-pv": _storage_and_pv,
    "v2g": _v2g,
    "demand-charge": _demand_charge,
    "grid-operator": _grid_operator,
    "swap-rack": _swap_rack,
}
#: (FLAT_PHASES, PRUNE_FLOWS) of the direct LP
LAYOUTS = {"shipped": (False, True), "flat-phases": (True, True), "all-flows": (False, False)}


def _point(cp: Compiled, sol: Solution) -> dict[str, Any]:
    """Every variable of the LP at a solution: the solved arrays and what they imply (node
    flows, largest unmet share, billing peak, setpoint shortfall, swap racks' power)."""
    power, phases = node_flows(cp, sol.p_kw - sol.given_kw(), sol.ch_kw - sol.dis_kw, sol.pv_kw)
    need = cp.load_need_kwh
    share = np.divide(sol.unmet_kwh, need, out=np.zeros_like(need), where=need > 0)
    floor = np.where(np.isfinite(cp.setpoint_lo_kw), cp.setpoint_lo_kw, -np.inf)
    return {
        "p": sol.p_kw, "q": sol.given_kw(), "u": sol.unmet_kwh, "z": float(share.max(initial=0.0)),
        "ch": sol.ch_kw, "dis": sol.dis_kw, "soc": sol.soc_kwh, "pv": sol.pv_kw,
        "f": power, "g": phases, "imp": sol.imp_kw, "exp": sol.exp_kw,
        "peak": max(cp.peak_floor_kw, float(sol.imp_kw.max())),
        "sl": np.clip(floor - power, 0.0, None),
        "w": np.array([sol.p_kw[cp.rack_load == r].sum(axis=0)
                       for r in range(cp.rack_cap_kw.shape[0])]).reshape(cp.rack_cap_kw.shape),
    }  # fmt: skip


def _direct_x(lp: LinearProgram, x: dict[str, Any]) -> FloatArray:
    """The direct LP's column vector at a point, column by column from its keys."""
    names = list(KINDS)
    out = np.zeros(lp.n_cols)
    for j, (kind_i, ent, step) in enumerate(
        zip(lp.col_keys.kind.tolist(), lp.col_keys.ent.tolist(), lp.col_keys.step.tolist(),
            strict=True)
    ):  # fmt: skip
        kind = names[kind_i]
        if kind in ("z", "peak"):
            out[j] = x[kind]
        elif kind in ("u",):
            out[j] = x[kind][ent]
        elif kind in ("imp", "exp"):
            out[j] = x[kind][step]
        elif kind.startswith("g"):
            out[j] = x["g"][ent, int(kind[1]), step]
        else:
            out[j] = x[kind][ent, step]
    return out


def _assert_feasible_in_direct(lp: LinearProgram, xd: FloatArray) -> None:
    slack = TOL * np.maximum(1.0, np.abs(np.where(np.isfinite(lp.col_hi), lp.col_hi, 0.0)))
    assert (xd >= lp.col_lo - slack).all() and (xd <= lp.col_hi + slack).all()
    owner = np.repeat(np.arange(lp.n_cols), np.diff(lp.a_start))
    ax = np.zeros(lp.n_rows)
    np.add.at(ax, lp.a_index, lp.a_value * xd[owner])
    scale = TOL * np.maximum(1.0, np.abs(ax))
    assert (ax >= lp.row_lo - scale).all(), np.nonzero(ax < lp.row_lo - scale)
    assert (ax <= lp.row_hi + scale).all(), np.nonzero(ax > lp.row_hi + scale)


def _assert_feasible_in_pyomo(m: Any, x: dict[str, Any]) -> float:
    """Set the model's variables to the point; check every bound and constraint; return the
    objective there."""
    for var in m.component_objects(pyo.Var, active=True):
        for index, v in var.items():
            value = x[var.local_name]
            if isinstance(value, np.ndarray):
                value = value[index]
            v.set_value(float(value), skip_validation=True)
            slack = TOL * max(1.0, abs(v.value))
            assert v.lb is None or v.value >= v.lb - slack, (v.name, v.value, v.lb)
            assert v.ub is None or v.value <= v.ub + slack, (v.name, v.value, v.ub)
    for con in m.component_data_objects(pyo.Constraint, active=True):
        body = pyo.value(con.body)
        slack = TOL * max(1.0, abs(body))
        assert con.lower is None or body >= pyo.value(con.lower) - slack, con.name
        assert con.upper is None or body <= pyo.value(con.upper) + slack, con.name
    return float(pyo.value(m.objective))


@pytest.mark.parametrize("laxity", [False, True], ids=["horizon-tiebreak", "laxity-tiebreak"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_optimum_is_optimal_in_the_other_lp(
    scenario: str, layout: str, laxity: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    flat, prune = LAYOUTS[layout]
    monkeypatch.setattr("optimizer.fastlp.FLAT_PHASES", flat)
    monkeypatch.setattr("optimizer.fastlp.PRUNE_FLOWS", prune)
    cp = compile_problem(SCENARIOS[scenario](), laxity_tiebreak=laxity)
    direct = solve_direct(cp)
    model = solve_pyomo(cp)
    assert direct.objective == pytest.approx(model.objective, rel=1e-7, abs=1e-7)
    lp = build_lp(cp)
    for sol in (direct, model):
        xd = _direct_x(lp, _point(cp, sol))
        _assert_feasible_in_direct(lp, xd)
        assert float(lp.cost @ xd) == pytest.approx(model.objective, rel=1e-6, abs=1e-6)
        pyomo_objective = _assert_feasible_in_pyomo(build_model(cp), _point(cp, sol))
        assert pyomo_objective == pytest.approx(model.objective, rel=1e-6, abs=1e-6)
    plans = [
        make_plan(cp, p_kw=s.p_kw, v2g_kw=s.v2g_kw, ch_kw=s.ch_kw, dis_kw=s.dis_kw,
                  soc_kwh=s.soc_kwh, pv_kw=s.pv_kw, status="optimal", solve_time_s=0.0,
                  backend=s.backend)
        for s in (direct, model)
    ]  # fmt: skip
    assert plans[0].total_cost == pytest.approx(plans[1].total_cost, rel=1e-6, abs=1e-6)
    assert sum(plans[0].shortfall_wh.values()) == pytest.approx(
        sum(plans[1].shortfall_wh.values()), abs=1e-3
    )
    if scenario == "v2g":  # the scenario makes giving back worth it, within every limit
        assert direct.given_kw().sum() > 0.1
        assert direct.given_kw().max() <= cp.v2g_max_kw.max() + 1e-9


def _discrete_pilots() -> Problem:
    """EVSEs that take only some currents or none below a minimum, under a shared cap that
    leaves the LP's first step between allowed currents (rounding loses energy)."""
    return problem(
        n_steps=N_T,
        nodes=(LimitNode("grid", max_import_w=25e3), LimitNode("st", "grid", max_import_w=14e3)),
        evses=(
            evse("A", "st", allowed_currents_a=(0.0, 6.0, 10.0, 13.0, 16.0)),
            evse("B", "st", min_current_a=6.0, max_current_a=32.0),
            evse("C", "grid", phase=Phase.L1, min_current_a=8.0, max_current_a=32.0),
        ),
        sessions=(
            session("SA", "A", hours=1.0, energy_wh=9e3, priority=2.0),
            session("SB", "B", hours=2.0, energy_wh=22e3),
            session("SC", "C", hours=0.5, energy_wh=600.0, priority=1.5),
        ),
        tariff=Tariff((0.3, 0.3, 0.1, 0.1, 0.1, 0.1, 0.3, 0.3)),
    )


@pytest.mark.parametrize("reallocate", [True, False], ids=["reallocate", "truncate"])
def test_executable_plans_agree_with_discrete_pilots(reallocate: bool) -> None:
    plans = [
        solve(_discrete_pilots(), PlannerConfig(backend=backend, reallocate=reallocate))
        for backend in ("direct", "pyomo")
    ]
    direct, pyomo_plan = plans
    assert direct.status == pyomo_plan.status == "optimal"
    assert direct.objective == pytest.approx(pyomo_plan.objective, rel=1e-7)
    for evse_id in ("A", "B", "C"):
        first = [plan.evses[evse_id].current_a[0] for plan in plans]
        assert first[0] == pytest.approx(first[1], abs=1e-6)
    allowed = (0.0, 6.0, 10.0, 13.0, 16.0)
    assert min(abs(direct.evses["A"].current_a[0] - a) for a in allowed) < 1e-9
    assert direct.rounding_loss_wh == pytest.approx(pyomo_plan.rounding_loss_wh, abs=1e-6)
    assert direct.rounding_loss_wh > 0
    assert direct.shortfall_wh == pytest.approx(pyomo_plan.shortfall_wh, abs=1e-6)
