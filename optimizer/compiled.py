"""A :class:`~optimizer.problem.Problem` turned into numpy arrays, the common ground of both
model builders (Pyomo and the direct HiGHS path) and of the fallback.

Internal units: kW, kWh, hours, A. A *load* is anything the plan sizes: an EV session (at its
EVSE) or a flexible load. Everything per step has shape ``(..., T)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from optimizer.flexible import flexible_rows, rack_arrays
from optimizer.inputs import Phase
from optimizer.problem import Problem, TimeGrid
from optimizer.swap import PackJob

__all__ = ["Compiled", "compile_problem"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_PHASE_INDEX = {Phase.L1: (0,), Phase.L2: (1,), Phase.L3: (2,), Phase.THREE: (0, 1, 2)}

#: Weight of the earlier-is-better tie-breaker, currency per kWh at the horizon's end.
EARLY_WEIGHT = 1e-3


@dataclass(frozen=True, slots=True)
class Compiled:
    problem: Problem
    dt_h: FloatArray  # (T,)
    start_s: FloatArray  # (T,) step starts from grid start
    node_ids: tuple[str, ...]
    root: int
    node_parent: IntArray  # (N,) parent index, -1 for the root
    node_imp_kw: FloatArray  # (N, T), inf = no limit
    node_exp_kw: FloatArray  # (N, T)
    node_phase_a: FloatArray  # (N, T)
    setpoint_lo_kw: FloatArray  # (N, T), -inf = none
    load_ids: tuple[str, ...]
    load_is_session: BoolArray  # (L,)
    load_evse: IntArray  # (L,) index into problem.evses, -1 for flexible loads
    load_node: IntArray  # (L,)
    load_under: BoolArray  # (N, L): node n is at or above load l's node
    load_phase_a_per_kw: FloatArray  # (L, 3)
    load_pmax_kw: FloatArray  # (L, T), 0 where absent
    load_eff: FloatArray  # (L,)
    load_need_kwh: FloatArray  # (L,) energy still wanted in the battery
    load_penalty: FloatArray  # (L,) currency per kWh unmet
    taper_rhs_kw: FloatArray  # (L,) r_l: the taper line's power at the energy delivered so far
    taper_slope_per_h: FloatArray  # (L,) b_l: kW less acceptance per kWh more in the battery
    taper_rows: BoolArray  # (L, T) steps where the taper line may bind (a row each)
    sto_under: BoolArray  # (N, B)
    sto_node: IntArray  # (B,)
    sto_phase_a_per_kw: FloatArray  # (B,)
    sto_ch_max_kw: FloatArray  # (B, T)
    sto_dis_max_kw: FloatArray  # (B, T)
    sto_soc0_kwh: FloatArray
    sto_min_kwh: FloatArray
    sto_max_kwh: FloatArray
    sto_final_min_kwh: FloatArray
    sto_eta_ch: FloatArray
    sto_eta_dis: FloatArray
    sto_degr: FloatArray  # currency per kWh throughput
    pv_under: BoolArray  # (N, K)
    pv_node: IntArray  # (K,)
    pv_phase_a_per_kw: FloatArray  # (K,)
    pv_kw: FloatArray  # (K, T)
    lin_coef: FloatArray  # (C, L) A per kW of load power, for the linear current limits
    lin_cap_a: FloatArray  # (C, T), inf outside a limit's window
    price_imp: FloatArray  # (T,) currency per kWh incl. CO2
    price_exp: FloatArray  # (T,)
    demand_charge_per_kw: float
    peak_so_far_kw: float
    peak_floor_kw: float  # the LP's peak starts here: max(peak so far, peak target)
    early_weight: FloatArray  # (L, T) currency per kWh, the earlier-is-better tie-breaker
    fairness_weight: float
    setpoint_penalty: float
    rack_pack_jobs: tuple[tuple[PackJob, ...], ...]  # per swap rack, its loads in order
    rack_load: IntArray  # (L,) the swap rack a load charges a pack of, -1 for none
    rack_cap_kw: FloatArray  # (R, T) the rack's charge power limit

    @property
    def n_steps(self) -> int:
        return int(self.dt_h.shape[0])

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)


Fields = dict[str, Any]  # some of Compiled's fields, by name


@dataclass(frozen=True, slots=True)
class _Steps:
    """The time grid in seconds from its start."""

    t0: datetime
    dt_s: FloatArray
    start_s: FloatArray
    end_s: FloatArray

    @classmethod
    def of(cls, grid: TimeGrid) -> _Steps:
        dt_s = np.asarray(grid.step_durations_s, dtype=float)
        start_s = np.concatenate([[0.0], np.cumsum(dt_s)[:-1]])
        return cls(t0=grid.start, dt_s=dt_s, start_s=start_s, end_s=start_s + dt_s)

    @property
    def n(self) -> int:
        return len(self.dt_s)

    def rel(self, moment: datetime) -> float:
        return (moment - self.t0).total_seconds()

    def overlap(self, a: float, b: float) -> FloatArray:
        """Share of each step [start, end) covered by [a, b) (seconds from the start)."""
        lo = np.maximum(self.start_s, a)
        hi = np.minimum(self.end_s, b)
        share: FloatArray = np.clip(hi - lo, 0.0, None) / (self.end_s - self.start_s)
        return share

    def window(self, start: datetime, end: datetime) -> BoolArray:
        """Steps that overlap [start, end) at all (a cap holds for the whole step it touches)."""
        mask: BoolArray = (self.start_s < self.rel(end)) & (self.end_s > self.rel(start))
        return mask


@dataclass(frozen=True, slots=True)
class _Tree:
    """The limit tree's nodes by index, with ``above[a, n]``: a is n or an ancestor of n."""

    index: dict[str, int]
    above: BoolArray

    @classmethod
    def of(cls, problem: Problem) -> _Tree:
        index = {node.node_id: i for i, node in enumerate(problem.nodes)}
        above = np.zeros((len(index), len(index)), dtype=bool)
        for n, node in enumerate(problem.nodes):
            for a in problem.ancestors(node.node_id):
                above[index[a], n] = True
        return cls(index=index, above=above)

    def nodes(self, node_ids: Iterable[str]) -> IntArray:
        return np.array([self.index[node_id] for node_id in node_ids], dtype=np.int64)


def _dimming_caps(problem: Problem, steps: _Steps) -> dict[str, FloatArray]:
    """Per dimmed device: its cap in kW per step (inf outside its dimmings)."""
    caps: dict[str, FloatArray] = {}
    for dim in problem.dimmings:
        mask = steps.window(dim.start, dim.end)
        cap = caps.setdefault(dim.device_id, np.full(steps.n, math.inf))
        cap[mask] = np.minimum(cap[mask], dim.cap_w / 1000.0)
    return caps


def _load_arrays(
    problem: Problem, steps: _Steps, tree: _Tree, dims: dict[str, FloatArray]
) -> Fields:
    """Sessions then flexible loads and pack jobs: where each sits, what it may draw per step
    (EVSE, EV and dimming caps x time present), its efficiency and the energy it still needs."""
    evse_index = {evse.evse_id: i for i, evse in enumerate(problem.evses)}
    flex = flexible_rows(problem)
    n_l = len(problem.sessions) + len(flex)
    is_session = np.zeros(n_l, dtype=bool)
    load_evse = np.full(n_l, -1, dtype=np.int64)
    load_node = np.zeros(n_l, dtype=np.int64)
    pmax = np.zeros((n_l, steps.n))
    eff = np.ones(n_l)
    need = np.zeros(n_l)
    for i, s in enumerate(problem.sessions):
        evse = problem.evses[evse_index[s.evse_id]]
        is_session[i] = True
        load_evse[i] = evse_index[s.evse_id]
        load_node[i] = tree.index[evse.node_id]
        cap_kw = evse.max_power_w / 1000.0
        if s.max_power_w is not None:
            cap_kw = min(cap_kw, s.max_power_w / 1000.0)
        row = np.full(steps.n, cap_kw)
        if evse.evse_id in dims:
            row = np.minimum(row, dims[evse.evse_id])
        pmax[i] = row * steps.overlap(steps.rel(s.arrival), steps.rel(s.departure))
        eff[i] = evse.efficiency
        need[i] = s.remaining_wh / 1000.0
    for i, f in enumerate(flex, start=len(problem.sessions)):
        load_node[i] = tree.index[f.node_id]
        begin = -math.inf if f.begin is None else steps.rel(f.begin)
        pmax[i] = f.max_kw * steps.overlap(begin, steps.rel(f.end))
        eff[i] = f.eff
        need[i] = f.need_kwh
    ids = [s.session_id for s in problem.sessions] + [f.load_id for f in flex]
    return {
        "load_ids": tuple(ids), "load_is_session": is_session, "load_evse": load_evse,
        "load_node": load_node, "load_under": tree.above[:, load_node], "load_pmax_kw": pmax,
        "load_eff": eff, "load_need_kwh": need,
    }  # fmt: skip


def _taper_arrays(problem: Problem, loads: Fields, dt_h: FloatArray) -> Fields:
    """The taper rows' data, see :func:`optimizer.model.add_taper_constraints`.

    A row for step t only where the line could bind: below the load's power cap at the most
    energy the load could have received before t. No taper, nothing left to deliver or a flat
    line: no rows at all."""
    pmax, eff, need = loads["load_pmax_kw"], loads["load_eff"], loads["load_need_kwh"]
    n_l, n_t = pmax.shape
    rhs = np.full(n_l, math.inf)
    slope = np.zeros(n_l)
    rows = np.zeros((n_l, n_t), dtype=bool)
    evse_max = {e.evse_id: e.max_power_w / 1000.0 for e in problem.evses}
    for i, s in enumerate(problem.sessions):
        if s.taper_start_wh is None or need[i] <= 0:
            continue
        line_kw = evse_max[s.evse_id] if s.max_power_w is None else s.max_power_w / 1000.0
        floor_kw = min(s.taper_floor_w / 1000.0, line_kw)
        start_kwh = s.taper_start_wh / 1000.0
        b = (line_kw - floor_kw) / (s.taper_full_wh / 1000.0 - start_kwh)
        if b <= 0:
            continue
        delivered_kwh = s.energy_delivered_wh / 1000.0
        slope[i] = b
        rhs[i] = line_kw - b * (delivered_kwh - start_kwh)
        most_before = np.minimum(
            np.concatenate([[0.0], np.cumsum(eff[i] * dt_h * pmax[i])[:-1]]), need[i]
        )
        rows[i] = (pmax[i] > 0) & (rhs[i] - b * most_before < pmax[i] - 1e-9)
    return {"taper_rhs_kw": rhs, "taper_slope_per_h": slope, "taper_rows": rows}


def _storage_arrays(
    problem: Problem, steps: _Steps, tree: _Tree, dims: dict[str, FloatArray]
) -> Fields:
    """Each storage unit's node, charge and discharge caps per step (dimmings included),
    state-of-charge range, efficiencies and wear."""
    st = problem.storage
    n_t = steps.n
    sto_node = tree.nodes(u.node_id for u in st)
    ch_max = np.array([[u.max_charge_w / 1000.0] * n_t for u in st]).reshape(len(st), n_t)
    dis_max = np.array([[u.max_discharge_w / 1000.0] * n_t for u in st]).reshape(len(st), n_t)
    for b, u in enumerate(st):
        if u.storage_id in dims:
            ch_max[b] = np.minimum(ch_max[b], dims[u.storage_id])
            dis_max[b] = np.minimum(dis_max[b], dims[u.storage_id])
    return {
        "sto_under": tree.above[:, sto_node], "sto_node": sto_node, "sto_ch_max_kw": ch_max,
        "sto_dis_max_kw": dis_max,
        "sto_soc0_kwh": np.array([u.soc_wh / 1000.0 for u in st]),
        "sto_min_kwh": np.array([u.min_soc_wh / 1000.0 for u in st]),
        "sto_max_kwh": np.array([u.upper_soc_wh / 1000.0 for u in st]),
        "sto_final_min_kwh": np.array([(u.final_soc_min_wh or 0.0) / 1000.0 for u in st],
                                      dtype=float),
        "sto_eta_ch": np.array([u.charge_efficiency for u in st]),
        "sto_eta_dis": np.array([u.discharge_efficiency for u in st]),
        "sto_degr": np.array([u.degradation_cost_per_kwh for u in st]),
    }  # fmt: skip


def _node_flow_arrays(problem: Problem, steps: _Steps, tree: _Tree) -> Fields:
    """The limit tree, each node's import and export caps per step (base limits ∧ operator
    caps ∧ a setpoint's upper edge; inf = no limit), and the PV plants under it."""
    n_n, n_t = len(tree.index), steps.n
    imp = np.full((n_n, n_t), math.inf)
    exp = np.full((n_n, n_t), math.inf)
    base_imp = np.full(n_n, math.inf)
    for i, node in enumerate(problem.nodes):
        if node.max_import_w is not None:
            imp[i] = base_imp[i] = node.max_import_w / 1000.0
        if node.max_export_w is not None:
            exp[i] = node.max_export_w / 1000.0
    for cap in problem.node_caps:
        i = tree.index[cap.node_id]
        mask = steps.window(cap.start, cap.end)
        if cap.max_import_w is not None:
            imp[i, mask] = np.minimum(imp[i, mask], cap.max_import_w / 1000.0)
        if cap.import_factor is not None:
            imp[i, mask] = np.minimum(imp[i, mask], cap.import_factor * base_imp[i])
        if cap.max_export_w is not None:
            exp[i, mask] = np.minimum(exp[i, mask], cap.max_export_w / 1000.0)
    for sp in problem.setpoints:
        i = tree.index[sp.node_id]
        mask = steps.window(sp.start, sp.end)
        hi_kw = (sp.target_w + sp.tolerance_w) / 1000.0
        imp[i, mask] = np.minimum(imp[i, mask], max(hi_kw, 0.0))
        if hi_kw < 0:  # a setpoint that asks for export caps import below zero
            exp[i, mask] = np.maximum(exp[i, mask], 0.0)
    pv = problem.pv
    pv_node = tree.nodes(p.node_id for p in pv)
    pv_kw = np.array([np.asarray(p.forecast_w) / 1000.0 for p in pv]).reshape(len(pv), n_t)
    parent = [-1 if n.parent_id is None else tree.index[n.parent_id] for n in problem.nodes]
    return {
        "node_ids": tuple(tree.index), "root": tree.index[problem.root_id],
        "node_parent": np.array(parent, dtype=np.int64), "node_imp_kw": imp, "node_exp_kw": exp,
        "pv_under": tree.above[:, pv_node], "pv_node": pv_node, "pv_kw": pv_kw,
    }  # fmt: skip


def _phase_arrays(problem: Problem, steps: _Steps, tree: _Tree) -> Fields:
    """Each node's phase-current limit per step (inf = none) and every device's A per kW on
    each phase: a load on the phases its EVSE connects (3-phase for flexible loads), storage
    and PV 3-phase balanced."""
    phase = np.full((len(tree.index), steps.n), math.inf)
    for i, node in enumerate(problem.nodes):
        if node.max_phase_current_a is not None:
            phase[i] = node.max_phase_current_a
    for cap in problem.node_caps:
        if cap.max_phase_current_a is not None:
            i, mask = tree.index[cap.node_id], steps.window(cap.start, cap.end)
            phase[i, mask] = np.minimum(phase[i, mask], cap.max_phase_current_a)
    evses = {evse.evse_id: evse for evse in problem.evses}
    flex = flexible_rows(problem)
    coef = np.zeros((len(problem.sessions) + len(flex), 3))
    for i, s in enumerate(problem.sessions):
        evse = evses[s.evse_id]
        coef[i, list(_PHASE_INDEX[evse.phase])] = 1000.0 / (evse.voltage_v * evse.phase.n_phases)
    for i, f in enumerate(flex, start=len(problem.sessions)):
        coef[i] = 1000.0 / (f.voltage_v * 3)
    return {
        "node_phase_a": phase, "load_phase_a_per_kw": coef,
        "sto_phase_a_per_kw": np.array([1000.0 / (u.voltage_v * 3) for u in problem.storage]),
        "pv_phase_a_per_kw": np.array([1000.0 / (p.voltage_v * 3) for p in problem.pv]),
    }  # fmt: skip


def _current_limit_arrays(problem: Problem, steps: _Steps, loads: Fields) -> Fields:
    """Each linear current limit's A per kW of every session at its EVSEs, and its cap per
    step (inf outside its window)."""
    limits = problem.current_limits
    lin_coef = np.zeros((len(limits), len(loads["load_ids"])))
    lin_cap = np.full((len(limits), steps.n), math.inf)
    evse_index = {evse.evse_id: i for i, evse in enumerate(problem.evses)}
    loads_at_evse: dict[int, list[int]] = {}
    for i in range(len(problem.sessions)):
        loads_at_evse.setdefault(int(loads["load_evse"][i]), []).append(i)
    for c, lim in enumerate(limits):
        for evse_id, factor in lim.coefficients:
            e = evse_index[evse_id]
            evse = problem.evses[e]
            for i in loads_at_evse.get(e, []):
                lin_coef[c, i] += factor * 1000.0 / (evse.voltage_v * evse.phase.n_phases)
        if lim.start is None or lim.end is None:
            lin_cap[c] = lim.max_current_a
        else:
            lin_cap[c, steps.window(lim.start, lim.end)] = lim.max_current_a
    return {"lin_coef": lin_coef, "lin_cap_a": lin_cap}


def _grid_arrays(problem: Problem, steps: _Steps, tree: _Tree) -> Fields:
    """Setpoint floors per node and step (-inf = none) and the billing peak."""
    setpoint_lo = np.full((len(tree.index), steps.n), -math.inf)
    for sp in problem.setpoints:
        i = tree.index[sp.node_id]
        mask = steps.window(sp.start, sp.end)
        setpoint_lo[i, mask] = np.maximum(
            setpoint_lo[i, mask], (sp.target_w - sp.tolerance_w) / 1000.0
        )
    tariff = problem.tariff
    return {
        "setpoint_lo_kw": setpoint_lo, "demand_charge_per_kw": tariff.demand_charge_per_kw,
        "peak_so_far_kw": tariff.peak_so_far_w / 1000.0,
        "peak_floor_kw": max(tariff.peak_so_far_w, tariff.peak_target_w) / 1000.0,
    }  # fmt: skip


def _unmet_penalty(
    problem: Problem, prices: tuple[FloatArray, FloatArray], loads: Fields, dt_h: FloatArray
) -> tuple[float, FloatArray]:
    """The penalty per unmet kWh before priorities, and the loads' priorities."""
    priority = np.array(
        [s.priority for s in problem.sessions] + [f.priority for f in flexible_rows(problem)],
        dtype=float,
    )
    if problem.unmet_penalty_per_kwh is not None:
        return problem.unmet_penalty_per_kwh, priority
    # Above any money a kWh can save or cost: the dearest price, the demand charge of drawing
    # that kWh in the shortest step (the largest marginal peak cost), and storage wear, per
    # kWh in the least efficient battery, for the least weighted session, with a wide
    # margin: every session's unmet kWh outweighs any of them (decision 0412).
    price_imp, price_exp = prices
    money = float(np.max(np.abs(price_imp), initial=0.0) + np.max(np.abs(price_exp)))
    money += problem.tariff.demand_charge_per_kw / float(dt_h.min())
    money += 2.0 * max((u.degradation_cost_per_kwh for u in problem.storage), default=0.0)
    weakest = float(np.min(priority, initial=1.0))
    least_eff = float(np.min(loads["load_eff"], initial=1.0))
    return 10.0 * (money / least_eff + 1.0) / min(weakest, 1.0), priority


def _objective_arrays(
    problem: Problem, steps: _Steps, loads: Fields, *, laxity_tiebreak: bool
) -> Fields:
    """Prices (CO2 included), the unmet-energy penalty per load and the tie-breakers."""
    tariff = problem.tariff
    n_t = steps.n
    price_imp = np.asarray(tariff.import_price_per_kwh, dtype=float)
    if tariff.co2_g_per_kwh is not None:
        price_imp = price_imp + np.asarray(tariff.co2_g_per_kwh) / 1000.0 * tariff.co2_price_per_kg
    price_exp = (
        np.zeros(n_t)
        if tariff.export_price_per_kwh is None
        else np.asarray(tariff.export_price_per_kwh, dtype=float)
    )
    base_penalty, priority = _unmet_penalty(
        problem, (price_imp, price_exp), loads, steps.dt_s / 3600.0
    )
    mid_h = (steps.start_s + steps.dt_s / 2.0) / 3600.0
    # Earlier is better: the weight grows from 1x to 2x over the horizon, or over each load's
    # own window (sooner-leaving loads first); never tiny (solver scaling) and far below any
    # real price step.
    if laxity_tiebreak:
        present = loads["load_pmax_kw"] > 0
        last = np.where(present.any(axis=1), n_t - 1 - np.argmax(present[:, ::-1], axis=1), 0)
        window_h = np.maximum((steps.start_s[last] + steps.dt_s[last]) / 3600.0, 1e-9)
        share = np.minimum(mid_h[None, :] / window_h[:, None], 1.0)
    else:
        share = np.broadcast_to(mid_h / max(float(mid_h[-1]), 1e-9), (len(priority), n_t))
    return {
        "price_imp": price_imp, "price_exp": price_exp, "load_penalty": base_penalty * priority,
        "early_weight": EARLY_WEIGHT * (1.0 + share), "fairness_weight": 1e-3 * base_penalty,
        "setpoint_penalty": base_penalty,
    }  # fmt: skip


def compile_problem(problem: Problem, *, laxity_tiebreak: bool = False) -> Compiled:
    """The arrays of every family of the LP, in the order of
    :func:`optimizer.model.build_model`. ``laxity_tiebreak``: the earlier-is-better weight
    grows over each load's own window (sooner-leaving loads first) instead of over the
    horizon; fairer, but the LP takes longer."""
    steps = _Steps.of(problem.grid)
    tree = _Tree.of(problem)
    dims = _dimming_caps(problem, steps)
    loads = _load_arrays(problem, steps, tree, dims)
    return Compiled(
        problem=problem,
        dt_h=steps.dt_s / 3600.0,
        start_s=steps.start_s,
        **loads,
        **_taper_arrays(problem, loads, steps.dt_s / 3600.0),
        **_storage_arrays(problem, steps, tree, dims),
        **_node_flow_arrays(problem, steps, tree),
        **_phase_arrays(problem, steps, tree),
        **_current_limit_arrays(problem, steps, loads),
        **rack_arrays(problem, steps.n),
        **_grid_arrays(problem, steps, tree),
        **_objective_arrays(problem, steps, loads, laxity_tiebreak=laxity_tiebreak),
    )
