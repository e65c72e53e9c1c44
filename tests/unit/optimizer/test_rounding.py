"""Minimum and discrete EVSE currents: LP, then an executable first step."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import (
    DeviceDimming,
    LimitNode,
    PlannerConfig,
    Tariff,
    check_limits,
    compile_problem,
    solve,
)
from optimizer.rounding import round_first_step
from tests.unit.optimizer.helpers import at, evse, load_kw, problem, session

STEPS_A = (6.0, 8.0, 10.0, 13.0, 16.0)


def _three_share_10kw() -> object:
    # One 15-min step, 10 kW for three 3-phase EVSEs that accept 6/8/10/13/16 A: the LP
    # gives each 3,333 W = 4.83 A, below the smallest allowed current.
    return problem(
        n_steps=1,
        nodes=(LimitNode("grid", max_import_w=10000.0),),
        evses=tuple(evse(f"E{i}", allowed_currents_a=STEPS_A) for i in range(3)),
        sessions=tuple(session(f"S{i}", f"E{i}", hours=1, energy_wh=10000.0) for i in range(3)),
    )


def test_truncation_alone_switches_everyone_off() -> None:
    plan = solve(_three_share_10kw(), PlannerConfig(reallocate=False))  # type: ignore[arg-type]
    assert [plan.evses[f"E{i}"].power_w[0] for i in range(3)] == [0.0, 0.0, 0.0]
    assert plan.rounding_loss_wh == pytest.approx(2500.0)


def test_reallocation_hands_the_headroom_out_in_allowed_steps() -> None:
    p = _three_share_10kw()
    plan = solve(p)  # type: ignore[arg-type]
    powers = [plan.evses[f"E{i}"].power_w[0] for i in range(3)]
    # 6 A x 690 W/A twice (one step above what the LP wanted), then the headroom left goes
    # one allowed step further to the first EV (8 A): 9,660 W of the LP's 10,000 W
    assert sorted(powers) == pytest.approx([0.0, 4140.0, 5520.0])
    assert plan.rounding_loss_wh == pytest.approx((10000.0 - 9660.0) / 4)
    cp = compile_problem(p)  # type: ignore[arg-type]
    assert check_limits(cp, load_kw(plan, cp), np.zeros((0, 1)), np.zeros((0, 1))) == []


def test_minimum_current_on_a_continuous_evse() -> None:
    # 2 kW for one EVSE with a 6 A minimum (4,140 W): the LP's 2 kW is not executable.
    p = problem(
        n_steps=1,
        nodes=(LimitNode("grid", max_import_w=2000.0),),
        evses=(evse("E1", min_current_a=6.0),),
        sessions=(session("S1", "E1", hours=1, energy_wh=10000.0),),
    )
    plan = solve(p)
    assert plan.evses["E1"].power_w[0] == 0.0
    assert plan.rounding_loss_wh == pytest.approx(500.0)


def test_a_remainder_below_one_step_is_still_delivered() -> None:
    # 300 Wh left in the last 15-min step: the LP gives 1.2 kW (1.74 A), below the smallest
    # allowed current. Rounded to 0 it would never be delivered (every re-plan the same);
    # one step above what the LP wanted (6 A) is sent and the EV takes only what it needs.
    p = problem(
        n_steps=1,
        nodes=(LimitNode("grid", max_import_w=20000.0),),
        evses=(evse("E1", allowed_currents_a=STEPS_A),),
        sessions=(session("S1", "E1", hours=0.25, energy_wh=300.0),),
    )
    plan = solve(p)
    assert plan.evses["E1"].power_w[0] == pytest.approx(6.0 * 690.0)
    assert plan.shortfall_wh["S1"] == pytest.approx(0.0, abs=1e-6)
    cp = compile_problem(p)
    assert check_limits(cp, load_kw(plan, cp), np.zeros((0, 1)), np.zeros((0, 1))) == []


def test_reallocation_never_raises_an_evse_above_its_dimming() -> None:
    # E1 dimmed to 6 kW (8.7 A: sent 8 A), E2 at 15 A under a 16.35 kW grid limit (sent 13 A).
    # The 1.86 kW freed would fit E1 at 10 A (6.9 kW) but that is above its dimming.
    p = problem(
        n_steps=1,
        nodes=(LimitNode("grid", max_import_w=16350.0),),
        evses=(evse("E1", allowed_currents_a=STEPS_A), evse("E2", allowed_currents_a=STEPS_A)),
        sessions=(
            session("S1", "E1", hours=4, energy_wh=40000.0),
            session("S2", "E2", hours=4, energy_wh=40000.0),
        ),
        dimmings=(DeviceDimming("E1", at(0), at(1), max_power_w=6000.0),),
    )
    plan = solve(p)
    assert plan.evses["E1"].power_w[0] <= 6000.0
    assert plan.evses["E1"].power_w[0] == pytest.approx(8.0 * 690.0)
    cp = compile_problem(p)
    assert check_limits(cp, load_kw(plan, cp), np.zeros((0, 1)), np.zeros((0, 1))) == []


EIGHT_A = (8.0, 16.0, 24.0, 32.0)


def _two_on_32_a(**tariff: object) -> tuple[object, np.ndarray]:
    # Two 3-phase EVSEs with 8 A steps under a 32 A (22,080 W) connection, both EVs needing
    # far more than the hour brings. The LP's first step (one of its equally good answers
    # where draw now and later are alike) gives E1 12 A and E2 nothing now, 16 A later.
    p = problem(
        n_steps=2,
        nodes=(LimitNode("grid", max_import_w=32 * 690.0),),
        evses=(evse("E1", allowed_currents_a=EIGHT_A, max_current_a=32.0),
               evse("E2", allowed_currents_a=EIGHT_A, max_current_a=32.0)),
        sessions=(session("S1", "E1", hours=4, energy_wh=40000.0),
                  session("S2", "E2", hours=4, energy_wh=40000.0)),
        tariff=Tariff(**tariff) if tariff else None,  # type: ignore[arg-type]
    )  # fmt: skip
    lp_kw = np.array([[12 * 0.69, 12 * 0.69], [0.0, 16 * 0.69]])
    return p, lp_kw


def _rounded_a(p: object, lp_kw: np.ndarray) -> list[float]:
    cp = compile_problem(p)  # type: ignore[arg-type]
    out, _ = round_first_step(cp, lp_kw, np.zeros((0, 2)), np.zeros((0, 2)))
    assert check_limits(cp, out[:, :1], np.zeros((0, 1)), np.zeros((0, 1))) == []
    return [round(kw / 0.69, 6) for kw in out[:, 0]]


def test_the_fill_uses_the_headroom_the_lp_left_in_the_first_step() -> None:
    # Rounded down: 8 A / 0 A; one step above the LP: E1 16 A; within the LP's own draw
    # nothing more (16 A of 32 A). The 16 A the connection still allows cost nothing now
    # that they would not cost later, and both EVs need them: they go out one step at a
    # time, least laxity first (a tie: E1, E2), until the connection is full.
    p, lp_kw = _two_on_32_a()
    assert _rounded_a(p, lp_kw) == [24.0, 8.0]


def test_no_fill_where_drawing_now_costs_more_than_the_lp_pays_later() -> None:
    # E2's energy is planned in the second step at a tenth of the price: drawing it now
    # would cost more, so the first step stays with what the LP drew (E1 16 A).
    p, lp_kw = _two_on_32_a(import_price_per_kwh=(0.30, 0.03))
    assert _rounded_a(p, lp_kw) == [16.0, 0.0]


def test_the_fill_stops_at_the_peak_the_plan_pays_anyway() -> None:
    # With a demand charge the plan's billing peak (here its import in the second step,
    # 28 A) is paid anyway: the fill may go up to it (E1 to 24 A), never above (E2's 8 A
    # would make 32 A).
    p, lp_kw = _two_on_32_a(import_price_per_kwh=(0.1, 0.1), demand_charge_per_kw=15.0)
    assert _rounded_a(p, lp_kw) == [24.0, 0.0]
