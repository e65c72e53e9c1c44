"""The direct HiGHS path: the planner's LP assembled as sparse numpy arrays, no Pyomo.

Same variables, constraints and objective as :mod:`optimizer.model` (a test holds both to the
same optimum); built in milliseconds, which is what the rolling-horizon hot loop needs.
Columns are laid out in blocks (load power, unmet energy, fairness, storage charge, discharge
and SoC, PV used, grid import and export, peak, setpoint slack); rows as listed in
:func:`build_lp`.
"""

from __future__ import annotations

import logging
import math
import operator
import time
from dataclasses import dataclass

import highspy
import numpy as np
import numpy.typing as npt

from optimizer.basis import KIND_INDEX, CarriedBasis, LpKeys, SolvedBasis, carry_basis
from optimizer.compiled import Compiled
from optimizer.exceptions import InfeasibleSchedule, SolveFailed, SolverTimeout
from optimizer.solution import Solution

__all__ = ["LinearProgram", "build_lp", "entity_ids", "solve_direct"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

INF = math.inf

_ERROR = highspy.HighsStatus.kError
_VALUE = operator.attrgetter("value")
_STATUS = (
    highspy.HighsBasisStatus.kLower,
    highspy.HighsBasisStatus.kBasic,
    highspy.HighsBasisStatus.kUpper,
    highspy.HighsBasisStatus.kZero,
    highspy.HighsBasisStatus.kNonbasic,
)


@dataclass(frozen=True, slots=True)
class LinearProgram:
    """``min c·x`` s.t. ``row_lo <= A x <= row_hi``, ``col_lo <= x <= col_hi``; A as CSC."""

    cost: FloatArray
    col_lo: FloatArray
    col_hi: FloatArray
    row_lo: FloatArray
    row_hi: FloatArray
    a_start: npt.NDArray[np.int32]
    a_index: npt.NDArray[np.int32]
    a_value: FloatArray
    p_load: IntArray  # column block layout
    p_step: IntArray
    offsets: dict[str, int]
    col_keys: LpKeys  # (kind, entity, step) of every column and row, for the warm start
    row_keys: LpKeys

    @property
    def n_cols(self) -> int:
        return int(self.cost.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.row_lo.shape[0])


class _Builder:
    def __init__(self) -> None:
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.vals: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.keys: list[tuple[IntArray, IntArray, IntArray]] = []
        self.n_rows = 0

    def new_rows(
        self, lo: FloatArray, hi: FloatArray, kind: str, ent: IntArray | int, step: IntArray | int
    ) -> int:
        """Rows with bounds ``lo``..``hi``; ``kind``, ``ent``, ``step``: their keys."""
        base = self.n_rows
        self.lo.append(np.asarray(lo, dtype=float))
        self.hi.append(np.asarray(hi, dtype=float))
        self.n_rows += len(lo)
        self.keys.append(_keys(kind, ent, step, len(lo)))
        return base

    def add(self, rows: IntArray, cols: IntArray, vals: FloatArray | float) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self.rows.append(rows)
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=float), rows.shape))


def _keys(
    kind: str, ent: IntArray | int, step: IntArray | int, size: int
) -> tuple[IntArray, IntArray, IntArray]:
    return (
        np.full(size, KIND_INDEX[kind], dtype=np.int64),
        np.broadcast_to(np.asarray(ent, dtype=np.int64), (size,)),
        np.broadcast_to(np.asarray(step, dtype=np.int64), (size,)),
    )


def _stack_keys(parts: list[tuple[IntArray, IntArray, IntArray]]) -> LpKeys:
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return LpKeys(empty, empty, empty)
    return LpKeys(*(np.concatenate([part[i] for part in parts]) for i in range(3)))


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


#: Phase currents as rows summing everything under each phase-limited node instead of
#: per-phase flow columns. Measured about 25 % faster on most 1,000-EV re-plans but 6x slower
#: on one (12 s against 2 s), so off by default: a solve past its time limit falls back.
FLAT_PHASES = False


def _kept_flows(
    cp: Compiled, sp_n: IntArray, sp_t: IntArray, *, phases: bool
) -> tuple[BoolArray, BoolArray]:
    """Which node power flows (N, T) and phase-current flows (3, N, T) get a column and a
    row: those whose limit the devices under the node could reach in that step (everything
    at its maximum), the grid connection's power and setpoint nodes. The others cannot
    bind; leaving them out keeps the LP as small as HiGHS's presolve would make it, which
    matters for warm-started re-plans (they skip presolve)."""
    if not PRUNE_FLOWS:
        shape = (cp.n_nodes, cp.n_steps)
        return np.ones(shape, dtype=bool), np.full((3, *shape), phases, dtype=bool)
    under = cp.load_under.astype(float)
    sto = cp.sto_under.astype(float)
    pvu = cp.pv_under.astype(float)
    margin = 1e-9
    max_imp = under @ cp.load_pmax_kw + sto @ cp.sto_ch_max_kw
    max_exp = sto @ cp.sto_dis_max_kw + pvu @ cp.pv_kw
    kept_f = (max_imp > cp.node_imp_kw - margin) | (max_exp > cp.node_exp_kw - margin)
    kept_f[cp.root] = True
    kept_f[sp_n, sp_t] = True
    kept_g = np.zeros((3, *kept_f.shape), dtype=bool)
    if phases:
        swing = np.maximum(cp.sto_ch_max_kw, cp.sto_dis_max_kw)
        for ph in range(3):
            amps = (under @ (np.abs(cp.load_phase_a_per_kw[:, ph])[:, None] * cp.load_pmax_kw)
                    + sto @ (np.abs(cp.sto_phase_a_per_kw)[:, None] * swing)
                    + pvu @ (np.abs(cp.pv_phase_a_per_kw)[:, None] * cp.pv_kw))  # fmt: skip
            kept_g[ph] = amps > cp.node_phase_a - margin
        kept_g[:, :, -1] = True
    # The last step keeps every flow: a re-plan's warm start wraps the previous first step
    # (where limits bind) onto it, and that needs the same structure (see optimizer.basis).
    kept_f[:, -1] = True
    return kept_f, kept_g


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


#: Node flows only where a limit can bind (see :func:`_kept_flows`). Measured at 1,000 EVs x
#: 96 steps: 44,816 rows down to about 9,700; a cold solve 2.5 -> 1.7 s CPU, a warm re-plan's
#: HiGHS time about 0.2 s against 0.2-1.0 s (decision 0406).
PRUNE_FLOWS = True


def build_lp(cp: Compiled, *, dense: bool = False) -> LinearProgram:
    """Rows, in order: energy per load; fairness; taper; storage SoC; node power flow; node phase
    current flow; linear current limits; grid balance; setpoint floors; peak. Equations in
    :mod:`optimizer.model`.

    Each node has a flow column per step (bounded by its import/export caps) defined as the sum
    of its children's flows and its own devices, so every device enters one row per quantity,
    which keeps the matrix sparse however deep the limit tree is (per phase too, unless
    ``FLAT_PHASES``). ``dense``: a power column
    for every load and step (zero upper bound where absent), so that problems with the same
    loads share one matrix and a re-plan only changes bounds and costs."""
    n_t = cp.n_steps
    dt = cp.dt_h
    n_n = cp.n_nodes
    n_l = len(cp.load_ids)
    n_b = cp.sto_soc0_kwh.shape[0]
    n_k = cp.pv_kw.shape[0]
    pl, pt = np.nonzero(cp.load_pmax_kw > 0 if not dense else np.ones_like(cp.load_pmax_kw))
    pl = pl.astype(np.int64)
    pt = pt.astype(np.int64)
    n_p = len(pl)
    has_fair = n_l > 0
    has_peak = cp.demand_charge_per_kw > 0
    has_phase = bool(np.isfinite(cp.node_phase_a).any())
    sp_n, sp_t = np.nonzero(np.isfinite(cp.setpoint_lo_kw))

    off: dict[str, int] = {}
    cursor = 0
    kept_f, kept_g = _kept_flows(cp, sp_n, sp_t, phases=has_phase and not FLAT_PHASES)
    n_f = int(kept_f.sum())
    n_g = int(kept_g.sum())
    for name, size in (
        ("p", n_p), ("u", n_l), ("z", int(has_fair)), ("ch", n_b * n_t), ("dis", n_b * n_t),
        ("soc", n_b * n_t), ("pv", n_k * n_t), ("f", n_f), ("g", n_g),
        ("imp", n_t), ("exp", n_t), ("peak", int(has_peak)), ("sl", len(sp_n)),
    ):  # fmt: skip
        off[name] = cursor
        cursor += size
    n_col = cursor
    bt_b, bt_t = np.divmod(np.arange(n_b * n_t), n_t)
    kt_k, kt_t = np.divmod(np.arange(n_k * n_t), n_t)
    t_idx = np.arange(n_t)
    col_parts = [_keys("p", pl, pt, n_p), _keys("u", np.arange(n_l), -1, n_l),
                 _keys("z", 0, -1, int(has_fair))]  # fmt: skip
    col_parts += [_keys(name, bt_b, bt_t, n_b * n_t) for name in ("ch", "dis", "soc")]
    f_n, f_t = np.nonzero(kept_f)
    col_parts += [_keys("pv", kt_k, kt_t, n_k * n_t), _keys("f", f_n, f_t, n_f)]
    f_idx = np.full((n_n, n_t), -1, dtype=np.int64)
    f_idx[f_n, f_t] = off["f"] + np.arange(n_f)
    g_idx = np.full((3, n_n, n_t), -1, dtype=np.int64)
    g_idx[kept_g] = off["g"] + np.arange(n_g)
    for ph in range(3):
        g_n, g_t = np.nonzero(kept_g[ph])
        col_parts.append(_keys(f"g{ph}", g_n, g_t, len(g_n)))
    col_parts += [_keys("imp", 0, t_idx, n_t), _keys("exp", 0, t_idx, n_t)]
    col_parts += [_keys("peak", 0, -1, int(has_peak)), _keys("sl", sp_n, sp_t, len(sp_n))]
    col_keys = _stack_keys(col_parts)
    cost = np.zeros(n_col)
    lo = np.zeros(n_col)
    hi = np.full(n_col, INF)

    p_cols = off["p"] + np.arange(n_p)
    hi[p_cols] = cp.load_pmax_kw[pl, pt]
    cost[p_cols] = cp.early_weight[pl, pt] * dt[pt]
    u_cols = off["u"] + np.arange(n_l)
    hi[u_cols] = cp.load_need_kwh
    cost[u_cols] = cp.load_penalty
    if has_fair:
        hi[off["z"]] = 1.0
        cost[off["z"]] = cp.fairness_weight

    def block(name: str, b: int | IntArray, t: int | IntArray) -> IntArray:
        return off[name] + np.asarray(b) * n_t + np.asarray(t)  # type: ignore[no-any-return]

    if n_b:
        hi[block("ch", bt_b, bt_t)] = cp.sto_ch_max_kw.ravel()
        hi[block("dis", bt_b, bt_t)] = cp.sto_dis_max_kw.ravel()
        wear = (cp.sto_degr[:, None] * dt[None, :]).ravel()
        cost[block("ch", bt_b, bt_t)] = wear
        cost[block("dis", bt_b, bt_t)] = wear
        soc_lo = np.repeat(cp.sto_min_kwh[:, None], n_t, axis=1)
        soc_lo[:, -1] = np.maximum(soc_lo[:, -1], cp.sto_final_min_kwh)
        lo[block("soc", bt_b, bt_t)] = soc_lo.ravel()
        hi[block("soc", bt_b, bt_t)] = np.repeat(cp.sto_max_kwh, n_t)
    if n_k:
        hi[block("pv", kt_k, kt_t)] = cp.pv_kw.ravel()
    lo[f_idx[kept_f]] = -cp.node_exp_kw[kept_f]
    hi[f_idx[kept_f]] = cp.node_imp_kw[kept_f]
    if has_phase and not FLAT_PHASES:
        cap = np.broadcast_to(cp.node_phase_a, kept_g.shape)[kept_g]
        lo[g_idx[kept_g]] = -cap
        hi[g_idx[kept_g]] = cap
    cost[off["imp"] + t_idx] = cp.price_imp * dt
    cost[off["exp"] + t_idx] = -cp.price_exp * dt
    if has_peak:
        lo[off["peak"]] = cp.peak_floor_kw
        cost[off["peak"]] = cp.demand_charge_per_kw
    sl_cols = off["sl"] + np.arange(len(sp_n))
    cost[sl_cols] = cp.setpoint_penalty * dt[sp_t]

    bld = _Builder()
    # energy per load: sum_t eff*dt*p + u = need
    r0 = bld.new_rows(cp.load_need_kwh, cp.load_need_kwh, "energy", np.arange(n_l), -1)
    bld.add(r0 + pl, p_cols, cp.load_eff[pl] * dt[pt])
    bld.add(r0 + np.arange(n_l), u_cols, 1.0)
    # fairness: need*z - u >= 0
    if has_fair:
        r0 = bld.new_rows(np.zeros(n_l), np.full(n_l, INF), "fair", np.arange(n_l), -1)
        bld.add(r0 + np.arange(n_l), np.full(n_l, off["z"]), cp.load_need_kwh)
        bld.add(r0 + np.arange(n_l), u_cols, -1.0)
    # taper: p[l,t] + b_l * sum_{t'<t} eff*dt*p[l,t'] <= r_l, only where it may bind
    tl, tt = np.nonzero(cp.taper_rows)
    if len(tl):
        r0 = bld.new_rows(np.full(len(tl), -INF), cp.taper_rhs_kw[tl], "taper", tl, tt)
        p_at = np.full((n_l, n_t), -1, dtype=np.int64)
        p_at[pl, pt] = p_cols
        bld.add(r0 + np.arange(len(tl)), p_at[tl, tt], 1.0)
        for ld in np.unique(tl).tolist():
            mine = np.nonzero(tl == ld)[0]
            steps = pt[pl == ld]
            earlier_r, earlier_c = np.nonzero(steps[None, :] < tt[mine][:, None])
            weight = cp.taper_slope_per_h[ld] * cp.load_eff[ld] * dt[steps[earlier_c]]
            bld.add(r0 + mine[earlier_r], p_at[ld, steps[earlier_c]], weight)
    # storage SoC: soc_t - soc_{t-1} - eta_ch*dt*ch + dt/eta_dis*dis = soc0 (t=0) / 0
    if n_b:
        rhs = np.zeros((n_b, n_t))
        rhs[:, 0] = cp.sto_soc0_kwh
        r0 = bld.new_rows(rhs.ravel(), rhs.ravel(), "soc_row", bt_b, bt_t)
        rows = r0 + bt_b * n_t + bt_t
        bld.add(rows, block("soc", bt_b, bt_t), 1.0)
        later = bt_t > 0
        bld.add(rows[later], block("soc", bt_b[later], bt_t[later] - 1), -1.0)
        bld.add(rows, block("ch", bt_b, bt_t), -(cp.sto_eta_ch[bt_b] * dt[bt_t]))
        bld.add(rows, block("dis", bt_b, bt_t), dt[bt_t] / cp.sto_eta_dis[bt_b])

    parent = cp.node_parent
    sto_node = cp.sto_node
    pv_node = cp.pv_node

    def flow_rows(col_idx: IntArray, kept: BoolArray, load_coef: FloatArray,
                  sto_coef: FloatArray, pv_coef: FloatArray, kind: str) -> None:  # fmt: skip
        """x[n,t] - sum_children x[c,t] - sum_own devices coef*power = 0 for every kept (node,
        step); a node left out hands its children and devices to its nearest kept ancestor."""
        kn, kt = np.nonzero(kept)
        r0 = bld.new_rows(np.zeros(len(kn)), np.zeros(len(kn)), kind, kn, kt)
        row_of = np.full((n_n, n_t), -1, dtype=np.int64)
        row_of[kn, kt] = r0 + np.arange(len(kn))
        anc = _kept_ancestor(parent, kept)
        bld.add(row_of[kn, kt], col_idx[kn, kt], 1.0)
        has_parent = parent[kn] >= 0
        cn, ct = kn[has_parent], kt[has_parent]
        to = anc[parent[cn], ct]
        ok = to >= 0
        bld.add(row_of[to[ok], ct[ok]], col_idx[cn[ok], ct[ok]], -1.0)
        coef = load_coef[pl]
        to = anc[cp.load_node[pl], pt]
        ok = (coef != 0) & (to >= 0)
        bld.add(row_of[to[ok], pt[ok]], p_cols[ok], -coef[ok])
        if n_b:
            to = anc[sto_node[bt_b], bt_t]
            ok = to >= 0
            rows = row_of[to[ok], bt_t[ok]]
            bld.add(rows, block("ch", bt_b[ok], bt_t[ok]), -sto_coef[bt_b[ok]])
            bld.add(rows, block("dis", bt_b[ok], bt_t[ok]), sto_coef[bt_b[ok]])
        if n_k:
            to = anc[pv_node[kt_k], kt_t]
            ok = to >= 0
            bld.add(row_of[to[ok], kt_t[ok]], block("pv", kt_k[ok], kt_t[ok]), pv_coef[kt_k[ok]])

    flow_rows(f_idx, kept_f, np.ones(n_l), np.ones(n_b), np.ones(n_k), "flow")
    if has_phase and FLAT_PHASES:
        # -I <= sum over everything under n of A/kW * power <= I, only for limited nodes
        nodes = np.nonzero(np.isfinite(cp.node_phase_a).any(axis=1))[0]
        load_count = np.bincount(pl, minlength=n_l).astype(np.int64)
        load_start = np.cumsum(load_count) - load_count
        for phase in range(3):
            base = bld.new_rows(-cp.node_phase_a[nodes].ravel(), cp.node_phase_a[nodes].ravel(),
                                f"phase{phase}", np.repeat(nodes, n_t),
                                np.tile(t_idx, len(nodes)))  # fmt: skip
            row_of = np.full(n_n, -1, dtype=np.int64)
            row_of[nodes] = base + np.arange(len(nodes)) * n_t
            coef_l = cp.load_phase_a_per_kw[:, phase]
            pn, plo = np.nonzero(cp.load_under[nodes] & (coef_l != 0)[None, :])
            ent_node, ent_col = _pairs_to_entries(nodes[pn], plo, load_start, load_count)
            bld.add(row_of[ent_node] + pt[ent_col], p_cols[ent_col], coef_l[pl[ent_col]])
            for b in range(n_b):
                for n in nodes[cp.sto_under[nodes, b]]:
                    bld.add(row_of[n] + t_idx, block("ch", b, t_idx), cp.sto_phase_a_per_kw[b])
                    bld.add(row_of[n] + t_idx, block("dis", b, t_idx), -cp.sto_phase_a_per_kw[b])
            for k in range(n_k):
                for n in nodes[cp.pv_under[nodes, k]]:
                    bld.add(row_of[n] + t_idx, block("pv", k, t_idx), -cp.pv_phase_a_per_kw[k])
    elif has_phase:
        for phase in range(3):
            flow_rows(g_idx[phase], kept_g[phase], cp.load_phase_a_per_kw[:, phase],
                      cp.sto_phase_a_per_kw, cp.pv_phase_a_per_kw, f"gflow{phase}")  # fmt: skip
    # linear current limits: sum_l a[c,l] p[l,t] <= cap[c,t]
    n_c = cp.lin_coef.shape[0]
    if n_c:
        lc_c, lc_t = np.divmod(np.arange(n_c * n_t), n_t)
        r0 = bld.new_rows(np.full(n_c * n_t, -INF), cp.lin_cap_a.ravel(), "lin", lc_c, lc_t)
        cc, jj = np.nonzero(cp.lin_coef[:, pl])
        bld.add(r0 + cc * n_t + pt[jj], p_cols[jj], cp.lin_coef[cc, pl[jj]])
    # grid balance: imp - exp - f[root] = 0
    r0 = bld.new_rows(np.zeros(n_t), np.zeros(n_t), "balance", 0, t_idx)
    bld.add(r0 + t_idx, off["imp"] + t_idx, 1.0)
    bld.add(r0 + t_idx, off["exp"] + t_idx, -1.0)
    bld.add(r0 + t_idx, f_idx[cp.root, t_idx], -1.0)
    # setpoint floors: f[n,t] + slack >= lo
    if len(sp_n):
        r0 = bld.new_rows(cp.setpoint_lo_kw[sp_n, sp_t], np.full(len(sp_n), INF), "setpoint",
                          sp_n, sp_t)  # fmt: skip
        bld.add(r0 + np.arange(len(sp_n)), sl_cols, 1.0)
        bld.add(r0 + np.arange(len(sp_n)), f_idx[sp_n, sp_t], 1.0)
    # peak: peak - imp_t >= 0
    if has_peak:
        r0 = bld.new_rows(np.zeros(n_t), np.full(n_t, INF), "peak_row", 0, t_idx)
        bld.add(r0 + t_idx, np.full(n_t, off["peak"]), 1.0)
        bld.add(r0 + t_idx, off["imp"] + t_idx, -1.0)

    rows_all = np.concatenate(bld.rows)
    cols_all = np.concatenate(bld.cols)
    vals_all = np.concatenate(bld.vals)
    order = np.lexsort((rows_all, cols_all))
    counts = np.bincount(cols_all, minlength=n_col)
    a_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return LinearProgram(
        cost=cost,
        col_lo=lo,
        col_hi=hi,
        row_lo=np.concatenate(bld.lo),
        row_hi=np.concatenate(bld.hi),
        a_start=a_start,
        a_index=rows_all[order].astype(np.int32),
        a_value=vals_all[order],
        p_load=pl,
        p_step=pt,
        offsets=off,
        col_keys=col_keys,
        row_keys=_stack_keys(bld.keys),
    )


def _highs(time_limit_s: float | None) -> highspy.Highs:
    # No "threads" option: HiGHS fixes its thread pool once per process and rejects a later
    # instance asking for another size; the dual simplex used for these LPs is serial anyway.
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    return h


def _pass_model(h: highspy.Highs, lp: LinearProgram, carried: CarriedBasis | None) -> None:
    """Hand ``lp`` to HiGHS (arrays passed straight through), with the carried basis's ghost
    columns appended."""
    cost, col_lo, col_hi = lp.cost, lp.col_lo, lp.col_hi
    a_start, a_index, a_value = lp.a_start, lp.a_index, lp.a_value
    if carried is not None and carried.n_ghost:
        cost = np.concatenate([cost, carried.ghost_cost])
        col_lo = np.concatenate([col_lo, np.zeros(carried.n_ghost)])
        col_hi = np.concatenate([col_hi, np.zeros(carried.n_ghost)])
        a_start = np.concatenate([a_start, a_start[-1] + carried.ghost_start[1:]])
        a_index = np.concatenate([a_index, carried.ghost_index])
        a_value = np.concatenate([a_value, carried.ghost_value])
    inf = h.getInfinity()

    def bound(values: FloatArray, sign: float) -> FloatArray:
        return np.where(np.isfinite(values), values, sign * inf)

    status = h.passModel(
        len(cost),
        lp.n_rows,
        len(a_value),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        cost,
        bound(col_lo, -1.0),
        bound(col_hi, 1.0),
        bound(lp.row_lo, -1.0),
        bound(lp.row_hi, 1.0),
        a_start[:-1].astype(np.int32),
        a_index.astype(np.int32),
        a_value,
        np.zeros(len(cost), dtype=np.int32),  # all continuous
    )
    if status == _ERROR:
        raise SolveFailed("HiGHS rejected the model")


def entity_ids(cp: Compiled) -> dict[str, tuple[str, ...]]:
    """The ids behind the entity indices of the LP's keys (see :mod:`optimizer.basis`)."""
    problem = cp.problem
    return {
        "load": cp.load_ids,
        "node": cp.node_ids,
        "sto": tuple(u.storage_id for u in problem.storage),
        "pv": tuple(p.pv_id for p in problem.pv),
        "lin": tuple(str(c) for c in range(cp.lin_coef.shape[0])),
    }


def _to_highs(
    col_status: npt.NDArray[np.int8], row_status: npt.NDArray[np.int8]
) -> highspy.HighsBasis:
    basis = highspy.HighsBasis()
    basis.col_status = [_STATUS[s] for s in col_status.tolist()]
    basis.row_status = [_STATUS[s] for s in row_status.tolist()]
    basis.valid = True
    return basis


def _status_array(statuses: list[highspy.HighsBasisStatus]) -> npt.NDArray[np.int8]:
    return np.array(list(map(_VALUE, statuses)), dtype=np.int8)


def _carry(lp: LinearProgram, cp: Compiled, basis: SolvedBasis) -> CarriedBasis | None:
    return carry_basis(
        basis,
        cols=lp.col_keys,
        rows=lp.row_keys,
        ids=entity_ids(cp),
        start=cp.problem.grid.start,
        col_lo=lp.col_lo,
        col_hi=lp.col_hi,
        row_lo=lp.row_lo,
        row_hi=lp.row_hi,
    )


def solve_direct(
    cp: Compiled,
    *,
    time_limit_s: float | None = None,
    basis: SolvedBasis | None = None,
) -> Solution:
    """Build and solve the LP with ``highspy``; raise a :class:`SolveFailed` subclass.

    ``basis``: the previous solve's (``Solution.basis``), carried over by key to start the dual
    simplex near the optimum (see :mod:`optimizer.basis`); a solve from it that does not end
    optimal, or a basis HiGHS rejects, falls back to a cold solve within the time limit."""
    began = time.perf_counter()
    lp = build_lp(cp)
    h = _highs(time_limit_s)
    carried = None if basis is None else _carry(lp, cp, basis)
    _pass_model(h, lp, carried)
    start = "cold"
    if basis is not None:
        if carried is None:
            start = "cold: nothing to carry over"
        elif h.setBasis(_to_highs(carried.col_status, carried.row_status)) == _ERROR:
            start = "cold: basis rejected"
        else:
            start = "warm"
    ran = h.run()
    model_status = h.getModelStatus()
    settled = (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit)
    if start == "warm" and (ran == _ERROR or model_status not in settled):
        logger.info("warm-started solve ended %s; solving cold",
                    h.modelStatusToString(model_status))  # fmt: skip
        start = "cold: warm solve ended " + h.modelStatusToString(model_status)
        h.clearSolver()
        if time_limit_s is not None:
            left = time_limit_s - (time.perf_counter() - began)
            h.setOptionValue("time_limit", max(left, 0.01))
        ran = h.run()
        model_status = h.getModelStatus()
    if ran == _ERROR:
        raise SolveFailed("HiGHS failed to run")
    if model_status == highspy.HighsModelStatus.kTimeLimit:
        raise SolverTimeout(f"HiGHS stopped at its time limit of {time_limit_s} s")
    if model_status in (highspy.HighsModelStatus.kInfeasible,
                        highspy.HighsModelStatus.kUnboundedOrInfeasible):  # fmt: skip
        raise InfeasibleSchedule("the hard limits admit no schedule (HiGHS: infeasible)")
    if model_status != highspy.HighsModelStatus.kOptimal:
        raise SolveFailed(f"HiGHS ended with status {h.modelStatusToString(model_status)}")
    solution = h.getSolution()
    x = np.asarray(solution.col_value)[: lp.n_cols]  # without ghost columns
    final = h.getBasis()
    solved = None
    if final.valid:
        col_status = _status_array(final.col_status)
        row_status = _status_array(final.row_status)
        if carried is not None:
            col_status, row_status = carried.settle(col_status, row_status, lp.row_keys)
        grid = cp.problem.grid
        solved = SolvedBasis(
            start=grid.start,
            first_step_s=grid.step_durations_s[0],
            n_steps=cp.n_steps,
            ids=entity_ids(cp),
            cols=lp.col_keys,
            rows=lp.row_keys,
            col_status=col_status,
            row_status=row_status,
            col_value=x,
            row_value=np.asarray(solution.row_value),
            cost=lp.cost,
            a_start=lp.a_start,
            a_index=lp.a_index,
            a_value=lp.a_value,
        )
    info = h.getInfo()
    return _unpack(lp, cp, x, float(info.objective_function_value),
                   time.perf_counter() - began, basis=solved, start=start,
                   iterations=int(info.simplex_iteration_count))  # fmt: skip


def _unpack(
    lp: LinearProgram,
    cp: Compiled,
    x: FloatArray,
    obj: float,
    took: float,
    *,
    basis: SolvedBasis | None,
    start: str,
    iterations: int,
) -> Solution:
    off = lp.offsets
    n_t = cp.n_steps
    n_l = len(cp.load_ids)
    n_b = cp.sto_soc0_kwh.shape[0]
    n_k = cp.pv_kw.shape[0]
    p = np.zeros((n_l, n_t))
    p[lp.p_load, lp.p_step] = x[off["p"] : off["p"] + len(lp.p_load)]
    bt = n_b * n_t
    return Solution(
        p_kw=np.clip(p, 0.0, None),
        unmet_kwh=np.clip(x[off["u"] : off["u"] + n_l], 0.0, None),
        ch_kw=x[off["ch"] : off["ch"] + bt].reshape(n_b, n_t),
        dis_kw=x[off["dis"] : off["dis"] + bt].reshape(n_b, n_t),
        soc_kwh=x[off["soc"] : off["soc"] + bt].reshape(n_b, n_t),
        pv_kw=x[off["pv"] : off["pv"] + n_k * n_t].reshape(n_k, n_t),
        imp_kw=x[off["imp"] : off["imp"] + n_t],
        exp_kw=x[off["exp"] : off["exp"] + n_t],
        objective=obj,
        solve_time_s=took,
        backend="highspy",
        basis=basis,
        start=start,
        iterations=iterations,
    )
