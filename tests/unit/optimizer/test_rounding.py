"""Minimum and discrete EVSE currents: LP, then an executable first step."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import (
    DeviceDimming,
    LimitNode,
    PlannerConfig,
    check_limits,
    compile_problem,
    solve,
)
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
