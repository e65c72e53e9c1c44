"""A :class:`~optimizer.problem.Problem` turned into numpy arrays, the common ground of both
model builders (Pyomo and the direct HiGHS path) and of the fallback.

Internal units: kW, kWh, hours, A. A *load* is anything the plan sizes: an EV session (at its
EVSE) or a flexible load. Everything per step has shape ``(..., T)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from optimizer.inputs import Phase
from optimizer.problem import Problem

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

    @property
    def n_steps(self) -> int:
        return int(self.dt_h.shape[0])

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)


def _taper(
    problem: Problem, pmax: FloatArray, eff: FloatArray, need: FloatArray, dt_h: FloatArray
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """The taper rows' data, see :func:`optimizer.model.add_taper_constraints`.

    A row for step t only where the line could bind: below the load's power cap at the most
    energy the load could have received before t. No taper, nothing left to deliver or a flat
    line: no rows at all."""
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
    return rhs, slope, rows


def _overlap(start_s: FloatArray, end_s: FloatArray, a: float, b: float) -> FloatArray:
    """Share of each step [start, end) covered by [a, b)."""
    lo = np.maximum(start_s, a)
    hi = np.minimum(end_s, b)
    share: FloatArray = np.clip(hi - lo, 0.0, None) / (end_s - start_s)
    return share


def _window_mask(start_s: FloatArray, end_s: FloatArray, a: float, b: float) -> BoolArray:
    """Steps that overlap [a, b) at all (a cap holds for the whole step it touches)."""
    mask: BoolArray = (start_s < b) & (end_s > a)
    return mask


def compile_problem(problem: Problem, *, laxity_tiebreak: bool = False) -> Compiled:
    """``laxity_tiebreak``: the earlier-is-better weight grows over each load's own window
    (sooner-leaving loads first) instead of over the horizon; fairer, but the LP takes longer."""
    grid = problem.grid
    t0 = grid.start
    dt_s = np.asarray(grid.step_durations_s, dtype=float)
    start_s = np.concatenate([[0.0], np.cumsum(dt_s)[:-1]])
    end_s = start_s + dt_s
    n_t = len(dt_s)

    def rel(moment: object) -> float:
        return (moment - t0).total_seconds()  # type: ignore[operator, no-any-return]

    node_ids = tuple(node.node_id for node in problem.nodes)
    node_index = {node_id: i for i, node_id in enumerate(node_ids)}
    n_n = len(node_ids)
    inf = math.inf
    imp = np.full((n_n, n_t), inf)
    exp = np.full((n_n, n_t), inf)
    phase = np.full((n_n, n_t), inf)
    base_imp = np.full(n_n, inf)
    for i, node in enumerate(problem.nodes):
        if node.max_import_w is not None:
            imp[i] = base_imp[i] = node.max_import_w / 1000.0
        if node.max_export_w is not None:
            exp[i] = node.max_export_w / 1000.0
        if node.max_phase_current_a is not None:
            phase[i] = node.max_phase_current_a
    for cap in problem.node_caps:
        i = node_index[cap.node_id]
        mask = _window_mask(start_s, end_s, rel(cap.start), rel(cap.end))
        if cap.max_import_w is not None:
            imp[i, mask] = np.minimum(imp[i, mask], cap.max_import_w / 1000.0)
        if cap.import_factor is not None:
            imp[i, mask] = np.minimum(imp[i, mask], cap.import_factor * base_imp[i])
        if cap.max_export_w is not None:
            exp[i, mask] = np.minimum(exp[i, mask], cap.max_export_w / 1000.0)
        if cap.max_phase_current_a is not None:
            phase[i, mask] = np.minimum(phase[i, mask], cap.max_phase_current_a)
    setpoint_lo = np.full((n_n, n_t), -inf)
    for sp in problem.setpoints:
        i = node_index[sp.node_id]
        mask = _window_mask(start_s, end_s, rel(sp.start), rel(sp.end))
        hi_kw = (sp.target_w + sp.tolerance_w) / 1000.0
        lo_kw = (sp.target_w - sp.tolerance_w) / 1000.0
        imp[i, mask] = np.minimum(imp[i, mask], max(hi_kw, 0.0))
        if hi_kw < 0:  # a setpoint that asks for export caps import below zero
            exp[i, mask] = np.maximum(exp[i, mask], 0.0)
        setpoint_lo[i, mask] = np.maximum(setpoint_lo[i, mask], lo_kw)

    # node ancestry as a boolean "is at or above" matrix
    above = np.zeros((n_n, n_n), dtype=bool)  # above[a, n]: a is n or an ancestor of n
    for n, node in enumerate(problem.nodes):
        for a in problem.ancestors(node.node_id):
            above[node_index[a], n] = True

    dim_caps: dict[str, FloatArray] = {}
    for dim in problem.dimmings:
        mask = _window_mask(start_s, end_s, rel(dim.start), rel(dim.end))
        cap_arr = dim_caps.setdefault(dim.device_id, np.full(n_t, inf))
        cap_arr[mask] = np.minimum(cap_arr[mask], dim.cap_w / 1000.0)

    evse_index = {evse.evse_id: i for i, evse in enumerate(problem.evses)}
    n_l = len(problem.sessions) + len(problem.flexible_loads)
    load_ids: list[str] = []
    is_session = np.zeros(n_l, dtype=bool)
    load_evse = np.full(n_l, -1, dtype=np.int64)
    load_node = np.zeros(n_l, dtype=np.int64)
    coef = np.zeros((n_l, 3))
    pmax = np.zeros((n_l, n_t))
    eff = np.ones(n_l)
    need = np.zeros(n_l)
    priority = np.ones(n_l)
    for i, s in enumerate(problem.sessions):
        evse = problem.evses[evse_index[s.evse_id]]
        load_ids.append(s.session_id)
        is_session[i] = True
        load_evse[i] = evse_index[s.evse_id]
        load_node[i] = node_index[evse.node_id]
        coef[i, list(_PHASE_INDEX[evse.phase])] = 1000.0 / (evse.voltage_v * evse.phase.n_phases)
        cap_kw = evse.max_power_w / 1000.0
        if s.max_power_w is not None:
            cap_kw = min(cap_kw, s.max_power_w / 1000.0)
        row = np.full(n_t, cap_kw)
        if evse.evse_id in dim_caps:
            row = np.minimum(row, dim_caps[evse.evse_id])
        pmax[i] = row * _overlap(start_s, end_s, rel(s.arrival), rel(s.departure))
        eff[i] = evse.efficiency
        need[i] = s.remaining_wh / 1000.0
        priority[i] = s.priority
    offset = len(problem.sessions)
    for j, f in enumerate(problem.flexible_loads):
        i = offset + j
        load_ids.append(f.load_id)
        load_node[i] = node_index[f.node_id]
        coef[i] = 1000.0 / (f.voltage_v * 3)
        begin = -inf if f.available_from is None else rel(f.available_from)
        pmax[i] = f.max_power_w / 1000.0 * _overlap(start_s, end_s, begin, rel(f.ready_by))
        need[i] = f.energy_wh / 1000.0
        priority[i] = f.priority
    load_under = above[:, load_node] if n_l else np.zeros((n_n, 0), dtype=bool)
    dt_h = dt_s / 3600.0
    taper_rhs, taper_slope, taper_rows = _taper(problem, pmax, eff, need, dt_h)

    st = problem.storage
    sto_node = np.array([node_index[u.node_id] for u in st], dtype=np.int64)
    ch_max = np.array([[u.max_charge_w / 1000.0] * n_t for u in st]).reshape(len(st), n_t)
    dis_max = np.array([[u.max_discharge_w / 1000.0] * n_t for u in st]).reshape(len(st), n_t)
    for b, u in enumerate(st):
        if u.storage_id in dim_caps:
            ch_max[b] = np.minimum(ch_max[b], dim_caps[u.storage_id])
            dis_max[b] = np.minimum(dis_max[b], dim_caps[u.storage_id])

    pv_node = np.array([node_index[p.node_id] for p in problem.pv], dtype=np.int64)
    pv_kw = np.array([np.asarray(p.forecast_w) / 1000.0 for p in problem.pv]).reshape(
        len(problem.pv), n_t
    )

    n_c = len(problem.current_limits)
    lin_coef = np.zeros((n_c, n_l))
    lin_cap = np.full((n_c, n_t), inf)
    loads_at_evse: dict[int, list[int]] = {}
    for i in range(len(problem.sessions)):
        loads_at_evse.setdefault(int(load_evse[i]), []).append(i)
    for c, lim in enumerate(problem.current_limits):
        for evse_id, factor in lim.coefficients:
            e = evse_index[evse_id]
            evse = problem.evses[e]
            for i in loads_at_evse.get(e, []):
                lin_coef[c, i] += factor * 1000.0 / (evse.voltage_v * evse.phase.n_phases)
        if lim.start is None or lim.end is None:
            lin_cap[c] = lim.max_current_a
        else:
            lin_cap[c, _window_mask(start_s, end_s, rel(lim.start), rel(lim.end))] = (
                lim.max_current_a
            )

    tariff = problem.tariff
    price_imp = np.asarray(tariff.import_price_per_kwh, dtype=float)
    if tariff.co2_g_per_kwh is not None:
        price_imp = price_imp + np.asarray(tariff.co2_g_per_kwh) / 1000.0 * tariff.co2_price_per_kg
    price_exp = (
        np.zeros(n_t)
        if tariff.export_price_per_kwh is None
        else np.asarray(tariff.export_price_per_kwh, dtype=float)
    )
    if problem.unmet_penalty_per_kwh is not None:
        base_penalty = problem.unmet_penalty_per_kwh
    else:
        # Above any money a kWh can save or cost: the dearest price, the demand charge of
        # drawing that kWh in the shortest step (the largest marginal peak cost), and storage
        # wear, per kWh in the least efficient battery, for the least weighted session, with
        # a wide margin: every session's unmet kWh outweighs any of them (decision 0412).
        money = float(np.max(np.abs(price_imp), initial=0.0) + np.max(np.abs(price_exp)))
        money += tariff.demand_charge_per_kw / float(dt_h.min())
        money += 2.0 * max((u.degradation_cost_per_kwh for u in st), default=0.0)
        weakest = float(np.min(priority, initial=1.0))
        least_eff = float(np.min(eff, initial=1.0))
        base_penalty = 10.0 * (money / least_eff + 1.0) / min(weakest, 1.0)
    mid_h = (start_s + dt_s / 2.0) / 3600.0
    # Earlier is better: the weight grows from 1x to 2x over the horizon, or over each load's
    # own window (sooner-leaving loads first); never tiny (solver scaling) and far below any
    # real price step.
    if laxity_tiebreak:
        present = pmax > 0
        last = np.where(present.any(axis=1), n_t - 1 - np.argmax(present[:, ::-1], axis=1), 0)
        window_h = np.maximum((start_s[last] + dt_s[last]) / 3600.0, 1e-9)
        share = np.minimum(mid_h[None, :] / window_h[:, None], 1.0)
    else:
        share = np.broadcast_to(mid_h / max(float(mid_h[-1]), 1e-9), (n_l, n_t))
    early = EARLY_WEIGHT * (1.0 + share)

    return Compiled(
        problem=problem,
        dt_h=dt_h,
        start_s=start_s,
        node_ids=node_ids,
        root=node_index[problem.root_id],
        node_parent=np.array(
            [-1 if n.parent_id is None else node_index[n.parent_id] for n in problem.nodes],
            dtype=np.int64,
        ),
        node_imp_kw=imp,
        node_exp_kw=exp,
        node_phase_a=phase,
        setpoint_lo_kw=setpoint_lo,
        load_ids=tuple(load_ids),
        load_is_session=is_session,
        load_evse=load_evse,
        load_node=load_node,
        load_under=load_under,
        load_phase_a_per_kw=coef,
        load_pmax_kw=pmax,
        load_eff=eff,
        load_need_kwh=need,
        load_penalty=base_penalty * priority,
        taper_rhs_kw=taper_rhs,
        taper_slope_per_h=taper_slope,
        taper_rows=taper_rows,
        sto_under=above[:, sto_node] if len(st) else np.zeros((n_n, 0), dtype=bool),
        sto_node=sto_node,
        sto_phase_a_per_kw=np.array([1000.0 / (u.voltage_v * 3) for u in st]),
        sto_ch_max_kw=ch_max,
        sto_dis_max_kw=dis_max,
        sto_soc0_kwh=np.array([u.soc_wh / 1000.0 for u in st]),
        sto_min_kwh=np.array([u.min_soc_wh / 1000.0 for u in st]),
        sto_max_kwh=np.array([u.upper_soc_wh / 1000.0 for u in st]),
        sto_final_min_kwh=np.array([(u.final_soc_min_wh or 0.0) / 1000.0 for u in st], dtype=float),
        sto_eta_ch=np.array([u.charge_efficiency for u in st]),
        sto_eta_dis=np.array([u.discharge_efficiency for u in st]),
        sto_degr=np.array([u.degradation_cost_per_kwh for u in st]),
        pv_under=above[:, pv_node] if len(problem.pv) else np.zeros((n_n, 0), dtype=bool),
        pv_node=pv_node,
        pv_phase_a_per_kw=np.array([1000.0 / (p.voltage_v * 3) for p in problem.pv]),
        pv_kw=pv_kw,
        lin_coef=lin_coef,
        lin_cap_a=lin_cap,
        price_imp=price_imp,
        price_exp=price_exp,
        demand_charge_per_kw=tariff.demand_charge_per_kw,
        peak_so_far_kw=tariff.peak_so_far_w / 1000.0,
        peak_floor_kw=max(tariff.peak_so_far_w, tariff.peak_target_w) / 1000.0,
        early_weight=early,
        fairness_weight=1e-3 * base_penalty,
        setpoint_penalty=base_penalty,
    )
