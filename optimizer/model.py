"""The planner's LP in Pyomo: the readable definition and the offline bound.

:func:`build_model` calls one ``add_<family>_constraints`` per family in a fixed order; each
docstring carries its equation. Notation: loads l (EV sessions, flexible loads), steps t of
length Δt_t (h), nodes n with parent π(n), storage b, PV k; p[l,t] load power (kW),
q[l,t] power a V2G session gives back (kW), u[l] unmet energy (kWh), f[n,t] net power
through node n (kW, import positive), g[n,φ,t] net current on phase φ (A).
:mod:`optimizer.fastlp` assembles the same LP directly.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.opt import TerminationCondition

from optimizer.compiled import Compiled
from optimizer.exceptions import InfeasibleSchedule, SolveFailed, SolverTimeout, SolverUnavailable
from optimizer.flexible import rack_coef
from optimizer.solution import Solution

__all__ = [
    "add_current_limit_constraints",
    "add_grid_constraints",
    "add_load_constraints",
    "add_node_flow_constraints",
    "add_objective",
    "add_phase_constraints",
    "add_rack_constraints",
    "add_storage_constraints",
    "add_taper_constraints",
    "add_v2g_constraints",
    "build_model",
    "solve_pyomo",
]

logger = logging.getLogger(__name__)


def _bound(value: float) -> float | None:
    return None if math.isinf(value) else float(value)


def add_load_constraints(m: pyo.ConcreteModel, cp: Compiled) -> None:
    """Energy and fairness per load.

    Σ_t η_l Δt_t p[l,t] - Σ_t Δt_t q[l,t] / η_l + u[l] = E_l
                                               (what is not delivered is unmet, 0 ≤ u ≤ E;
                                                what a V2G session gives is charged back)
    0 ≤ p[l,t] ≤ P̄[l,t]                       (EVSE, EV and dimming cap x time present)
    0 ≤ q[l,t] ≤ Q̄[l,t]                       (V2G sessions only: discharge limit x present)
    z · E_l ≥ u[l]                             (z: the largest unmet share, a tie-breaker)
    """
    pairs = list(zip(*np.nonzero(cp.load_pmax_kw > 0), strict=True))
    m.P = pyo.Set(initialize=[(int(ld), int(t)) for ld, t in pairs], dimen=2, ordered=True)
    m.p = pyo.Var(m.P, bounds=lambda _m, ld, t: (0.0, float(cp.load_pmax_kw[ld, t])))
    back = list(zip(*np.nonzero(cp.v2g_max_kw > 0), strict=True))
    m.Q = pyo.Set(initialize=[(int(ld), int(t)) for ld, t in back], dimen=2, ordered=True)
    m.q = pyo.Var(m.Q, bounds=lambda _m, ld, t: (0.0, float(cp.v2g_max_kw[ld, t])))
    m.u = pyo.Var(m.L, bounds=lambda _m, ld: (0.0, float(cp.load_need_kwh[ld])))
    m.z = pyo.Var(bounds=(0.0, 1.0))
    by_load: dict[int, list[int]] = {ld: [] for ld in range(len(cp.load_ids))}
    for ld, t in m.P:
        by_load[ld].append(t)
    gives: dict[int, list[int]] = {ld: [] for ld in range(len(cp.load_ids))}
    for ld, t in m.Q:
        gives[ld].append(t)
    m.energy = pyo.Constraint(
        m.L,
        rule=lambda _m, ld: (
            sum(cp.load_eff[ld] * cp.dt_h[t] * _m.p[ld, t] for t in by_load[ld])
            - sum(cp.dt_h[t] / cp.load_eff[ld] * _m.q[ld, t] for t in gives[ld])
            + _m.u[ld]
            == float(cp.load_need_kwh[ld])
        ),
    )
    m.fairness = pyo.Constraint(
        m.L, rule=lambda _m, ld: _m.z * float(cp.load_need_kwh[ld]) >= _m.u[ld]
    )
    m.loads_at = {}
    for ld, t in m.P:
        m.loads_at.setdefault((int(cp.load_node[ld]), t), []).append(ld)
    m.givers_at = {}
    for ld, t in m.Q:
        m.givers_at.setdefault((int(cp.load_node[ld]), t), []).append(ld)


def add_v2g_constraints(m: pyo.ConcreteModel, cp: Compiled) -> None:
    """What a V2G session may give: its battery never more than G_l below where it started.

    Σ_{t'≤t} Δt_t' (q[l,t'] / η_l - η_l p[l,t']) ≤ G_l   for every step t it may give in
    """
    m.V2G = pyo.Set(initialize=list(m.Q), dimen=2, ordered=True)
    p_steps: dict[int, list[int]] = {}
    for ld, t in m.P:
        p_steps.setdefault(ld, []).append(t)

    def rule(_m: Any, ld: int, t: int) -> Any:
        eta = float(cp.load_eff[ld])
        out = sum(float(cp.dt_h[s]) / eta * _m.q[ld, s] for s in range(t + 1) if (ld, s) in _m.Q)
        back = sum(eta * float(cp.dt_h[s]) * _m.p[ld, s] for s in p_steps.get(ld, []) if s <= t)
        return out - back <= float(cp.v2g_give_kwh[ld])

    m.v2g_give = pyo.Constraint(m.V2G, rule=rule)


def add_taper_constraints(m: pyo.ConcreteModel, cp: Compiled) -> None:
    """EV acceptance tapering above an energy (CC-CV as a line), only for sessions with one.

    p[l,t] ≤ a_l - b_l E[l,t],   E[l,t] = E0_l + Σ_{t'<t} η_l Δt_t' p[l,t']
    i.e.  p[l,t] + b_l Σ_{t'<t} η_l Δt_t' p[l,t'] ≤ r_l = a_l - b_l E0_l
    a_l - b_l E is the line from the EV's maximum at the taper start down to its floor when
    full; E[l,t] is the energy in the battery at the start of step t (the acceptance at the
    step's start holds for the whole step). Rows only where the line can bind.
    """
    rows = [(int(ld), int(t)) for ld, t in zip(*np.nonzero(cp.taper_rows), strict=True)]
    m.TP = pyo.Set(initialize=rows, dimen=2, ordered=True)
    steps: dict[int, list[int]] = {}
    for ld, t in m.P:
        steps.setdefault(ld, []).append(t)

    def rule(_m: Any, ld: int, t: int) -> Any:
        b_eta = float(cp.taper_slope_per_h[ld] * cp.load_eff[ld])
        before = sum(b_eta * float(cp.dt_h[s]) * _m.p[ld, s] for s in steps[ld] if s < t)
        return _m.p[ld, t] + before <= float(cp.taper_rhs_kw[ld])

    m.taper = pyo.Constraint(m.TP, rule=rule)


def add_storage_constraints(m: pyo.ConcreteModel, cp: Compiled) -> None:
    """State of charge of every storage unit.

    s[b,t] = s[b,t-1] + η_ch Δt_t c[b,t] - Δt_t d[b,t] / η_dis,   s[b,-1] = S0_b
    S_min ≤ s[b,t] ≤ S_max,  s[b,T-1] ≥ S_final,  0 ≤ c ≤ C̄[b,t],  0 ≤ d ≤ D̄[b,t]
    """
    n_t = cp.n_steps

    def soc_bounds(_m: Any, b: int, t: int) -> tuple[float, float]:
        low = float(cp.sto_min_kwh[b])
        if t == n_t - 1:
            low = max(low, float(cp.sto_final_min_kwh[b]))
        return low, float(cp.sto_max_kwh[b])

    m.ch = pyo.Var(m.B, m.T, bounds=lambda _m, b, t: (0.0, float(cp.sto_ch_max_kw[b, t])))
    m.dis = pyo.Var(m.B, m.T, bounds=lambda _m, b, t: (0.0, float(cp.sto_dis_max_kw[b, t])))
    m.soc = pyo.Var(m.B, m.T, bounds=soc_bounds)

    def soc_rule(_m: Any, b: int, t: int) -> Any:
        before = float(cp.sto_soc0_kwh[b]) if t == 0 else _m.soc[b, t - 1]
        dt = float(cp.dt_h[t])
        return _m.soc[b, t] == before + float(cp.sto_eta_ch[b]) * dt * _m.ch[b, t] - (
            dt / float(cp.sto_eta_dis[b]) * _m.dis[b, t]
        )

    m.soc_balance = pyo.Constraint(m.B, m.T, rule=soc_rule)


def add_rack_constraints(m: pyo.ConcreteModel, cp: Compiled) -> None:
    """Every swap rack's charge power over its pack jobs (:mod:`optimizer.swap`).

    Σ_{l: rack(l)=r} p[l,t] = w[r,t],   0 ≤ w[r,t] ≤ R̄[r,t]
    (each pack's own limit is its p[l,t] bound). The flows see the rack's w[r,t], not its
    packs: one column per rack and step in the node rows instead of one per pack (decision
    0423).
    """
    n_r = cp.rack_cap_kw.shape[0]
    terms: dict[tuple[int, int], list[int]] = {}
    for ld, t in m.P:
        if cp.rack_load[ld] >= 0:
            terms.setdefault((int(cp.rack_load[ld]), t), []).append(ld)
    m.RK = pyo.Set(
        initialize=[(r, t) for r in range(n_r) for t in range(cp.n_steps)], dimen=2, ordered=True
    )
    m.w = pyo.Var(m.RK, bounds=lambda _m, r, t: (0.0, float(cp.rack_cap_kw[r, t])))
    m.rack = pyo.Constraint(
        m.RK, rule=lambda _m, r, t: sum(_m.p[ld, t] for ld in terms.get((r, t), [])) == _m.w[r, t]
    )


def _own_flow(m: Any, cp: Compiled, n: int, t: int, coef: Any, sto: Any, pv: Any) -> Any:
    expr = sum(
        coef[ld] * m.p[ld, t]
        for ld in m.loads_at.get((n, t), [])
        if coef[ld] != 0 and cp.rack_load[ld] < 0  # packs: their rack's w
    )
    first, w_coef = rack_coef(cp.rack_load, coef, cp.rack_cap_kw.shape[0])
    expr += sum(
        w_coef[r] * m.w[r, t]
        for r in range(len(first))
        if first[r] >= 0 and w_coef[r] != 0 and cp.load_node[first[r]] == n
    )
    expr -= sum(coef[ld] * m.q[ld, t] for ld in m.givers_at.get((n, t), []) if coef[ld] != 0)
    expr += sum(sto[b] * (m.ch[b, t] - m.dis[b, t]) for b in m.B if cp.sto_node[b] == n)
    expr -= sum(pv[k] * m.pv[k, t] for k in m.K if cp.pv_node[k] == n)
    return expr


def add_node_flow_constraints(m: pyo.ConcreteModel, cp: Compiled) -> None:
    """Power through every node of the limit tree.

    f[n,t] = Σ_{c: π(c)=n} f[c,t] + Σ_{l at n} (p[l,t] - q[l,t]) + Σ_{b at n} (c[b,t] - d[b,t])
             - Σ_{k at n} v[k,t] + Σ_{r at n} w[r,t]     (l: no rack's pack; they are in w)
    -X̄[n,t] ≤ f[n,t] ≤ Ī[n,t]     (export / import caps: base limits ∧ operator caps ∧ setpoint)
    0 ≤ v[k,t] ≤ PV forecast       (PV may be curtailed)
    """
    m.pv = pyo.Var(m.K, m.T, bounds=lambda _m, k, t: (0.0, float(cp.pv_kw[k, t])))
    m.f = pyo.Var(
        m.N,
        m.T,
        bounds=lambda _m, n, t: (
            _bound(float(-cp.node_exp_kw[n, t])),
            _bound(float(cp.node_imp_kw[n, t])),
        ),
    )
    ones_l = np.ones(len(cp.load_ids))
    ones_b = np.ones(cp.sto_soc0_kwh.shape[0])
    ones_k = np.ones(cp.pv_kw.shape[0])
    children = {n: [c for c in m.N if cp.node_parent[c] == n] for n in m.N}
    m.node_flow = pyo.Constraint(
        m.N,
        m.T,
        rule=lambda _m, n, t: (
            _m.f[n, t]
            == sum(_m.f[c, t] for c in children[n])
            + _own_flow(_m, cp, n, t, ones_l, ones_b, ones_k)
        ),
    )


def add_phase_constraints(m: pyo.ConcreteModel, cp: Compiled) -> None:
    """Current on every phase of every node (only when some node has a phase limit).

    g[n,φ,t] = Σ_{c: π(c)=n} g[c,φ,t] + Σ_{l at n} a[l,φ] (p[l,t] - q[l,t])
               + Σ_{b at n} a_b (c[b,t] - d[b,t]) - Σ_{k at n} a_k v[k,t]
    -Ī_φ[n,t] ≤ g[n,φ,t] ≤ Ī_φ[n,t]
    a[l,φ] = 1000 / (V_l · phases_l) A/kW if load l is connected to φ, else 0;
    storage and PV are 3-phase balanced: a = 1000 / (3 V).
    """
    if not np.isfinite(cp.node_phase_a).any():
        return
    m.Phi = pyo.Set(initialize=[0, 1, 2])
    m.g = pyo.Var(
        m.N,
        m.Phi,
        m.T,
        bounds=lambda _m, n, _ph, t: (
            _bound(float(-cp.node_phase_a[n, t])),
            _bound(float(cp.node_phase_a[n, t])),
        ),
    )
    children = {n: [c for c in m.N if cp.node_parent[c] == n] for n in m.N}
    m.phase_flow = pyo.Constraint(
        m.N,
        m.Phi,
        m.T,
        rule=lambda _m, n, ph, t: (
            _m.g[n, ph, t]
            == sum(_m.g[c, ph, t] for c in children[n])
            + _own_flow(
                _m,
                cp,
                n,
                t,
                cp.load_phase_a_per_kw[:, ph],
                cp.sto_phase_a_per_kw,
                cp.pv_phase_a_per_kw,
            )
        ),
    )


def add_current_limit_constraints(m: pyo.ConcreteModel, cp: Compiled) -> None:
    """Linear limits on EVSE currents (phase-angle-aware networks).

    Σ_l a[c,l] p[l,t] ≤ Ī[c,t]   with a[c,l] = k[c,e(l)] · 1000 / (V_e · phases_e) A/kW
    (charging only: a V2G session's discharge lowers these currents, never raises them)
    """
    n_c = cp.lin_coef.shape[0]
    rows = [
        (c, t) for c in range(n_c) for t in range(cp.n_steps) if np.isfinite(cp.lin_cap_a[c, t])
    ]
    m.CL = pyo.Set(initialize=rows, dimen=2, ordered=True)
    terms: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for ld, t in m.P:
        for c in np.nonzero(cp.lin_coef[:, ld])[0]:
            terms.setdefault((int(c), t), []).append((float(cp.lin_coef[c, ld]), ld))

    def rule(_m: Any, c: int, t: int) -> Any:
        items = terms.get((c, t), [])
        if not items:
            return pyo.Constraint.Skip
        return sum(a * _m.p[ld, t] for a, ld in items) <= float(cp.lin_cap_a[c, t])

    m.current_limit = pyo.Constraint(m.CL, rule=rule)


def add_grid_constraints(m: pyo.ConcreteModel, cp: Compiled) -> None:
    """Grid connection: import/export split, setpoint floors, billing peak.

    i[t] - x[t] = f[root,t],  i, x ≥ 0
    f[n,t] + s_sp[n,t] ≥ S_lo[n,t]   (setpoint floor; s_sp ≥ 0 penalized)
    peak ≥ i[t],  peak ≥ peak so far   (only with a demand charge)
    """
    m.imp = pyo.Var(m.T, bounds=(0.0, None))
    m.exp = pyo.Var(m.T, bounds=(0.0, None))
    m.balance = pyo.Constraint(m.T, rule=lambda _m, t: _m.imp[t] - _m.exp[t] == _m.f[cp.root, t])
    sp = [
        (int(n), int(t)) for n, t in zip(*np.nonzero(np.isfinite(cp.setpoint_lo_kw)), strict=True)
    ]
    m.SP = pyo.Set(initialize=sp, dimen=2, ordered=True)
    m.sl = pyo.Var(m.SP, bounds=(0.0, None))
    m.setpoint = pyo.Constraint(
        m.SP, rule=lambda _m, n, t: _m.f[n, t] + _m.sl[n, t] >= float(cp.setpoint_lo_kw[n, t])
    )
    if cp.demand_charge_per_kw > 0:
        m.peak = pyo.Var(bounds=(cp.peak_floor_kw, None))
        m.peak_def = pyo.Constraint(m.T, rule=lambda _m, t: _m.peak >= _m.imp[t])


def add_objective(m: pyo.ConcreteModel, cp: Compiled) -> None:
    """min Σ_t Δt_t (price_in[t] i[t] - price_out[t] x[t]) + demand_charge · peak
           + Σ_{b,t} wear_b Δt_t (c + d) + Σ_{l,t} wear_l Δt_t q[l,t] + Σ_l penalty_l u[l]
           + Σ_{l,t} ε[l,t] Δt_t p[l,t] + w_fair z + Σ penalty_sp Δt_t s_sp[n,t]

    penalty_l (priority-weighted) exceeds any money a kWh can save, so energy comes first;
    ε[l,t] grows over each load's window (earlier is better, sooner-leaving loads first) and
    w_fair is small: both only break ties.
    """
    dt = cp.dt_h
    expr = sum(dt[t] * (cp.price_imp[t] * m.imp[t] - cp.price_exp[t] * m.exp[t]) for t in m.T)
    if cp.demand_charge_per_kw > 0:
        expr += cp.demand_charge_per_kw * m.peak
    expr += sum(cp.sto_degr[b] * dt[t] * (m.ch[b, t] + m.dis[b, t]) for b in m.B for t in m.T)
    expr += sum(cp.v2g_cost[ld] * dt[t] * m.q[ld, t] for ld, t in m.Q)
    expr += sum(cp.load_penalty[ld] * m.u[ld] for ld in m.L)
    expr += sum(cp.early_weight[ld, t] * dt[t] * m.p[ld, t] for ld, t in m.P)
    expr += cp.fairness_weight * m.z
    expr += sum(cp.setpoint_penalty * dt[t] * m.sl[n, t] for n, t in m.SP)
    m.objective = pyo.Objective(expr=expr, sense=pyo.minimize)


def build_model(cp: Compiled) -> pyo.ConcreteModel:
    """The whole LP, families in a fixed order."""
    m = pyo.ConcreteModel(name="chargegrid_plan")
    m.T = pyo.RangeSet(0, cp.n_steps - 1)
    m.N = pyo.RangeSet(0, cp.n_nodes - 1)
    m.L = pyo.RangeSet(0, len(cp.load_ids) - 1)
    m.B = pyo.RangeSet(0, cp.sto_soc0_kwh.shape[0] - 1)
    m.K = pyo.RangeSet(0, cp.pv_kw.shape[0] - 1)
    add_load_constraints(m, cp)
    add_taper_constraints(m, cp)
    add_v2g_constraints(m, cp)
    add_storage_constraints(m, cp)
    add_rack_constraints(m, cp)
    add_node_flow_constraints(m, cp)
    add_phase_constraints(m, cp)
    add_current_limit_constraints(m, cp)
    add_grid_constraints(m, cp)
    add_objective(m, cp)
    return m


def solve_pyomo(
    cp: Compiled, *, solver_name: str = "appsi_highs", time_limit_s: float | None = None
) -> Solution:
    """Build and solve with Pyomo; raise a :class:`SolveFailed` subclass on any failure."""
    began = time.perf_counter()
    try:
        solver = pyo.SolverFactory(solver_name)
    except Exception as exc:  # pragma: no cover - Pyomo raises varied errors for bad names
        raise SolverUnavailable(f"solver {solver_name!r}: {exc}") from exc
    if solver is None or not solver.available(exception_flag=False):
        raise SolverUnavailable(f"solver {solver_name!r} is not available")
    m = build_model(cp)
    kwargs: dict[str, Any] = {"load_solutions": False}
    if time_limit_s is not None:
        if hasattr(solver, "config") and hasattr(solver.config, "time_limit"):
            solver.config.time_limit = time_limit_s
        else:
            kwargs["timelimit"] = time_limit_s
    try:
        results = solver.solve(m, **kwargs)
    except Exception as exc:
        raise SolveFailed(f"solver {solver_name!r} failed: {exc}") from exc
    if not pyo.check_optimal_termination(results):
        condition = results.solver.termination_condition
        if condition in (TerminationCondition.infeasible,
                         TerminationCondition.infeasibleOrUnbounded):  # fmt: skip
            raise InfeasibleSchedule(f"the hard limits admit no schedule ({condition})")
        if condition == TerminationCondition.maxTimeLimit:
            raise SolverTimeout(f"solver stopped at its time limit of {time_limit_s} s")
        raise SolveFailed(f"solver {solver_name!r} ended with {condition}")
    m.solutions.load_from(results)
    return _extract(m, cp, time.perf_counter() - began)


def _extract(m: Any, cp: Compiled, took: float) -> Solution:
    n_t = cp.n_steps
    n_b = cp.sto_soc0_kwh.shape[0]
    n_k = cp.pv_kw.shape[0]
    p = np.zeros((len(cp.load_ids), n_t))
    for ld, t in m.P:
        p[ld, t] = pyo.value(m.p[ld, t])
    q = np.zeros((len(cp.load_ids), n_t))
    for ld, t in m.Q:
        q[ld, t] = pyo.value(m.q[ld, t])

    def grid2(var: Any, rows: int) -> Any:
        return np.array([[pyo.value(var[r, t]) for t in range(n_t)] for r in range(rows)]).reshape(
            rows, n_t
        )

    return Solution(
        p_kw=np.clip(p, 0.0, None),
        v2g_kw=np.clip(q, 0.0, None),
        unmet_kwh=np.clip(np.array([pyo.value(m.u[ld]) for ld in m.L]), 0.0, None),
        ch_kw=grid2(m.ch, n_b),
        dis_kw=grid2(m.dis, n_b),
        soc_kwh=grid2(m.soc, n_b),
        pv_kw=grid2(m.pv, n_k),
        imp_kw=np.array([pyo.value(m.imp[t]) for t in m.T]),
        exp_kw=np.array([pyo.value(m.exp[t]) for t in m.T]),
        objective=float(pyo.value(m.objective)),
        solve_time_s=took,
        backend="pyomo",
    )
