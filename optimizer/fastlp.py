"""The direct path's LP: the planner's LP assembled as sparse numpy arrays, no Pyomo.

:func:`build_lp` calls one ``add_<family>_constraints`` per family, named and ordered like the
adders of :mod:`optimizer.model` (whose docstrings carry the equations): each appends the
columns and rows of the variables and constraints its Pyomo twin declares, so the two read
side by side (decision 0402; a test holds them to the same optimum). Columns therefore come in
blocks (load power, V2G power given back, unmet energy, fairness, storage charge, discharge
and SoC, swap racks' power, PV used, node power flow, phase-current flow, grid import and
export, peak, setpoint slack), rows in family order, and :func:`add_objective` prices the
columns last. Built in milliseconds, which is what the rolling-horizon hot loop needs;
:mod:`optimizer.direct` solves it with ``highspy``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from optimizer.compiled import Compiled
from optimizer.flexible import rack_coef
from optimizer.lp import LinearProgram
from optimizer.lp_builder import LpBuilder

__all__ = [
    "FLAT_PHASES", "PRUNE_FLOWS", "LpBuilder", "add_current_limit_constraints",
    "add_grid_constraints", "add_load_constraints", "add_node_flow_constraints", "add_objective",
    "add_phase_constraints", "add_rack_constraints", "add_storage_constraints",
    "add_taper_constraints", "add_v2g_constraints", "build_lp",
]  # fmt: skip

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Keys = tuple[IntArray, IntArray, IntArray]

INF = math.inf

#: Phase currents as rows summing everything under each phase-limited node instead of
#: per-phase flow columns. Measured about 25 % faster on most 1,000-EV re-plans but 6x slower
#: on one (12 s against 2 s), so off by default: a solve past its time limit falls back.
FLAT_PHASES = False

#: Node flows only where a limit can bind (see :func:`_kept_power_flows`). Measured at 1,000
#: EVs x 96 steps: 44,816 rows down to about 9,700; a cold solve 2.5 -> 1.7 s CPU, a warm
#: re-plan's HiGHS time about 0.2 s against 0.2-1.0 s (decision 0406).
PRUNE_FLOWS = True


def add_load_constraints(lp: LpBuilder, cp: Compiled) -> None:
    """Columns p[l,t] (where the load may draw), q[l,t] (where a V2G session may give), u[l],
    z; rows energy and fairness per load (:func:`optimizer.model.add_load_constraints`)."""
    n_l = len(cp.load_ids)
    dt = cp.dt_h
    loads = np.arange(n_l)
    pl, pt = (a.astype(np.int64) for a in np.nonzero(cp.load_pmax_kw > 0))
    p = lp.new_cols("p", pl, pt, lo=0.0, hi=cp.load_pmax_kw[pl, pt])
    ql, qt = (a.astype(np.int64) for a in np.nonzero(cp.v2g_max_kw > 0))
    q = lp.new_cols("q", ql, qt, lo=0.0, hi=cp.v2g_max_kw[ql, qt])
    u = lp.new_cols("u", loads, -1, lo=0.0, hi=cp.load_need_kwh)
    z = lp.new_cols("z", 0, -1, lo=0.0, hi=np.ones(int(n_l > 0)))
    r0 = lp.new_rows(cp.load_need_kwh, cp.load_need_kwh, "energy", loads, -1)
    lp.add(r0 + pl, p, cp.load_eff[pl] * dt[pt])
    lp.add(r0 + ql, q, -dt[qt] / cp.load_eff[ql])
    lp.add(r0 + loads, u, 1.0)
    if n_l:  # need * z - u >= 0
        r0 = lp.new_rows(np.zeros(n_l), np.full(n_l, INF), "fair", loads, -1)
        lp.add(r0 + loads, np.full(n_l, z[0]), cp.load_need_kwh)
        lp.add(r0 + loads, u, -1.0)


def add_taper_constraints(lp: LpBuilder, cp: Compiled) -> None:
    """Rows p[l,t] + b_l Σ_{t'<t} η_l Δt_t' p[l,t'] <= r_l where the line may bind
    (:func:`optimizer.model.add_taper_constraints`)."""
    tl, tt = np.nonzero(cp.taper_rows)
    if not len(tl):
        return
    _, pl, pt = lp.block("p")
    p_at = lp.index_grid("p", cp.load_pmax_kw.shape)
    r0 = lp.new_rows(np.full(len(tl), -INF), cp.taper_rhs_kw[tl], "taper", tl, tt)
    lp.add(r0 + np.arange(len(tl)), p_at[tl, tt], 1.0)
    for ld in np.unique(tl).tolist():
        mine = np.nonzero(tl == ld)[0]
        steps = pt[pl == ld]
        earlier_r, earlier_c = np.nonzero(steps[None, :] < tt[mine][:, None])
        weight = cp.taper_slope_per_h[ld] * cp.load_eff[ld] * cp.dt_h[steps[earlier_c]]
        lp.add(r0 + mine[earlier_r], p_at[ld, steps[earlier_c]], weight)


def add_v2g_constraints(lp: LpBuilder, cp: Compiled) -> None:
    """Rows Σ_{t'<=t} Δt (q[l,t'] / η_l - η_l p[l,t']) <= G_l for every column q[l,t]
    (:func:`optimizer.model.add_v2g_constraints`)."""
    q_cols, ql, qt = lp.block("q")
    p_cols, pl, pt = lp.block("p")
    r0 = lp.new_rows(np.full(len(ql), -INF), cp.v2g_give_kwh[ql], "give", ql, qt)
    rq, cq = np.nonzero((ql[:, None] == ql[None, :]) & (qt[None, :] <= qt[:, None]))
    lp.add(r0 + rq, q_cols[cq], cp.dt_h[qt[cq]] / cp.load_eff[ql[cq]])
    rp, cj = np.nonzero((ql[:, None] == pl[None, :]) & (pt[None, :] <= qt[:, None]))
    lp.add(r0 + rp, p_cols[cj], -cp.load_eff[pl[cj]] * cp.dt_h[pt[cj]])


def add_storage_constraints(lp: LpBuilder, cp: Compiled) -> None:
    """Columns c[b,t], d[b,t], s[b,t]; rows s_t - s_{t-1} - η_ch Δt c + Δt / η_dis d = S0 (t=0)
    or 0 (:func:`optimizer.model.add_storage_constraints`)."""
    n_b, n_t = cp.sto_ch_max_kw.shape
    dt = cp.dt_h
    bt_b, bt_t = np.divmod(np.arange(n_b * n_t), n_t)
    soc_lo = np.repeat(cp.sto_min_kwh[:, None], n_t, axis=1)
    soc_lo[:, -1] = np.maximum(soc_lo[:, -1], cp.sto_final_min_kwh)
    lp.new_cols("ch", bt_b, bt_t, lo=0.0, hi=cp.sto_ch_max_kw.ravel())
    lp.new_cols("dis", bt_b, bt_t, lo=0.0, hi=cp.sto_dis_max_kw.ravel())
    lp.new_cols("soc", bt_b, bt_t, lo=soc_lo.ravel(), hi=np.repeat(cp.sto_max_kwh, n_t))
    if not n_b:
        return
    rhs = np.zeros((n_b, n_t))
    rhs[:, 0] = cp.sto_soc0_kwh
    r0 = lp.new_rows(rhs.ravel(), rhs.ravel(), "soc_row", bt_b, bt_t)
    rows = r0 + bt_b * n_t + bt_t
    lp.add(rows, lp.at("soc", bt_b, bt_t), 1.0)
    later = bt_t > 0
    lp.add(rows[later], lp.at("soc", bt_b[later], bt_t[later] - 1), -1.0)
    lp.add(rows, lp.at("ch", bt_b, bt_t), -(cp.sto_eta_ch[bt_b] * dt[bt_t]))
    lp.add(rows, lp.at("dis", bt_b, bt_t), dt[bt_t] / cp.sto_eta_dis[bt_b])


def _kept_power_flows(lp: LpBuilder, cp: Compiled) -> BoolArray:
    """Which node power flows (N, T) get a column and a row: those whose limit the devices
    under the node could reach in that step (everything at its maximum), the grid
    connection's and setpoint nodes'. The others cannot bind; leaving them out keeps the LP
    as small as HiGHS's presolve would make it, which matters for warm-started re-plans
    (they skip presolve)."""
    if not PRUNE_FLOWS:
        return np.ones((cp.n_nodes, cp.n_steps), dtype=bool)
    margin = 1e-9
    under, sto, pvu = lp.incidence(cp)
    max_imp = _reach(cp, under, cp.load_pmax_kw, np.ones(len(cp.load_ids)))
    max_imp += sto @ cp.sto_ch_max_kw
    own = cp.rack_load < 0  # a swap rack's packs never give back
    max_exp = sto @ cp.sto_dis_max_kw + pvu @ cp.pv_kw + under[:, own] @ cp.v2g_max_kw[own]
    kept = (max_imp > cp.node_imp_kw - margin) | (max_exp > cp.node_exp_kw - margin)
    kept[cp.root] = True
    kept[np.isfinite(cp.setpoint_lo_kw)] = True
    # The last step keeps every flow: a re-plan's warm start wraps the previous first step
    # (where limits bind) onto it, and that needs the same structure (see optimizer.basis).
    kept[:, -1] = True
    return kept


def _kept_phase_flows(lp: LpBuilder, cp: Compiled, *, phases: bool) -> BoolArray:
    """Which phase-current flows (3, N, T) get a column and a row, as for the power flows."""
    shape = (3, cp.n_nodes, cp.n_steps)
    if not PRUNE_FLOWS or not phases:
        return np.full(shape, phases and not PRUNE_FLOWS, dtype=bool)
    kept = np.zeros(shape, dtype=bool)
    under, sto, pvu = lp.incidence(cp)
    swing = np.maximum(cp.sto_ch_max_kw, cp.sto_dis_max_kw)
    load_swing = np.maximum(cp.load_pmax_kw, cp.v2g_max_kw)
    for ph in range(3):
        amps = (_reach(cp, under, load_swing, np.abs(cp.load_phase_a_per_kw[:, ph]))
                + sto @ (np.abs(cp.sto_phase_a_per_kw)[:, None] * swing)
                + pvu @ (np.abs(cp.pv_phase_a_per_kw)[:, None] * cp.pv_kw))  # fmt: skip
        kept[ph] = amps > cp.node_phase_a - 1e-9
    kept[:, :, -1] = True
    return kept


def _reach(cp: Compiled, under: FloatArray, load_kw: FloatArray, coef: FloatArray) -> FloatArray:
    """(N, T): the most the loads under each node can draw, times ``coef`` per load (1 for
    power, A/kW for a phase); a swap rack counts as its power column w at its limit, not as
    its packs (decision 0423)."""
    own = cp.rack_load < 0
    out: FloatArray = under[:, own] @ (coef[own, None] * load_kw[own])
    first, w_coef = rack_coef(cp.rack_load, coef, cp.rack_cap_kw.shape[0])
    has = first >= 0
    if has.any():
        out += under[:, first[has]] @ (w_coef[has, None] * cp.rack_cap_kw[has])
    return out


def _kept_ancestor(parent: IntArray, kept: BoolArray) -> IntArray:
    """(N, T): the node itself if kept in that step, else its nearest kept ancestor, -1 if
    none."""
    n_n = len(parent)
    depth = np.zeros(n_n, dtype=np.int64)
    for n in range(n_n):
        a = parent[n]
        while a >= 0:
            depth[n] += 1
            a = parent[a]
    anc = np.full(kept.shape, -1, dtype=np.int64)
    for n in np.argsort(depth, kind="stable").tolist():
        above = anc[parent[n]] if parent[n] >= 0 else anc[n]
        anc[n] = np.where(kept[n], n, above)
    return anc


def _flow_rows(lp: LpBuilder, cp: Compiled, kind: str, col_kind: str, kept: BoolArray,
               coef: tuple[FloatArray, FloatArray, FloatArray]) -> None:  # fmt: skip
    """x[n,t] - Σ_children x[c,t] - Σ_own devices coef·power = 0 for every kept (node, step)
    of the flow columns ``col_kind``; a node left out hands its children and devices to its
    nearest kept ancestor. ``coef``: per load, storage unit and PV plant."""
    load_coef, sto_coef, pv_coef = coef
    parent = cp.node_parent
    col_idx = lp.index_grid(col_kind, kept.shape)
    kn, kt = np.nonzero(kept)
    r0 = lp.new_rows(np.zeros(len(kn)), np.zeros(len(kn)), kind, kn, kt)
    row_of = np.full(kept.shape, -1, dtype=np.int64)
    row_of[kn, kt] = r0 + np.arange(len(kn))
    anc = _kept_ancestor(parent, kept)
    lp.add(row_of[kn, kt], col_idx[kn, kt], 1.0)
    has_parent = parent[kn] >= 0
    cn, ct = kn[has_parent], kt[has_parent]
    to = anc[parent[cn], ct]
    ok = to >= 0
    lp.add(row_of[to[ok], ct[ok]], col_idx[cn[ok], ct[ok]], -1.0)
    p_cols, pl, pt = lp.block("p")
    to = anc[cp.load_node[pl], pt]
    ok = (load_coef[pl] != 0) & (to >= 0) & (cp.rack_load[pl] < 0)  # packs: their rack's w
    lp.add(row_of[to[ok], pt[ok]], p_cols[ok], -load_coef[pl][ok])
    w_cols, wr, wt = lp.block("w")
    first, w_coef = rack_coef(cp.rack_load, load_coef, cp.rack_cap_kw.shape[0])
    to = anc[cp.load_node[first[wr]], wt] if len(cp.load_node) else wt
    ok = (first[wr] >= 0) & (w_coef[wr] != 0) & (to >= 0)
    lp.add(row_of[to[ok], wt[ok]], w_cols[ok], -w_coef[wr][ok])
    q_cols, ql, qt = lp.block("q")
    to = anc[cp.load_node[ql], qt]
    ok = (load_coef[ql] != 0) & (to >= 0)
    lp.add(row_of[to[ok], qt[ok]], q_cols[ok], load_coef[ql][ok])
    _, bt_b, bt_t = lp.block("ch")
    if len(bt_b):
        to = anc[cp.sto_node[bt_b], bt_t]
        ok = to >= 0
        rows = row_of[to[ok], bt_t[ok]]
        lp.add(rows, lp.at("ch", bt_b[ok], bt_t[ok]), -sto_coef[bt_b[ok]])
        lp.add(rows, lp.at("dis", bt_b[ok], bt_t[ok]), sto_coef[bt_b[ok]])
    _, kt_k, kt_t = lp.block("pv")
    if len(kt_k):
        to = anc[cp.pv_node[kt_k], kt_t]
        ok = to >= 0
        lp.add(row_of[to[ok], kt_t[ok]], lp.at("pv", kt_k[ok], kt_t[ok]), pv_coef[kt_k[ok]])


def add_node_flow_constraints(lp: LpBuilder, cp: Compiled) -> None:
    """Columns v[k,t] (PV used) and f[n,t] (bounded by the node's caps), rows of the power
    flow through every node (:func:`optimizer.model.add_node_flow_constraints`).

    Each node has a flow column per step defined as the sum of its children's flows and its
    own devices, so every device enters one row however deep the limit tree is; only where
    its limit can bind (:func:`_kept_power_flows`)."""
    n_k, n_t = cp.pv_kw.shape
    kt_k, kt_t = np.divmod(np.arange(n_k * n_t), n_t)
    lp.new_cols("pv", kt_k, kt_t, lo=0.0, hi=cp.pv_kw.ravel())
    kept = _kept_power_flows(lp, cp)
    f_n, f_t = np.nonzero(kept)
    lp.new_cols("f", f_n, f_t, lo=-cp.node_exp_kw[kept], hi=cp.node_imp_kw[kept])
    ones = (np.ones(len(cp.load_ids)), np.ones(cp.sto_soc0_kwh.shape[0]), np.ones(n_k))
    _flow_rows(lp, cp, "flow", "f", kept, ones)


def _pairs_to_entries(
    pair_node: IntArray, pair_load: IntArray, load_start: IntArray, load_count: IntArray
) -> tuple[IntArray, IntArray]:
    """Expand (node, load) pairs to (node, p-column index) for every step column of the load."""
    counts = load_count[pair_load]
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    node = np.repeat(pair_node, counts)
    first = np.repeat(load_start[pair_load], counts)
    run_start = np.repeat(np.cumsum(counts) - counts, counts)
    return node, first + (np.arange(total) - run_start)


def _flat_phase_rows(lp: LpBuilder, cp: Compiled) -> None:
    """``FLAT_PHASES``: -I <= Σ over everything under n of A/kW · power <= I, one row per
    phase-limited node, phase and step."""
    n_n, n_t = cp.node_phase_a.shape
    t_idx = np.arange(n_t)
    p_cols, pl, pt = lp.block("p")
    nodes = np.nonzero(np.isfinite(cp.node_phase_a).any(axis=1))[0]
    load_count = np.bincount(pl, minlength=len(cp.load_ids)).astype(np.int64)
    load_start = np.cumsum(load_count) - load_count
    for phase in range(3):
        cap = cp.node_phase_a[nodes].ravel()
        ent, step = np.repeat(nodes, n_t), np.tile(t_idx, len(nodes))
        base = lp.new_rows(-cap, cap, f"phase{phase}", ent, step)
        row_of = np.full(n_n, -1, dtype=np.int64)
        row_of[nodes] = base + np.arange(len(nodes)) * n_t
        coef_l = cp.load_phase_a_per_kw[:, phase]
        pn, plo = np.nonzero(cp.load_under[nodes] & (coef_l != 0)[None, :])
        ent_node, ent_col = _pairs_to_entries(nodes[pn], plo, load_start, load_count)
        lp.add(row_of[ent_node] + pt[ent_col], p_cols[ent_col], coef_l[pl[ent_col]])
        q_cols, ql, qt = lp.block("q")
        qn, qj = np.nonzero(cp.load_under[nodes][:, ql] & (coef_l[ql] != 0)[None, :])
        lp.add(row_of[nodes[qn]] + qt[qj], q_cols[qj], -coef_l[ql[qj]])
        for b in range(cp.sto_soc0_kwh.shape[0]):
            for n in nodes[cp.sto_under[nodes, b]]:
                lp.add(row_of[n] + t_idx, lp.at("ch", b, t_idx), cp.sto_phase_a_per_kw[b])
                lp.add(row_of[n] + t_idx, lp.at("dis", b, t_idx), -cp.sto_phase_a_per_kw[b])
        for k in range(cp.pv_kw.shape[0]):
            for n in nodes[cp.pv_under[nodes, k]]:
                lp.add(row_of[n] + t_idx, lp.at("pv", k, t_idx), -cp.pv_phase_a_per_kw[k])


def add_phase_constraints(lp: LpBuilder, cp: Compiled) -> None:
    """Columns g[n,φ,t] (bounded by the node's phase limit) and rows of the current through
    every node and phase, only when some node has a phase limit
    (:func:`optimizer.model.add_phase_constraints`); with ``FLAT_PHASES`` no columns, rows
    over everything under each limited node instead."""
    has_phase = bool(np.isfinite(cp.node_phase_a).any())
    kept = _kept_phase_flows(lp, cp, phases=has_phase and not FLAT_PHASES)
    for ph in range(3):
        g_n, g_t = np.nonzero(kept[ph])
        cap = cp.node_phase_a[kept[ph]]
        lp.new_cols(f"g{ph}", g_n, g_t, lo=-cap, hi=cap, block="g")
    if has_phase and FLAT_PHASES:
        _flat_phase_rows(lp, cp)
    elif has_phase:
        for ph in range(3):
            coef = (cp.load_phase_a_per_kw[:, ph], cp.sto_phase_a_per_kw, cp.pv_phase_a_per_kw)
            _flow_rows(lp, cp, f"gflow{ph}", f"g{ph}", kept[ph], coef)


def add_current_limit_constraints(lp: LpBuilder, cp: Compiled) -> None:
    """Rows Σ_l a[c,l] p[l,t] <= Ī[c,t] (:func:`optimizer.model.add_current_limit_constraints`)
    only where the limit can bind, as node flows (decision 0406): a row whose loads all at
    their caps (Σ_l max(a[c,l], 0) p̄[l,t]) stay within Ī[c,t] is implied by the column
    bounds and left out (decision 0428), as is a limit that is off; the last step is kept
    for any limit a load of the LP counts on. Without ``PRUNE_FLOWS`` every row is in (a
    free row where a limit is off)."""
    n_c, n_t = cp.lin_cap_a.shape
    if not n_c or not n_t:
        return
    most_a = np.clip(cp.lin_coef, 0.0, None) @ cp.load_pmax_kw
    can_bind = (most_a > cp.lin_cap_a) | (not PRUNE_FLOWS)
    # the last step too, if a load counts: the warm start wraps the first step onto it
    can_bind[:, -1] |= np.isfinite(cp.lin_cap_a[:, -1]) & (most_a > 0).any(axis=1)
    lc_c, lc_t = (a.astype(np.int64) for a in np.nonzero(can_bind))
    r0 = lp.new_rows(np.full(len(lc_c), -INF), cp.lin_cap_a[lc_c, lc_t], "lin", lc_c, lc_t)
    row = np.full((n_c, n_t), -1, dtype=np.int64)
    row[lc_c, lc_t] = r0 + np.arange(len(lc_c))
    live = np.unique(lc_c)
    p_cols, pl, pt = lp.block("p")
    cc, jj = np.nonzero(cp.lin_coef[np.ix_(live, pl)])
    rows = row[live[cc], pt[jj]]
    kept = rows >= 0
    lp.add(rows[kept], p_cols[jj[kept]], cp.lin_coef[live[cc[kept]], pl[jj[kept]]])


def add_rack_constraints(lp: LpBuilder, cp: Compiled) -> None:
    """Columns w[r,t] (0..R̄[r,t]), rows Σ_{l in rack r} p[l,t] - w[r,t] = 0
    (:func:`optimizer.model.add_rack_constraints`; here a row for every rack and step, w
    alone where no pack may charge). w enters the flows in place of the packs."""
    n_r, n_t = cp.rack_cap_kw.shape
    rk_r, rk_t = np.divmod(np.arange(n_r * n_t), n_t)
    w = lp.new_cols("w", rk_r, rk_t, lo=0.0, hi=cp.rack_cap_kw.ravel())
    if not n_r:
        return
    p_cols, pl, pt = lp.block("p")
    r0 = lp.new_rows(np.zeros(n_r * n_t), np.zeros(n_r * n_t), "rack", rk_r, rk_t)
    jj = np.nonzero(cp.rack_load[pl] >= 0)[0]
    lp.add(r0 + cp.rack_load[pl[jj]] * n_t + pt[jj], p_cols[jj], 1.0)
    lp.add(r0 + np.arange(n_r * n_t), w, -1.0)


def add_grid_constraints(lp: LpBuilder, cp: Compiled) -> None:
    """Columns i[t], x[t], peak (with a demand charge), s_sp[n,t]; rows of the import/export
    split, the setpoint floors and the peak (:func:`optimizer.model.add_grid_constraints`)."""
    n_t = cp.n_steps
    t_idx = np.arange(n_t)
    sp_n, sp_t = np.nonzero(np.isfinite(cp.setpoint_lo_kw))
    has_peak = int(cp.demand_charge_per_kw > 0)
    imp = lp.new_cols("imp", 0, t_idx, lo=0.0, hi=np.full(n_t, INF))
    exp = lp.new_cols("exp", 0, t_idx, lo=0.0, hi=np.full(n_t, INF))
    peak = lp.new_cols("peak", 0, -1, lo=cp.peak_floor_kw, hi=np.full(has_peak, INF))
    sl = lp.new_cols("sl", sp_n, sp_t, lo=0.0, hi=np.full(len(sp_n), INF))
    f_at = lp.index_grid("f", cp.node_imp_kw.shape)
    r0 = lp.new_rows(np.zeros(n_t), np.zeros(n_t), "balance", 0, t_idx)  # i - x - f[root] = 0
    lp.add(r0 + t_idx, imp, 1.0)
    lp.add(r0 + t_idx, exp, -1.0)
    lp.add(r0 + t_idx, f_at[cp.root, t_idx], -1.0)
    if len(sp_n):  # f[n,t] + s_sp >= lo
        r0 = lp.new_rows(cp.setpoint_lo_kw[sp_n, sp_t], np.full(len(sp_n), INF), "setpoint",
                         sp_n, sp_t)  # fmt: skip
        lp.add(r0 + np.arange(len(sp_n)), sl, 1.0)
        lp.add(r0 + np.arange(len(sp_n)), f_at[sp_n, sp_t], 1.0)
    if has_peak:  # peak - i[t] >= 0
        r0 = lp.new_rows(np.zeros(n_t), np.full(n_t, INF), "peak_row", 0, t_idx)
        lp.add(r0 + t_idx, np.full(n_t, peak[0]), 1.0)
        lp.add(r0 + t_idx, imp, -1.0)


def add_objective(lp: LpBuilder, cp: Compiled) -> None:
    """The cost of every column (:func:`optimizer.model.add_objective`)."""
    dt = cp.dt_h
    lp.price("p", lambda ld, t: cp.early_weight[ld, t] * dt[t])
    lp.price("q", lambda ld, t: cp.v2g_cost[ld] * dt[t])
    lp.price("u", lambda ld, _t: cp.load_penalty[ld])
    lp.price("z", lambda _e, _t: cp.fairness_weight)
    lp.price("ch", lambda b, t: cp.sto_degr[b] * dt[t])
    lp.price("dis", lambda b, t: cp.sto_degr[b] * dt[t])
    lp.price("imp", lambda _e, t: cp.price_imp[t] * dt[t])
    lp.price("exp", lambda _e, t: -cp.price_exp[t] * dt[t])
    lp.price("peak", lambda _e, _t: cp.demand_charge_per_kw)
    lp.price("sl", lambda _n, t: cp.setpoint_penalty * dt[t])


def build_lp(cp: Compiled) -> LinearProgram:
    """The whole LP, families in the order of :func:`optimizer.model.build_model`."""
    lp = LpBuilder(cp)
    add_load_constraints(lp, cp)
    add_taper_constraints(lp, cp)
    add_v2g_constraints(lp, cp)
    add_storage_constraints(lp, cp)
    add_rack_constraints(lp, cp)
    add_node_flow_constraints(lp, cp)
    add_phase_constraints(lp, cp)
    add_current_limit_constraints(lp, cp)
    add_grid_constraints(lp, cp)
    add_objective(lp, cp)
    return lp.finish()
