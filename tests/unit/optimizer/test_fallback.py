"""The fail-safe path: a failed, infeasible or timed-out solve still yields safe limits."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from optimizer import (
    InfeasibleSchedule,
    LimitNode,
    Phase,
    Planner,
    PlannerConfig,
    StorageUnit,
    check_limits,
    compile_problem,
    solve,
)
from optimizer.fallback import proportional_share
from tests.unit.optimizer.helpers import at, evse, load_kw, problem, session


def _two_evs() -> object:
    return problem(
        nodes=(LimitNode("grid", max_import_w=10000.0),),
        evses=(evse("E1"), evse("E2")),
        sessions=(
            session("S1", "E1", hours=1, energy_wh=20000.0),
            session("S2", "E2", hours=1, energy_wh=20000.0),
        ),
    )


def test_unavailable_solver_falls_back_to_proportional_share(
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = _two_evs()
    with caplog.at_level(logging.WARNING, logger="optimizer.planner"):
        plan = solve(p, PlannerConfig(backend="pyomo", solver_name="no_such_solver"))  # type: ignore[arg-type]
    assert plan.status == "fallback"
    assert "not available" in (plan.reason or "")
    assert plan.evses["E1"].power_w == pytest.approx((5000.0,) * 4, abs=1e-9)
    assert plan.evses["E2"].power_w == pytest.approx((5000.0,) * 4, abs=1e-9)
    assert any("proportional share" in r.getMessage() for r in caplog.records)


def test_solver_failure_is_retried_next_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def broken(*args: object, **kwargs: object) -> object:
        calls.append(1)
        raise InfeasibleSchedule("forced")

    monkeypatch.setattr("optimizer.planner.solve_direct", broken)
    planner = Planner()
    p = _two_evs()
    plan = planner.plan(p)  # type: ignore[arg-type]
    assert plan.status == "fallback" and plan.reason == "forced"
    assert planner.due(at(0)) is True  # retry at once, not after the re-plan interval
    monkeypatch.undo()
    plan = planner.plan(p)  # type: ignore[arg-type]
    assert plan.status == "optimal"
    assert planner.due(at(0)) is False
    assert planner.due(at(300 / 3600)) is True
    assert calls == [1]


def test_time_limit_falls_back() -> None:
    plan = solve(_two_evs(), PlannerConfig(time_limit_s=1e-9))  # type: ignore[arg-type]
    assert plan.status == "fallback"
    assert "time limit" in (plan.reason or "")


def test_infeasible_storage_target_falls_back_safely() -> None:
    # The storage must end at 10 kWh but can charge only 1 kWh: no schedule exists.
    unit = StorageUnit(
        "B1",
        "grid",
        capacity_wh=20000.0,
        soc_wh=0.0,
        max_charge_w=1000.0,
        max_discharge_w=1000.0,
        final_soc_min_wh=10000.0,
    )
    p = problem(
        nodes=(LimitNode("grid", max_import_w=10000.0),),
        evses=(evse("E1"),),
        sessions=(session("S1", "E1", hours=1, energy_wh=20000.0),),
        storage=(unit,),
    )
    plan = solve(p)
    assert plan.status == "fallback"
    assert "infeasible" in (plan.reason or "")
    assert plan.storage["B1"].power_w == (0.0,) * 4
    assert plan.evses["E1"].power_w == pytest.approx((10000.0,) * 4, abs=1e-9)


def test_proportional_share_respects_every_phase_and_node() -> None:
    # panel: 16 A per phase; station node under it: 7 kW. Mixed 1- and 3-phase EVSEs.
    nodes = (
        LimitNode("grid", max_import_w=9000.0),
        LimitNode("panel", "grid", max_phase_current_a=16.0),
        LimitNode("st", "panel", max_import_w=7000.0),
    )
    evses = (
        evse("A", "panel", phase=Phase.L1, max_current_a=32.0),
        evse("B", "panel", phase=Phase.L1, max_current_a=32.0),
        evse("C", "st", phase=Phase.THREE, max_current_a=16.0),
        evse("D", "st", phase=Phase.L3, max_current_a=32.0),
    )
    p = problem(
        nodes=nodes,
        evses=evses,
        sessions=tuple(
            session(f"S{e.evse_id}", e.evse_id, hours=1, energy_wh=50000.0) for e in evses
        ),
    )
    cp = compile_problem(p)
    alloc = proportional_share(cp)
    assert check_limits(cp, alloc, np.zeros((0, 4)), np.zeros((0, 4))) == []
    plan = solve(p, PlannerConfig(backend="pyomo", solver_name="no_such_solver"))
    assert plan.status == "fallback"
    assert check_limits(cp, load_kw(plan, cp), np.zeros((0, 4)), np.zeros((0, 4))) == []
    # the LP does at least as well on energy and equally keeps every limit
    best = solve(p)
    assert check_limits(cp, load_kw(best, cp), np.zeros((0, 4)), np.zeros((0, 4))) == []
    assert sum(best.shortfall_wh.values()) <= sum(plan.shortfall_wh.values()) + 1e-6


def test_events_and_the_timer_make_a_replan_due() -> None:
    planner = Planner(PlannerConfig(replan_interval_s=600.0))
    assert planner.due(at(0)) is True  # nothing planned yet
    planner.plan(_two_evs())  # type: ignore[arg-type]
    assert planner.due(at(5 / 60)) is False
    planner.notify("arrival")
    assert planner.due(at(5 / 60)) is True
    planner.plan(_two_evs())  # type: ignore[arg-type]
    assert planner.due(at(9 / 60)) is False
    assert planner.due(at(10 / 60)) is True
