"""The gated scarcity tie-break (decision 0430): weighed by footprint only while no demand
charge is in force and after a plan that met every load it knew with arrivals ahead."""

from __future__ import annotations

import pytest

from optimizer import CurrentLimit, Phase, Plan, Planner, PlannerConfig, Problem, Tariff
from optimizer.exceptions import InvalidProblem
from optimizer.planner import demand_charge_in_force, opens_scarcity_gate
from tests.unit.optimizer.helpers import at, evse, problem, session


def _day(*, ahead: bool = True, short: bool = False, demand_charge: float = 0.0) -> Problem:
    """A loads the limit fully, B a quarter (I_A + I_B / 4 <= 12 A); C arrives in the second
    step off the limit (``ahead``); D on no limit asks for more than it can take (``short``)."""
    evses = [evse(k, phase=Phase.L1, voltage_v=230.0) for k in "ABCD"]
    sessions = [
        session("SA", "A", hours=0.75, energy_wh=1000.0),
        session("SB", "B", hours=1.0, energy_wh=2300.0),
    ]
    if ahead:
        sessions.append(session("SC", "C", hours=1.0, energy_wh=500.0, arrival=at(0.25)))
    if short:
        sessions.append(session("SD", "D", hours=1.0, energy_wh=50_000.0))
    return problem(
        evses=tuple(evses),
        sessions=tuple(sessions),
        current_limits=(CurrentLimit("lim", (("A", 1.0), ("B", 0.25)), 12.0),),
        tariff=Tariff((0.1,) * 4, demand_charge_per_kw=demand_charge),
    )


def _second_plan(mode: str, p: Problem) -> Plan:
    """The plan a planner in ``mode`` makes the second time it sees ``p`` (the first has no
    binding hours to weigh by)."""
    planner = Planner(PlannerConfig(laxity_tiebreak=True, scarcity_tiebreak=mode))  # type: ignore[arg-type]
    planner.plan(p)
    return planner.plan(p)


def _currents(plan: Plan) -> list[float]:
    return [a for key in "ABCD" for a in plan.evses[key].current_a]


@pytest.mark.parametrize(
    ("case", "opens"),
    [
        ({}, True),
        ({"ahead": False}, False),
        ({"short": True}, False),
        ({"demand_charge": 10.0}, False),
    ],
)
def test_the_gate_weighs_only_after_a_met_plan_with_arrivals_and_no_demand_charge(
    case: dict[str, object], opens: bool
) -> None:
    p = _day(**case)  # type: ignore[arg-type]
    on, off = _second_plan("on", p), _second_plan("off", p)
    # the ungated tie-break changes the plan here, so the gate alone decides what follows
    assert _currents(on) != pytest.approx(_currents(off), abs=1e-3)
    gated = _second_plan("gated", p)
    assert _currents(gated) == pytest.approx(_currents(on if opens else off), abs=1e-6)


def test_the_gate_reads_the_plan_and_its_problem() -> None:
    met = _day()
    plan = Planner(PlannerConfig(laxity_tiebreak=True)).plan(met)
    assert opens_scarcity_gate(met, plan)
    assert not demand_charge_in_force(met)
    assert not opens_scarcity_gate(_day(ahead=False), plan)  # no arrival ahead in its problem
    charged = _day(demand_charge=10.0)
    assert demand_charge_in_force(charged)
    assert not opens_scarcity_gate(charged, plan)
    short = _day(short=True)
    short_plan = Planner(PlannerConfig(laxity_tiebreak=True)).plan(short)
    assert short_plan.shortfall_wh["SD"] > 1.0
    assert not opens_scarcity_gate(short, short_plan)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(InvalidProblem, match="scarcity_tiebreak"):
        PlannerConfig(scarcity_tiebreak="sometimes")  # type: ignore[arg-type]
