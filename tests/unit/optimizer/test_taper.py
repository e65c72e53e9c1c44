"""EV acceptance tapering above an energy (CC-CV as a line): hand-computed plans on both
paths, the two paths at the same optimum, warm re-plans at the cold one, and the checks."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from optimizer import (
    InvalidProblem,
    LimitNode,
    Planner,
    PlannerConfig,
    Session,
    compile_problem,
    solve,
    solve_direct,
    solve_pyomo,
)
from tests.unit.optimizer.helpers import at, evse, problem, session
from tests.unit.optimizer.test_paths_agree import _random_problem
from tests.unit.optimizer.test_warm_start import STEP_S, _advance, _problem, _sessions

BACKENDS = [PlannerConfig(backend="direct"), PlannerConfig(backend="pyomo")]
IDS = ["direct", "pyomo"]


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_one_ev_follows_its_taper(config: PlannerConfig) -> None:
    # 10 kW until 2 kWh, then 2 kW less per kWh, down to 2 kW at 6 kWh (the request), in
    # 15-min steps: 10 kW (0 -> 2.5 kWh), 10 - 2*0.5 = 9 kW (-> 4.75 kWh),
    # 10 - 2*2.75 = 4.5 kW (-> 5.875 kWh), then 0.125 kWh left: 0.5 kW (line at 2.25 kW).
    p = problem(
        evses=(evse("E1"),),
        sessions=(
            session(
                "S1",
                "E1",
                hours=1,
                energy_wh=6000.0,
                max_power_w=10000.0,
                taper_start_wh=2000.0,
                taper_floor_w=2000.0,
            ),
        ),
    )
    plan = solve(p, config)
    assert plan.load_power_w["S1"] == pytest.approx((10000.0, 9000.0, 4500.0, 500.0), abs=1e-6)
    assert plan.shortfall_wh["S1"] == pytest.approx(0.0, abs=1e-6)
    assert plan.energy_cost == pytest.approx(0.6, abs=1e-9)
    # without the taper the EV takes its maximum until done
    flat = dataclasses.replace(p, sessions=(dataclasses.replace(p.sessions[0],
                               taper_start_wh=None),))  # fmt: skip
    assert solve(flat, config).load_power_w["S1"] == pytest.approx(
        (10000.0, 10000.0, 4000.0, 0.0), abs=1e-6
    )


def _replay_tapered(power_w: tuple[float, ...], s: Session, step_h: float) -> float:
    """Energy (Wh) an EV with ``s``'s taper takes from the planned power, step by step."""
    got_wh = s.energy_delivered_wh
    assert s.taper_start_wh is not None and s.max_power_w is not None
    slope = (s.max_power_w - s.taper_floor_w) / (s.taper_full_wh - s.taper_start_wh)
    for planned in power_w:
        line_w = s.max_power_w - slope * max(0.0, got_wh - s.taper_start_wh)
        got_wh += min(planned, line_w) * step_h
    return got_wh


def _shared_cap_problem(*, taper: bool) -> object:
    # 15 kW for an hour. A: 10 kW until 2.5 kWh, then 2 kW less per kWh (full at 7.5 kWh),
    # wants 6.875 kWh: the most it can take, only by 10, 10, 5 (line 15 - 2*5), 2.5 kW
    # (15 - 2*6.25). B: 10 kW, 5 kWh by 0.75 h: what A leaves in steps 0-2, 5 + 5 + 10 kW.
    extra = {"taper_start_wh": 2500.0, "taper_end_wh": 7500.0} if taper else {}
    return problem(
        nodes=(LimitNode("grid", max_import_w=15000.0),),
        evses=(evse("E1"), evse("E2")),
        sessions=(
            session("A", "E1", hours=1, energy_wh=6875.0, max_power_w=10000.0, **extra),
            session("B", "E2", hours=0.75, energy_wh=5000.0, max_power_w=10000.0),
        ),
    )


@pytest.mark.parametrize("backend", ["direct", "pyomo"])
def test_the_tapering_ev_gets_power_before_its_taper(backend: str) -> None:
    # The tie-breaker serves the sooner-leaving B first. Without the taper model A gets
    # 5, 10, 10, 2.5 kW (B 10, 5, 5): planned to finish, but the real EV (1.25, then
    # 3.75 kWh in) accepts only 15 - 2*3.75 = 7.5 kW in step 2 and so ends 625 Wh short.
    config = PlannerConfig(backend=backend, laxity_tiebreak=True)  # type: ignore[arg-type]
    tapered = _shared_cap_problem(taper=True)
    plan = solve(tapered, config)  # type: ignore[arg-type]
    assert plan.load_power_w["A"] == pytest.approx((10000.0, 10000.0, 5000.0, 2500.0), abs=1e-6)
    assert plan.load_power_w["B"] == pytest.approx((5000.0, 5000.0, 10000.0, 0.0), abs=1e-6)
    assert plan.shortfall_wh == pytest.approx({"A": 0.0, "B": 0.0}, abs=1e-6)
    a = tapered.sessions[0]  # type: ignore[attr-defined]
    assert _replay_tapered(plan.load_power_w["A"], a, 0.25) == pytest.approx(6875.0, abs=1e-6)

    blind = solve(_shared_cap_problem(taper=False), config)  # type: ignore[arg-type]
    assert blind.load_power_w["A"] == pytest.approx((5000.0, 10000.0, 10000.0, 2500.0), abs=1e-6)
    assert blind.shortfall_wh["A"] == pytest.approx(0.0, abs=1e-6)
    assert _replay_tapered(blind.load_power_w["A"], a, 0.25) == pytest.approx(6250.0, abs=1e-6)


def _with_tapers(p: object, seed: int) -> object:
    rng = random.Random(seed)
    sessions = []
    for s in p.sessions:  # type: ignore[attr-defined]
        if rng.random() < 0.7:
            full_wh = s.energy_requested_wh * rng.uniform(1.0, 1.5)
            s = dataclasses.replace(
                s,
                max_power_w=rng.choice([None, 7000.0, 11000.0]),
                energy_delivered_wh=rng.uniform(0.0, 0.3) * s.energy_requested_wh,
                taper_start_wh=rng.uniform(0.1, 0.8) * s.energy_requested_wh,
                taper_end_wh=full_wh,
                taper_floor_w=rng.choice([0.0, 1000.0]),
            )
        sessions.append(s)
    return dataclasses.replace(p, sessions=tuple(sessions))  # type: ignore[type-var]


@pytest.mark.parametrize("seed", range(4))
def test_direct_and_pyomo_agree_with_tapers(seed: int) -> None:
    cp = compile_problem(_with_tapers(_random_problem(seed), seed))  # type: ignore[arg-type]
    assert cp.taper_rows.any()
    direct = solve_direct(cp)
    model = solve_pyomo(cp)
    assert direct.objective == pytest.approx(model.objective, rel=1e-7, abs=1e-7)
    assert direct.unmet_kwh.sum() == pytest.approx(model.unmet_kwh.sum(), abs=1e-6)
    # every planned step is within the taper line
    e_kwh = np.array([s.energy_delivered_wh / 1000.0 for s in cp.problem.sessions])
    n_s = len(e_kwh)
    p = direct.p_kw[:n_s]
    before = (
        e_kwh[:, None]
        + np.cumsum(cp.load_eff[:n_s, None] * cp.dt_h * p, axis=1)
        - (cp.load_eff[:n_s, None] * cp.dt_h * p)
    )
    slope = cp.taper_slope_per_h[:n_s, None]
    line = cp.taper_rhs_kw[:n_s, None] - slope * (before - e_kwh[:, None])
    assert (p <= line + 1e-6).all()


@pytest.mark.parametrize("seed", range(2))
def test_warm_replans_with_tapers_match_cold(seed: int) -> None:
    rng = random.Random(seed)
    sessions = []
    for s in _sessions(seed):
        if rng.random() < 0.6:
            start_wh = rng.uniform(0.3, 0.8) * s.energy_requested_wh
            s = dataclasses.replace(s, taper_start_wh=start_wh, taper_floor_w=1500.0)
        sessions.append(s)
    planner = Planner(PlannerConfig())
    now_h = 0.0
    rows = 0
    for elapsed_s in (0, 900, 900, 300, 600, 900, 900):
        now_h += elapsed_s / 3600.0
        p = _problem(now_h, sessions, 12e3, seed)
        plan = planner.plan(p)
        cp = compile_problem(p)
        rows += int(cp.taper_rows.sum())
        assert plan.status == "optimal"
        assert plan.solver_start == ("cold" if elapsed_s == 0 else "warm")
        assert plan.objective == pytest.approx(solve_direct(cp).objective, rel=1e-7, abs=1e-6)
        sessions = _advance(sessions, plan.load_power_w, STEP_S)
    assert rows > 0


def test_sessions_without_taper_add_no_rows() -> None:
    p = _random_problem(0)
    cp = compile_problem(p)  # type: ignore[arg-type]
    assert not cp.taper_rows.any()


def test_taper_checks() -> None:
    kw = {"session_id": "S", "evse_id": "E", "arrival": at(0), "departure": at(1)}
    with pytest.raises(InvalidProblem, match="taper_end_wh"):
        Session(energy_requested_wh=5000.0, taper_start_wh=5000.0, **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidProblem, match="energy_requested_wh"):
        Session(energy_requested_wh=9000.0, taper_start_wh=1000.0, taper_end_wh=8000.0,
                **kw)  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(InvalidProblem, match="taper_end_wh"):
        Session(energy_requested_wh=5000.0, taper_end_wh=8000.0, **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidProblem, match="taper_floor_w"):
        Session(energy_requested_wh=5000.0, max_power_w=7000.0, taper_start_wh=1000.0,
                taper_floor_w=8000.0, **kw)  # type: ignore[arg-type]  # fmt: skip
    # 60 kWh battery at 20 %, tapering from 80 %: 36 kWh to the taper, 48 kWh to full
    assert Session.taper_from_soc(soc_pct=20, taper_soc_pct=80, capacity_wh=60e3) == {
        "taper_start_wh": pytest.approx(36e3),
        "taper_end_wh": pytest.approx(48e3),
    }
    with pytest.raises(InvalidProblem, match="taper_soc_pct"):
        Session.taper_from_soc(soc_pct=20, taper_soc_pct=120, capacity_wh=60e3)
