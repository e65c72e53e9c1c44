"""Rolling-horizon plans against the offline optimum when capacity is contested later.

A re-plan that knows only the EVs plugged in treats every future step's capacity (PV, grid
headroom) as theirs: with free PV in the afternoon it defers a morning EV into it, and an EV
arriving at noon then finds the capacity gone. An expected arrival from the operator's history,
passed as a low-priority future session, keeps that room (decision 0408).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from optimizer import (
    LimitNode,
    Phase,
    Planner,
    PlannerConfig,
    Problem,
    PvPlant,
    Session,
    Tariff,
    TimeGrid,
)
from tests.unit.optimizer.helpers import at, evse

STEPS = 4  # one-hour steps
PV_W = (0.0, 0.0, 11000.0, 11000.0)  # free PV in the afternoon
EVSES = (
    evse("EA", phase=Phase.THREE, max_current_a=32.0),  # 22 kW
    evse("EB", phase=Phase.THREE, max_current_a=32.0),
)
# A is plugged in now and needs 22 kWh by 4 h; B arrives at 2 h and needs 44 kWh by 4 h.
# The grid gives 11 kW: the only way to serve both is A from the grid in hours 0-1, B from
# grid + PV (22 kW) in hours 2-3.
EV_A = Session("A", "EA", at(-1), at(4), energy_requested_wh=22000.0)
EV_B = Session("B", "EB", at(2), at(4), energy_requested_wh=44000.0)


def _problem(hour: int, sessions: tuple[Session, ...]) -> Problem:
    n = STEPS - hour
    return Problem(
        grid=TimeGrid.uniform(start=at(hour), step_s=3600.0, n_steps=n),
        nodes=(LimitNode("grid", max_import_w=11000.0),),
        evses=EVSES,
        sessions=sessions,
        pv=(PvPlant("pv", "grid", PV_W[hour:]),),
        tariff=Tariff((0.1,) * n),
    )


def _rolling(expected_priority: float | None) -> dict[str, float]:
    """Re-plan every hour, execute the first step; B is seen only once it has arrived
    (or, with ``expected_priority``, as an expected session before that)."""
    planner = Planner(PlannerConfig())
    delivered = {"A": 0.0, "B": 0.0}
    for hour in range(STEPS):
        sessions = []
        for ev in (EV_A, EV_B):
            real = ev.arrival <= at(hour)
            if not real and expected_priority is None:
                continue
            sessions.append(
                replace(
                    ev,
                    arrival=min(ev.arrival, at(hour)) if real else ev.arrival,
                    energy_delivered_wh=delivered[ev.session_id],
                    priority=1.0 if real else expected_priority,
                )
            )
        plan = planner.plan(_problem(hour, tuple(sessions)))
        assert plan.status == "optimal"
        for ev in sessions:
            power_w = plan.evses[ev.evse_id].power_w[0]
            if ev.arrival > at(hour):
                assert power_w == 0.0  # an expected EV is never charged before it arrives
            delivered[ev.session_id] += power_w  # one-hour steps: W -> Wh
    return delivered


def test_offline_optimum_serves_both() -> None:
    plan = Planner(PlannerConfig()).plan(_problem(0, (EV_A, EV_B)))
    assert sum(plan.shortfall_wh.values()) == pytest.approx(0.0, abs=1.0)


def test_without_expected_arrival_the_planner_defers_into_pv_and_goes_short() -> None:
    # the first re-plan puts A into the free PV hours; 22 kWh of grid in hours 0-1 are lost
    delivered = _rolling(None)
    assert sum(delivered.values()) == pytest.approx(66000.0 - 22000.0, abs=1.0)


def test_an_expected_arrival_keeps_room_and_matches_the_offline_optimum() -> None:
    delivered = _rolling(0.2)
    assert delivered["A"] == pytest.approx(22000.0, abs=1.0)
    assert delivered["B"] == pytest.approx(44000.0, abs=1.0)


def test_a_driver_plugged_in_beats_an_expected_one() -> None:
    # Only 22 kWh fit in hours 2-3 beyond A's need if A waits; A's request comes first.
    greedy_a = replace(EV_A, energy_requested_wh=44000.0 + 22000.0)
    expected_b = replace(EV_B, priority=0.2)
    plan = Planner(PlannerConfig()).plan(_problem(0, (greedy_a, expected_b)))
    # 66 kWh of capacity in total (11 + 11 + 22 + 22): A takes all it can (22 kW EVSE).
    assert plan.shortfall_wh["A"] == pytest.approx(0.0, abs=1.0)
    assert plan.shortfall_wh["B"] == pytest.approx(44000.0, abs=1.0)
