"""The scarcity-aware tie-break (decision 0424): binding hours, footprints, and the plan."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import CurrentLimit, Phase, Planner, PlannerConfig, compile_problem
from optimizer.scarcity import FOOTPRINT_FLOOR, binding_hours, footprint_weights, weigh_tiebreak
from tests.unit.optimizer.helpers import evse, problem, session


def _two_on_one_limit(third: bool = False) -> object:
    # A loads the limit fully, B a quarter: I_A + I_B / 4 <= 12 A (230 V, one phase each).
    evses = [evse("A", phase=Phase.L1, voltage_v=230.0), evse("B", phase=Phase.L1, voltage_v=230.0)]
    sessions = [
        session("SA", "A", hours=0.75, energy_wh=1000.0),
        session("SB", "B", hours=1.0, energy_wh=2300.0),
    ]
    if third:
        evses.append(evse("C", phase=Phase.L1, voltage_v=230.0))
        sessions.append(session("SC", "C", hours=1.0, energy_wh=500.0))
    return problem(
        evses=tuple(evses),
        sessions=tuple(sessions),
        current_limits=(CurrentLimit("lim", (("A", 1.0), ("B", 0.25)), 12.0),),
    )


def test_binding_hours_and_footprints_are_exact() -> None:
    cp = compile_problem(_two_on_one_limit(third=True))  # type: ignore[arg-type]
    # A 8 A, B 16 A in the first two 15-minute steps (at the limit), then below it
    amps = np.array([[8.0, 8.0, 1.0, 0.0], [16.0, 16.0, 8.0, 0.0], [16.0, 0.0, 0.0, 0.0]])
    p_kw = amps * 0.230
    none = np.zeros((0, 4))
    assert binding_hours(cp, p_kw, none, none) == {("lin", "lim"): 0.5}
    weights = footprint_weights(cp, {("lin", "lim"): 0.5, ("lin", "gone"): 3.0})
    assert weights is not None
    # per kW: A takes 1 / 0.23 / 12 of the limit, B a quarter of that, C none
    assert weights == pytest.approx([1.0, 0.25, FOOTPRINT_FLOOR])
    assert footprint_weights(cp, {("import", "grid"): 1.0}) is None  # no import limit here
    assert weigh_tiebreak(cp, None) is cp
    weighed = weigh_tiebreak(cp, {("lin", "lim"): 0.5})
    assert weighed.early_weight == pytest.approx(cp.early_weight * weights[:, None])


def test_import_and_phase_limits_count_too() -> None:
    from optimizer import LimitNode

    p = problem(
        nodes=(LimitNode("grid", max_import_w=11040.0, max_phase_current_a=16.0),),
        evses=(evse("A"), evse("B", phase=Phase.L1, voltage_v=230.0)),
        sessions=(
            session("SA", "A", hours=1.0, energy_wh=20000.0),
            session("SB", "B", hours=1.0, energy_wh=20000.0),
        ),
    )
    cp = compile_problem(p)
    # A (three-phase) at 16 A on each phase, B off: import 11.04 kW and every phase at 16 A
    p_kw = np.array([[11.04, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    none = np.zeros((0, 4))
    hours = binding_hours(cp, p_kw, none, none)
    assert hours == {("import", "grid"): 0.25, ("L1", "grid"): 0.25, ("L2", "grid"): 0.25,
                     ("L3", "grid"): 0.25}  # fmt: skip
    # a kW of A takes 1/11.04 of the import and 1.449 A on each phase, B 4.348 A on L1 only
    a_use = 1 / 11.04 + 3 * (1000 / 690) / 16
    b_use = 1 / 11.04 + (1000 / 230) / 16
    assert footprint_weights(cp, hours) == pytest.approx([a_use / b_use, 1.0])


@pytest.mark.parametrize("backend", ["direct", "pyomo"])
def test_the_next_plan_gives_the_scarce_limit_to_its_heavy_user(backend: str) -> None:
    p = _two_on_one_limit()
    plain = Planner(PlannerConfig(backend=backend, laxity_tiebreak=True))  # type: ignore[arg-type]
    aware = Planner(
        PlannerConfig(backend=backend, laxity_tiebreak=True, scarcity_tiebreak="on")  # type: ignore[arg-type]
    )
    first = aware.plan(p)  # nothing known yet: the per-kWh tie-break
    assert first.evses["A"].current_a == pytest.approx(plain.plan(p).evses["A"].current_a)
    # per kWh, B's four amps outweigh A's one: B at 16 A, A at 8 A, both at the limit
    assert first.evses["A"].current_a == pytest.approx((8.0, 8.0, 8 / 23 * 4, 0.0), abs=1e-6)
    second = aware.plan(p)
    # in units of the limit A (sooner gone) comes first: all it still needs after the next
    # step's 8 A goes in the first step, and B takes what the limit leaves
    a0 = 1000.0 / 230.0 / 0.25 - 8.0
    assert second.evses["A"].current_a == pytest.approx((a0, 8.0, 0.0, 0.0), abs=1e-6)
    assert second.evses["B"].current_a[0] == pytest.approx(4 * (12.0 - a0), abs=1e-6)
    assert second.shortfall_wh == pytest.approx({"SA": 0.0, "SB": 0.0}, abs=1e-6)
    assert plain.plan(p).evses["A"].current_a[0] == pytest.approx(8.0, abs=1e-6)
