"""Warm start for the rolling-horizon re-plan: the previous solve's simplex basis carried
over to the next LP by key.

Every column and row of the direct LP has a key: its kind (``"p"`` load power, ``"flow"``
node flow row, ...), the entity it belongs to (a load, node, storage unit, PV plant or linear
current limit, by id) and its step (``-1`` for per-entity quantities). A re-plan's LP differs
from the previous one by a time shift, arrivals and departures, so the basis is carried by
key: the new step ``t`` takes the status of the old step ``t + shift``, and the old steps that
fell off the front wrap to the new end (this keeps every step's share of basic variables;
the status of a step just added is unknown anyway). New columns (an arrival's power) start
nonbasic at a bound, new rows (its energy row) basic. An old basic column with no place in
the new LP becomes a ghost column fixed at zero (see :func:`carry_basis`); the count of basic
variables is finally repaired to the row count, since a basis must be square. A basis is
only a starting point: HiGHS factorises it, swaps out dependent columns and reaches the same
optimum as a cold solve, in far fewer iterations (decision 0406).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from optimizer.lp import KIND_INDEX, KINDS, LinearProgram, LpKeys

__all__ = ["BASIC", "LOWER", "UPPER", "ZERO", "CarriedBasis", "SolvedBasis", "carry_basis"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StatusArray = npt.NDArray[np.int8]

# HiGHS basis status codes (highspy.HighsBasisStatus values).
LOWER, BASIC, UPPER, ZERO = 0, 1, 2, 3

_SPACE = np.array([sorted(set(KINDS.values())).index(space) for space in KINDS.values()])
_FLOW_COLS = [KIND_INDEX[k] for k in ("f", "g0", "g1", "g2")]
_FLOW_ROWS = [KIND_INDEX[k] for k in ("flow", "gflow0", "gflow1", "gflow2")]


#: Below this share of the new LP's columns and rows found in the previous one, the carried
#: basis is worse than none (measured: a basis from the other phase layout took 60,000
#: iterations against 12,000 cold), so the solve starts cold.
MIN_MATCHED = 0.5


@dataclass(frozen=True, slots=True)
class SolvedBasis:
    """What one solve leaves for the next: its LP (keys, costs and matrix, for the columns
    that do not carry over), final basis and point."""

    start: datetime
    first_step_s: float
    n_steps: int
    ids: Mapping[str, tuple[str, ...]]  # namespace -> entity ids, index = entity index
    lp: LinearProgram
    col_status: StatusArray
    row_status: StatusArray
    col_value: FloatArray
    row_value: FloatArray


def _translate(
    keys: LpKeys, ids: Mapping[str, tuple[str, ...]], old_ids: Mapping[str, tuple[str, ...]]
) -> IntArray:
    """Entity index of every key in the old solve's numbering (-1: the entity is new)."""
    out = np.full(keys.kind.shape, -1, dtype=np.int64)
    namespaces = list(KINDS.values())
    for space in set(namespaces):
        kinds = [KIND_INDEX[k] for k, s in KINDS.items() if s == space]
        mask = np.isin(keys.kind, kinds)
        if not mask.any():
            continue
        if space == "":
            out[mask] = 0
            continue
        old_index = {entity: i for i, entity in enumerate(old_ids.get(space, ()))}
        table = np.array([old_index.get(e, -1) for e in ids.get(space, ())] + [-1], dtype=np.int64)
        out[mask] = table[keys.ent[mask]]
    return out


def _lookup(keys: LpKeys, old_ent: IntArray, old: LpKeys, shift: int, old_n_steps: int) -> IntArray:
    """Index of each new key's counterpart in the old LP (-1: none)."""
    step = keys.step.copy()
    per_step = step >= 0
    step[per_step] = (step[per_step] + shift) % old_n_steps
    n_ent = int(max(old.ent.max(initial=0), old_ent.max(initial=0))) + 2
    n_step = old_n_steps + 1

    def code(kind: IntArray, ent: IntArray, st: IntArray) -> IntArray:
        return (kind * n_ent + (ent + 1)) * n_step + (st + 1)

    old_code = code(old.kind, old.ent, np.minimum(old.step, old_n_steps - 1))
    order = np.argsort(old_code, kind="stable")
    sorted_code = old_code[order]
    new_code = code(keys.kind, old_ent, step)
    pos = np.clip(np.searchsorted(sorted_code, new_code), 0, max(len(sorted_code) - 1, 0))
    found = (old_ent >= 0) & (len(sorted_code) > 0)
    if len(sorted_code):
        found &= sorted_code[pos] == new_code
    return np.where(found, order[pos] if len(sorted_code) else -1, -1).astype(np.int64)


def _fit_bounds(status: StatusArray, lo: FloatArray, hi: FloatArray) -> StatusArray:
    """Nonbasic statuses moved to a bound that exists (free: zero)."""
    out = status.copy()
    nonbasic = out != BASIC
    lo_ok = np.isfinite(lo)
    hi_ok = np.isfinite(hi)
    want_lo = nonbasic & ((out == LOWER) | (out == ZERO))
    want_hi = nonbasic & (out == UPPER)
    out[want_lo & lo_ok] = LOWER
    out[want_lo & ~lo_ok & hi_ok] = UPPER
    out[want_hi & hi_ok] = UPPER
    out[want_hi & ~hi_ok & lo_ok] = LOWER
    out[nonbasic & ~lo_ok & ~hi_ok] = ZERO
    return out


def _nearest_bound_status(value: FloatArray, lo: FloatArray, hi: FloatArray) -> StatusArray:
    d_lo = np.where(np.isfinite(lo), np.abs(value - lo), np.inf)
    d_hi = np.where(np.isfinite(hi), np.abs(value - hi), np.inf)
    out = np.where(d_lo <= d_hi, LOWER, UPPER).astype(np.int8)
    out[~np.isfinite(lo) & ~np.isfinite(hi)] = ZERO
    return out


@dataclass(frozen=True, slots=True)
class CarriedBasis:
    """Statuses for the new LP's columns, then for ``n_ghost`` appended ghost columns (fixed
    at zero, CSC ``ghost_*``), then for its rows."""

    col_status: StatusArray
    row_status: StatusArray
    ghost_start: npt.NDArray[np.int32]
    ghost_index: npt.NDArray[np.int32]
    ghost_value: FloatArray
    ghost_cost: FloatArray

    @property
    def n_ghost(self) -> int:
        return len(self.ghost_cost)

    def settle(
        self, col_status: StatusArray, row_status: StatusArray, rows: LpKeys
    ) -> tuple[StatusArray, StatusArray]:
        """The final basis of a solve started from this one, without its ghost columns: a
        ghost still basic at the end (degenerate, at zero) hands its place to the slack of
        one of its rows, its own load's row first, so the basis stays square."""
        n_cols = len(col_status) - self.n_ghost
        rows_out = row_status.copy()
        for g in np.nonzero(col_status[n_cols:] == BASIC)[0].tolist():
            mine = self.ghost_index[self.ghost_start[g] : self.ghost_start[g + 1]]
            mine = mine[rows_out[mine] != BASIC]
            if len(mine):
                mine = mine[np.argsort(rows.step[mine] >= 0, kind="stable")]
                rows_out[mine[0]] = BASIC
        return col_status[:n_cols], rows_out


def _entries(prev: SolvedBasis, cols: IntArray) -> tuple[IntArray, IntArray, FloatArray]:
    """(position in ``cols``, old row, value) of every matrix entry of the old columns."""
    starts = prev.lp.a_start[cols].astype(np.int64)
    counts = prev.lp.a_start[cols + 1].astype(np.int64) - starts
    total = int(counts.sum())
    owner = np.repeat(np.arange(len(cols)), counts)
    idx = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total)
    return owner, prev.lp.a_index[idx].astype(np.int64), prev.lp.a_value[idx]


def _take_over(
    prev: SolvedBasis,
    old_row: int,
    col_of_old: IntArray,
    new_of_old: IntArray,
    col_status: StatusArray,
    row_status: StatusArray,
    row_lo: FloatArray,
    row_hi: FloatArray,
) -> None:
    """Make one surviving row nonbasic in place of the gone nonbasic ``old_row`` (in place)."""
    at = np.nonzero(prev.lp.a_index == old_row)[0]
    for j_old in (np.searchsorted(prev.lp.a_start, at, side="right") - 1).tolist():
        j_new = int(col_of_old[j_old])
        if j_new < 0 or col_status[j_new] != BASIC:
            continue
        span = slice(prev.lp.a_start[j_old], prev.lp.a_start[j_old + 1])
        old_rows = prev.lp.a_index[span].astype(np.int64)
        coef = np.abs(prev.lp.a_value[span])
        new_rows = new_of_old[old_rows]
        ok = new_rows >= 0
        ok[ok] = row_status[new_rows[ok]] == BASIC
        old_rows, new_rows, coef = old_rows[ok], new_rows[ok], coef[ok]
        if not len(new_rows):
            continue
        value = prev.row_value[old_rows]
        lo, hi = row_lo[new_rows], row_hi[new_rows]
        # the ratio test: the row that binds first as the column moves (slack per unit)
        with np.errstate(invalid="ignore", divide="ignore"):
            gap = np.minimum(np.abs(value - lo), np.abs(value - hi)) / coef
        gap = np.nan_to_num(gap, nan=np.inf)
        k = int(np.argmin(gap))
        row_status[new_rows[k]] = _nearest_bound_status(value[k : k + 1], lo[k : k + 1],
                                                        hi[k : k + 1])[0]  # fmt: skip
        return


@dataclass(frozen=True, slots=True)
class _Dropped:
    """The old LP's basic columns with no place in the new one, with their matrix entries;
    those that stay as ghosts, and the gone nonbasic rows that leave with one of them."""

    cols: IntArray  # old column index
    ghost: BoolArray  # (per dropped column) kept as a ghost
    owner: IntArray  # (per entry) position in ``cols``
    old_row: IntArray
    value: FloatArray
    live: BoolArray  # (per entry) kept in its ghost: the row survives
    paired_rows: set[int]


def _drop_columns(prev: SolvedBasis, col_src: IntArray, new_of_old: IntArray) -> _Dropped:
    """Pair each nonbasic row that is gone with one dropped basic column in it: its own column
    first (same entity and step: a node flow's row and column, a load's energy row and its
    unmet energy), then one of the same entity, then the one with the fewest entries in rows
    that remain; the others become ghosts."""
    kept = np.zeros(len(prev.col_status), dtype=bool)
    kept[col_src[col_src >= 0]] = True
    dropped = np.nonzero(~kept & (prev.col_status == BASIC))[0]
    owner, old_row, value = _entries(prev, dropped)
    survives = new_of_old[old_row] >= 0
    n_live = np.bincount(owner[survives], minlength=len(dropped))
    gone_row = ~survives & (prev.row_status[old_row] != BASIC)
    g_col = dropped[owner[gone_row]]
    g_row = old_row[gone_row]
    same_ent = (_SPACE[prev.lp.col_keys.kind[g_col]] == _SPACE[prev.lp.row_keys.kind[g_row]]) & (
        prev.lp.col_keys.ent[g_col] == prev.lp.row_keys.ent[g_row]
    )
    same_step = same_ent & (prev.lp.col_keys.step[g_col] == prev.lp.row_keys.step[g_row])
    rank = np.where(same_step, 0, np.where(same_ent, 1, 2))
    order = np.lexsort((n_live[owner[gone_row]], rank))
    paired = np.zeros(len(dropped), dtype=bool)
    used_rows: set[int] = set()
    pairs = zip(owner[gone_row][order].tolist(), old_row[gone_row][order].tolist(), strict=True)
    for o, r in pairs:
        if not paired[o] and r not in used_rows:
            paired[o] = True
            used_rows.add(r)
    live = survives & ~paired[owner]
    ghost = ~paired & (n_live > 0)
    # Ghosts left with one entry in the same row would be dependent: keep one per row.
    single = ghost & (n_live == 1)
    single_row = np.full(len(dropped), -1, dtype=np.int64)
    single_row[owner[live & single[owner]]] = old_row[live & single[owner]]
    _, first = np.unique(single_row[single], return_index=True)
    dup = np.nonzero(single)[0]
    ghost[np.setdiff1d(dup, dup[first])] = False
    live &= ghost[owner]
    return _Dropped(dropped, ghost, owner, old_row, value, live, used_rows)


def _square(
    prev: SolvedBasis,
    status: tuple[StatusArray, StatusArray],
    src: tuple[IntArray, IntArray],
    d: _Dropped,
    *,
    rows: LpKeys,
    col_bounds: tuple[FloatArray, FloatArray],
    row_bounds: tuple[FloatArray, FloatArray],
) -> tuple[StatusArray, StatusArray]:
    """The statuses with as many basic variables as rows: slacks of nonbasic rows become
    basic (inequalities before equalities such as a node flow or an energy balance, per-step
    rows before per-load ones, whose dual prices all of that load's steps), or the basics
    closest to a bound (degenerate ones first) leave the basis at that bound."""
    col_status, row_status = status
    col_src, row_src = src
    row_lo, row_hi = row_bounds
    n_rows = len(row_status)
    n_basic = int((col_status == BASIC).sum() + (row_status == BASIC).sum())
    if n_basic < n_rows:
        candidates = np.nonzero(row_status != BASIC)[0]
        equality = row_lo[candidates] == row_hi[candidates]
        candidates = candidates[np.lexsort((rows.step[candidates] < 0, equality))]
        row_status[candidates[: n_rows - n_basic]] = BASIC
    elif n_basic > n_rows:
        c_val = np.concatenate([
            np.where(col_src >= 0, prev.col_value[np.maximum(col_src, 0)], 0.0),
            prev.col_value[d.cols[d.ghost]],
        ])  # fmt: skip
        r_val = np.where(row_src >= 0, prev.row_value[np.maximum(row_src, 0)], 0.0)
        values = np.concatenate([c_val, r_val])
        lo = np.concatenate([col_bounds[0], row_lo])
        hi = np.concatenate([col_bounds[1], row_hi])
        both = np.concatenate([col_status, row_status])
        with np.errstate(invalid="ignore"):
            gap = np.minimum(np.abs(values - lo), np.abs(values - hi))
        known = np.concatenate([col_src >= 0, np.ones(int(d.ghost.sum()), dtype=bool),
                                row_src >= 0])  # fmt: skip
        gap = np.where((both == BASIC) & known, np.nan_to_num(gap, nan=np.inf), np.inf)
        leave = np.argsort(gap, kind="stable")[: n_basic - n_rows]
        both[leave] = _nearest_bound_status(values[leave], lo[leave], hi[leave])
        col_status, row_status = both[: len(col_status)], both[len(col_status) :]
    return col_status, row_status


def carry_basis(
    prev: SolvedBasis, lp: LinearProgram, *, ids: Mapping[str, tuple[str, ...]], start: datetime
) -> CarriedBasis | None:
    """Statuses for the new ``lp`` (starting at ``start``, its entities ``ids``) from
    ``prev``; ``None`` when nothing
    carries over (the new start is outside the previous horizon). The shift is the elapsed
    time in whole first steps of the previous grid.

    A basic column of the old LP with no counterpart in the new one (the step that fell off
    the front with nothing to wrap onto, a departed load) is kept as a *ghost*: a column fixed
    at zero with its old entries in the rows that still exist, basic. That keeps the basis
    square and dual feasible (a slack made basic in its place would not be), and the dual
    simplex drives it out in a few iterations. A ghost is not kept when one of its old rows
    is gone too and that row was nonbasic (a departed load's energy row): the pair leaves
    together."""
    shift = round((start - prev.start).total_seconds() / prev.first_step_s)
    if shift < 0 or shift >= prev.n_steps:
        return None
    cols, rows = lp.col_keys, lp.row_keys
    col_src = _lookup(cols, _translate(cols, ids, prev.ids), prev.lp.col_keys, shift, prev.n_steps)
    row_src = _lookup(rows, _translate(rows, ids, prev.ids), prev.lp.row_keys, shift, prev.n_steps)
    matched = (np.count_nonzero(col_src >= 0) + np.count_nonzero(row_src >= 0)) / max(
        len(cols.kind) + len(rows.kind), 1
    )
    if matched < MIN_MATCHED:
        return None
    new_of_old = np.full(len(prev.row_status), -1, dtype=np.int64)
    new_of_old[row_src[row_src >= 0]] = np.nonzero(row_src >= 0)[0]
    d = _drop_columns(prev, col_src, new_of_old)
    n_ghost = int(d.ghost.sum())

    # New columns start nonbasic at a bound, new rows basic; except a new node flow (the
    # LP keeps a node's flow only while its limit can bind): its column is basic and its
    # defining row nonbasic, which keeps the basis feasible.
    new_col = np.where(np.isin(cols.kind, _FLOW_COLS), BASIC, LOWER)
    new_row = np.where(np.isin(rows.kind, _FLOW_ROWS), LOWER, BASIC)
    col_status = np.where(col_src >= 0, prev.col_status[np.maximum(col_src, 0)], new_col)
    col_status = _fit_bounds(col_status.astype(np.int8), lp.col_lo, lp.col_hi)
    col_status = np.concatenate([col_status, np.full(n_ghost, BASIC, dtype=np.int8)])
    row_status = np.where(row_src >= 0, prev.row_status[np.maximum(row_src, 0)], new_row)
    row_status = _fit_bounds(row_status.astype(np.int8), lp.row_lo, lp.row_hi)

    # A nonbasic row that is gone with no dropped column to leave with (the fairness row of
    # the departed load that set the largest unmet share): a surviving basic column in it
    # (that share) is held instead by its row closest to binding.
    gone_nonbasic = np.nonzero((new_of_old < 0) & (prev.row_status != BASIC))[0]
    col_of_old = np.full(len(prev.col_status), -1, dtype=np.int64)
    col_of_old[col_src[col_src >= 0]] = np.nonzero(col_src >= 0)[0]
    for r in gone_nonbasic.tolist():
        if r not in d.paired_rows:
            _take_over(prev, r, col_of_old, new_of_old, col_status, row_status, lp.row_lo,
                       lp.row_hi)  # fmt: skip

    col_status, row_status = _square(
        prev, (col_status, row_status), (col_src, row_src), d, rows=rows,
        col_bounds=(np.concatenate([lp.col_lo, np.zeros(n_ghost)]),
                    np.concatenate([lp.col_hi, np.zeros(n_ghost)])),
        row_bounds=(lp.row_lo, lp.row_hi),
    )  # fmt: skip
    g_owner = (np.cumsum(d.ghost) - 1)[d.owner[d.live]]
    g_start = np.concatenate([[0], np.cumsum(np.bincount(g_owner, minlength=n_ghost))])
    return CarriedBasis(
        col_status=col_status,
        row_status=row_status,
        ghost_start=g_start.astype(np.int32),
        ghost_index=new_of_old[d.old_row[d.live]].astype(np.int32),
        ghost_value=d.value[d.live],
        ghost_cost=prev.lp.cost[d.cols[d.ghost]],
    )
