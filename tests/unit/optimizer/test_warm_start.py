"""Re-plans warm-started from the previous basis reach the cold optimum, through arrivals,
departures, a time shift and structure changes, and never break a limit."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import numpy as np
import pytest

from optimizer import (
    Compiled,
    CurrentLimit,
    LimitNode,
    Phase,
    Plan,
    Planner,
    PlannerConfig,
    Problem,
    PvPlant,
    Session,
    StorageUnit,
    Tariff,
    TimeGrid,
    compile_problem,
    solve_direct,
)
from optimizer.basis import CarriedBasis
from tests.unit.optimizer.helpers import T0, evse, load_kw

STEP_S = 900.0
N_STEPS = 16


def _sessions(seed: int) -> list[Session]:
    """A day of sessions on 10 EVSEs: some plugged in at T0, the rest arriving later."""
    rng = random.Random(seed)
    out = []
    for e in range(10):
        at_h = rng.uniform(-2.0, 0.0)
        while at_h < 6.0:
            stay_h = rng.uniform(0.5, 3.0)
            out.append(
                Session(
                    f"S{e}-{len(out)}",
                    f"E{e}",
                    T0 + timedelta(hours=at_h),
                    T0 + timedelta(hours=at_h + stay_h),
                    energy_requested_wh=rng.uniform(4e3, 25e3),
                    priority=rng.choice([1.0, 1.0, 2.0]),
                )
            )
            at_h += stay_h + rng.uniform(0.1, 2.0)
    return out


def _problem(now_h: float, sessions: list[Session], soc_wh: float, seed: int) -> Problem:
    """The site at ``now_h`` hours after T0 with the sessions plugged in then."""
    start = T0 + timedelta(hours=now_h)
    grid = TimeGrid.uniform(start=start, step_s=STEP_S, n_steps=N_STEPS)
    rng = random.Random(seed)
    phases = [Phase.THREE, Phase.L1, Phase.L2, Phase.L3, Phase.THREE]
    evses = tuple(
        evse(
            f"E{e}",
            "st1" if e < 5 else "st2",
            phase=phases[e % 5],
            max_current_a=32.0 if e % 5 else 16.0,
        )
        for e in range(10)
    )
    hours = [start.hour + i * STEP_S / 3600.0 for i in range(N_STEPS)]
    return Problem(
        grid=grid,
        nodes=(
            LimitNode("grid", max_import_w=40e3, max_export_w=10e3),
            LimitNode("st1", "grid", max_phase_current_a=40.0),
            LimitNode("st2", "grid", max_import_w=18e3, max_phase_current_a=32.0),
        ),
        evses=evses,
        sessions=tuple(s for s in sessions if s.arrival <= start < s.departure),
        tariff=Tariff(
            tuple(0.3 if 2 <= h % 24 < 5 else 0.15 for h in hours),
            export_price_per_kwh=(0.05,) * N_STEPS,
            demand_charge_per_kw=2.0,
            peak_so_far_w=12e3,
        ),
        pv=(PvPlant("PV", "grid", tuple(rng.uniform(0, 12e3) for _ in range(N_STEPS))),),
        storage=(
            StorageUnit(
                "B1",
                "st2",
                capacity_wh=30e3,
                soc_wh=soc_wh,
                max_charge_w=8e3,
                max_discharge_w=8e3,
                degradation_cost_per_kwh=0.02,
            ),
        ),
        current_limits=(CurrentLimit("E1+E2", (("E1", 1.0), ("E2", 1.0)), max_current_a=40.0),),
    )


def _advance(
    sessions: list[Session], plan_power_w: dict[str, tuple[float, ...]], elapsed_s: float
) -> list[Session]:
    out = []
    for s in sessions:
        if s.session_id in plan_power_w:
            wh = plan_power_w[s.session_id][0] * elapsed_s / 3600.0
            s = dataclasses.replace(s, energy_delivered_wh=s.energy_delivered_wh + wh)
        out.append(s)
    return out


def _violations(plan: Plan, cp: Compiled) -> list[str]:
    """Hard limits the plan breaks: node power and phase currents (as planned, PV included),
    the linear current limit, load caps."""
    out = []
    for n, node_id in enumerate(cp.node_ids):
        node = plan.nodes[node_id]
        kw = np.array(node.power_w) / 1000.0
        amps = np.abs(np.array(node.phase_current_a))  # (T, 3)
        if (kw > cp.node_imp_kw[n] + 1e-6).any() or (-kw > cp.node_exp_kw[n] + 1e-6).any():
            out.append(f"{node_id} power")
        if (amps > cp.node_phase_a[n][:, None] + 1e-6).any():
            out.append(f"{node_id} phase current")
    p_kw = load_kw(plan, cp)
    if (cp.lin_coef @ p_kw > cp.lin_cap_a + 1e-6).any():
        out.append("linear current limit")
    if (p_kw > cp.load_pmax_kw + 1e-6).any():
        out.append("load cap")
    return out


@pytest.mark.parametrize("seed", range(3))
def test_warm_replans_match_cold_optimum_through_arrivals_and_departures(seed: int) -> None:
    sessions = _sessions(seed)
    planner = Planner(PlannerConfig())
    soc_wh = 12e3
    now_h = 0.0
    changed = 0
    previous: set[str] = set()
    # one-step timer re-plans with event re-plans a few minutes into a step in between
    for elapsed_s in (0, 900, 900, 300, 600, 900, 900, 120, 780, 900, 900, 900):
        now_h += elapsed_s / 3600.0
        problem = _problem(now_h, sessions, soc_wh, seed)
        plan = planner.plan(problem)
        cp = compile_problem(problem)
        cold = solve_direct(cp)
        assert plan.status == "optimal"
        assert plan.solver_start == ("cold" if elapsed_s == 0 else "warm")
        assert plan.objective == pytest.approx(cold.objective, rel=1e-7, abs=1e-6)
        assert _violations(plan, cp) == []
        kept = planner._last_basis  # what the next re-plan starts from: a square basis
        assert kept is not None
        basics = int((kept.col_status == 1).sum() + (kept.row_status == 1).sum())
        assert basics == len(kept.row_status)
        present = {s.session_id for s in problem.sessions}
        changed += len(present ^ previous)
        previous = present
        sessions = _advance(sessions, plan.load_power_w, 900.0)
        first_w = plan.storage["B1"].power_w[0]
        step_wh = first_w * 900.0 / 3600.0
        soc_wh = float(
            np.clip(soc_wh + (0.95 * step_wh if step_wh > 0 else step_wh / 0.95), 0.0, 30e3)
        )
    assert changed > 10  # the sequence did have arrivals and departures


def test_new_structure_or_a_jump_past_the_horizon_solves_cold() -> None:
    sessions = _sessions(1)
    planner = Planner(PlannerConfig())
    planner.plan(_problem(0.0, sessions, 10e3, 1))
    later = _problem(N_STEPS * STEP_S / 3600.0 + 1.0, sessions, 10e3, 1)
    plan = planner.plan(later)
    assert plan.status == "optimal"
    assert plan.solver_start == "cold: nothing to carry over"
    assert plan.objective == pytest.approx(solve_direct(compile_problem(later)).objective)
    # a node added: its columns and rows start from scratch, the rest carries over
    base = _problem(N_STEPS * STEP_S / 3600.0 + 1.25, sessions, 10e3, 1)
    extra = dataclasses.replace(
        base, nodes=(*base.nodes, LimitNode("st3", "grid", max_import_w=5e3))
    )
    plan = planner.plan(extra)
    assert plan.solver_start == "warm"
    assert plan.objective == pytest.approx(
        solve_direct(compile_problem(extra)).objective, rel=1e-7, abs=1e-6
    )


def test_a_rejected_basis_is_solved_cold(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = _sessions(2)
    planner = Planner(PlannerConfig())
    planner.plan(_problem(0.0, sessions, 10e3, 2))
    import optimizer.basis
    import optimizer.direct

    real = optimizer.basis.carry_basis

    def one_row_short(*args: object, **kwargs: object) -> CarriedBasis | None:
        carried = real(*args, **kwargs)  # type: ignore[arg-type]
        assert carried is not None
        return dataclasses.replace(carried, row_status=carried.row_status[:-1])

    monkeypatch.setattr(optimizer.direct, "carry_basis", one_row_short)
    problem = _problem(0.25, _advance(sessions, {}, 0.0), 10e3, 2)
    plan = planner.plan(problem)
    assert plan.status == "optimal"
    assert plan.solver_start == "cold: basis rejected"
    assert plan.objective == pytest.approx(solve_direct(compile_problem(problem)).objective)


def test_warm_start_off_always_solves_cold() -> None:
    sessions = _sessions(0)
    planner = Planner(PlannerConfig(warm_start=False))
    planner.plan(_problem(0.0, sessions, 10e3, 0))
    assert planner.plan(_problem(0.25, sessions, 10e3, 0)).solver_start == "cold"
