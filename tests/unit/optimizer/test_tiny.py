"""Tiny problems with hand-computed optima, solved by both paths (direct HiGHS and Pyomo)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import (
    CurrentLimit,
    LimitNode,
    NodeCap,
    Phase,
    PlannerConfig,
    StorageUnit,
    Tariff,
    check_limits,
    compile_problem,
    solve,
)
from tests.unit.optimizer.helpers import at, evse, load_kw, problem, session

BACKENDS = [PlannerConfig(backend="direct"), PlannerConfig(backend="pyomo")]
IDS = ["direct", "pyomo"]


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_one_ev_one_limit_fills_the_cap_early(config: PlannerConfig) -> None:
    # 7 kW connection, an 11 kW EVSE, 5 kWh wanted within the hour: 1.75 + 1.75 + 1.5 kWh.
    p = problem(
        nodes=(LimitNode("grid", max_import_w=7000.0),),
        evses=(evse("E1"),),
        sessions=(session("S1", "E1", hours=1, energy_wh=5000.0),),
    )
    plan = solve(p, config)
    assert plan.status == "optimal"
    assert plan.evses["E1"].power_w == pytest.approx((7000.0, 7000.0, 6000.0, 0.0), abs=1e-6)
    assert plan.shortfall_wh["S1"] == pytest.approx(0.0, abs=1e-6)
    assert plan.energy_cost == pytest.approx(0.5, abs=1e-9)
    assert plan.nodes["grid"].binding == ("import", "import", None, None)


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_two_evs_share_a_cap_fairly(config: PlannerConfig) -> None:
    # 10 kW for one hour, 6 + 6 kWh wanted: 2 kWh short, split evenly.
    p = problem(
        nodes=(LimitNode("grid", max_import_w=10000.0),),
        evses=(evse("E1"), evse("E2")),
        sessions=(
            session("S1", "E1", hours=1, energy_wh=6000.0),
            session("S2", "E2", hours=1, energy_wh=6000.0),
        ),
    )
    plan = solve(p, config)
    assert plan.shortfall_wh["S1"] == pytest.approx(1000.0, abs=1e-6)
    assert plan.shortfall_wh["S2"] == pytest.approx(1000.0, abs=1e-6)
    assert plan.nodes["grid"].power_w == pytest.approx((10000.0,) * 4, abs=1e-6)


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_priority_decides_who_goes_short(config: PlannerConfig) -> None:
    p = problem(
        nodes=(LimitNode("grid", max_import_w=10000.0),),
        evses=(evse("E1"), evse("E2")),
        sessions=(
            session("S1", "E1", hours=1, energy_wh=6000.0),
            session("S2", "E2", hours=1, energy_wh=6000.0, priority=2.0),
        ),
    )
    plan = solve(p, config)
    assert plan.shortfall_wh["S1"] == pytest.approx(2000.0, abs=1e-6)
    assert plan.shortfall_wh["S2"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_storage_arbitrage_on_two_price_tariff(config: PlannerConfig) -> None:
    # Two 1-hour steps at 0.10 then 0.30 per kWh. The EV (5 kWh) is only there in hour 2.
    # Best: buy 5 kWh into storage at 0.10, discharge it into the EV: 0.50 energy,
    # 0.05/kWh wear on 10 kWh throughput = 0.50; buying in hour 2 would cost 1.50.
    p = problem(
        step_s=3600.0,
        n_steps=2,
        prices=(0.10, 0.30),
        evses=(evse("E1"),),
        sessions=(session("S1", "E1", hours=2, energy_wh=5000.0, arrival=at(1)),),
        storage=(
            StorageUnit(
                storage_id="B1",
                node_id="grid",
                capacity_wh=10000.0,
                soc_wh=0.0,
                max_charge_w=5000.0,
                max_discharge_w=5000.0,
                charge_efficiency=1.0,
                discharge_efficiency=1.0,
                degradation_cost_per_kwh=0.05,
            ),
        ),
    )
    plan = solve(p, config)
    assert plan.storage["B1"].power_w == pytest.approx((5000.0, -5000.0), abs=1e-6)
    assert plan.storage["B1"].soc_wh == pytest.approx((5000.0, 0.0), abs=1e-6)
    assert plan.grid_import_w == pytest.approx((5000.0, 0.0), abs=1e-6)
    assert plan.energy_cost == pytest.approx(0.5, abs=1e-9)
    assert plan.degradation_cost == pytest.approx(0.5, abs=1e-9)
    assert plan.shortfall_wh["S1"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
@pytest.mark.parametrize(
    ("demand_charge", "expected_w", "energy_cost", "demand_cost"),
    [(0.0, (10000.0, 0.0), 1.0, 0.0), (1.0, (5000.0, 5000.0), 1.5, 5.0)],
)
def test_demand_charge_makes_flattening_pay(
    config: PlannerConfig,
    demand_charge: float,
    expected_w: tuple[float, float],
    energy_cost: float,
    demand_cost: float,
) -> None:
    # 10 kWh over two hours at 0.10 then 0.20: cheapest is all in hour 1 (1.00), but a
    # demand charge of 1.00 per kW makes 5 + 5 kW pay: 1.50 + 5.00 < 1.00 + 10.00.
    p = problem(
        step_s=3600.0,
        n_steps=2,
        evses=(evse("E1"),),
        sessions=(session("S1", "E1", hours=2, energy_wh=10000.0),),
        tariff=Tariff((0.10, 0.20), demand_charge_per_kw=demand_charge),
    )
    plan = solve(p, config)
    assert plan.evses["E1"].power_w == pytest.approx(expected_w, abs=1e-6)
    assert plan.energy_cost == pytest.approx(energy_cost, abs=1e-9)
    assert plan.demand_charge_cost == pytest.approx(demand_cost, abs=1e-9)


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_a_peak_target_is_used_before_flattening(config: PlannerConfig) -> None:
    # As above with demand charge 1.00, but the billing period is expected to peak at 8 kW
    # anyway: up to 8 kW costs no demand charge, so hour 1 takes 8 kWh (1.20 + 8.00);
    # beyond 8 kW each kW costs 1.00 to save 0.10. The reported charge is the real peak's.
    p = problem(
        step_s=3600.0,
        n_steps=2,
        evses=(evse("E1"),),
        sessions=(session("S1", "E1", hours=2, energy_wh=10000.0),),
        tariff=Tariff((0.10, 0.20), demand_charge_per_kw=1.0, peak_target_w=8000.0),
    )
    plan = solve(p, config)
    assert plan.evses["E1"].power_w == pytest.approx((8000.0, 2000.0), abs=1e-6)
    assert plan.energy_cost == pytest.approx(1.2, abs=1e-9)
    assert plan.demand_charge_cost == pytest.approx(8.0, abs=1e-9)
    assert plan.peak_import_w == pytest.approx(8000.0, abs=1e-6)


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_impossible_request_degrades_to_a_reported_shortfall(config: PlannerConfig) -> None:
    # 50 kWh in one hour from an 11.04 kW EVSE, and a grid-operator cap of 0 kW in the
    # last quarter: 3 x 2.76 kWh delivered, the rest reported short.
    p = problem(
        evses=(evse("E1"),),
        nodes=(LimitNode("grid", max_import_w=20000.0),),
        sessions=(session("S1", "E1", hours=1, energy_wh=50000.0),),
        node_caps=(NodeCap("grid", at(0.75), at(1), max_import_w=0.0),),
    )
    plan = solve(p, config)
    assert plan.status == "optimal"
    assert plan.evses["E1"].power_w == pytest.approx((11040.0,) * 3 + (0.0,), abs=1e-6)
    assert plan.shortfall_wh["S1"] == pytest.approx(50000.0 - 3 * 2760.0, abs=1e-6)


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_per_phase_accounting_under_a_phase_cap(config: PlannerConfig) -> None:
    # 16 A per phase at the connection. 1-phase EVSEs on L1, L1, L2 (230 W/A) and one
    # 3-phase EVSE (690 W/A): the most energy is the 3-phase EVSE at 16 A = 11,040 W.
    evses = (
        evse("A", phase=Phase.L1, max_current_a=32.0),
        evse("B", phase=Phase.L1, max_current_a=32.0),
        evse("C", phase=Phase.L2, max_current_a=32.0),
        evse("D", phase=Phase.THREE, max_current_a=16.0),
    )
    p = problem(
        n_steps=1,
        nodes=(LimitNode("grid", max_phase_current_a=16.0),),
        evses=evses,
        sessions=tuple(
            session(f"S{e.evse_id}", e.evse_id, hours=1, energy_wh=20000.0) for e in evses
        ),
    )
    plan = solve(p, config)
    assert plan.evses["D"].power_w[0] == pytest.approx(11040.0, abs=1e-6)
    assert plan.evses["D"].phase_current_a[0] == pytest.approx((16.0, 16.0, 16.0), abs=1e-6)
    for name in "ABC":
        assert plan.evses[name].power_w[0] == pytest.approx(0.0, abs=1e-6)
    assert plan.nodes["grid"].phase_current_a[0] == pytest.approx((16.0, 16.0, 16.0), abs=1e-6)
    assert plan.nodes["grid"].binding[0] == "L1"


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_single_phase_evses_fill_their_own_phases(config: PlannerConfig) -> None:
    # Only 1-phase EVSEs: L1 carries A and B (16 A shared), L2 carries C (16 A), L3 idle.
    evses = (
        evse("A", phase=Phase.L1, max_current_a=32.0),
        evse("B", phase=Phase.L1, max_current_a=32.0),
        evse("C", phase=Phase.L2, max_current_a=32.0),
    )
    p = problem(
        n_steps=1,
        nodes=(LimitNode("grid"), LimitNode("panel", "grid", max_phase_current_a=16.0)),
        evses=tuple(evse(e.evse_id, "panel", phase=e.phase, max_current_a=32.0) for e in evses),
        sessions=tuple(
            session(f"S{e.evse_id}", e.evse_id, hours=1, energy_wh=20000.0) for e in evses
        ),
    )
    plan = solve(p, config)
    a, b, c = (plan.evses[n].phase_current_a[0] for n in "ABC")
    assert a[0] + b[0] == pytest.approx(16.0, abs=1e-6)
    assert a[0] == pytest.approx(8.0, abs=1e-6)  # fairness splits L1 evenly
    assert c == pytest.approx((0.0, 16.0, 0.0), abs=1e-6)
    assert plan.nodes["panel"].phase_current_a[0] == pytest.approx((16.0, 16.0, 0.0), abs=1e-6)
    assert plan.nodes["grid"].power_w[0] == pytest.approx(32 * 230.0, abs=1e-6)
    cp = compile_problem(p)
    assert check_limits(cp, load_kw(plan, cp), np.zeros((0, 1)), np.zeros((0, 1))) == []


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_linear_current_limit_with_a_relieving_term(config: PlannerConfig) -> None:
    # 1.0*I_A + 0.5*I_B - 0.5*I_C <= 20 A; all three want 32 A (7,360 W at 230 V 1-phase).
    # C at 32 A relieves 16 A; B costs only 0.5 per A, so B = 32 A; that leaves
    # A + 16 - 16 <= 20: A = 20 A.
    evses = tuple(evse(n, phase=Phase.L1, max_current_a=32.0) for n in "ABC")
    p = problem(
        n_steps=1,
        evses=evses,
        sessions=tuple(
            session(f"S{e.evse_id}", e.evse_id, hours=1, energy_wh=50000.0) for e in evses
        ),
        current_limits=(
            CurrentLimit("line", (("A", 1.0), ("B", 0.5), ("C", -0.5)), max_current_a=20.0),
        ),
    )
    plan = solve(p, config)
    assert [plan.evses[n].current_a[0] for n in "ABC"] == pytest.approx([20.0, 32.0, 32.0])
    cp = compile_problem(p)
    assert check_limits(cp, load_kw(plan, cp), np.zeros((0, 1)), np.zeros((0, 1))) == []
    fallback = solve(p, PlannerConfig(backend="pyomo", solver_name="no_such_solver"))
    assert check_limits(cp, load_kw(fallback, cp), np.zeros((0, 1)), np.zeros((0, 1))) == []


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_empty_site_plans_nothing(config: PlannerConfig) -> None:
    plan = solve(problem(evses=(evse("E1"),)), config)
    assert plan.status == "optimal"
    assert plan.evses["E1"].power_w == (0.0,) * 4
    assert plan.evses["E1"].session_ids == (None,) * 4
    assert plan.total_cost == 0.0


@pytest.mark.parametrize("backend", ["direct", "pyomo"])
def test_laxity_tiebreak_serves_the_sooner_departure_first(backend: str) -> None:
    # One 11.04 kW slot per step; both EVs need one full step; B must leave at 0:30.
    p = problem(
        nodes=(LimitNode("grid", max_import_w=11040.0),),
        evses=(evse("A"), evse("B")),
        sessions=(
            session("SA", "A", hours=1, energy_wh=2760.0),
            session("SB", "B", hours=0.5, energy_wh=2760.0),
        ),
    )
    plan = solve(p, PlannerConfig(backend=backend, laxity_tiebreak=True))  # type: ignore[arg-type]
    assert plan.evses["B"].power_w == pytest.approx((11040.0, 0.0, 0.0, 0.0), abs=1e-6)
    assert plan.evses["A"].power_w == pytest.approx((0.0, 11040.0, 0.0, 0.0), abs=1e-6)
