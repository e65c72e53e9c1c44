"""The direct path's solve: the LP of :mod:`optimizer.fastlp` handed to HiGHS through
``highspy``, no Pyomo, warm-started from the previous solve's basis (:mod:`optimizer.basis`).
"""

from __future__ import annotations

import logging
import operator
import time

import highspy
import numpy as np
import numpy.typing as npt

from optimizer.basis import CarriedBasis, SolvedBasis, carry_basis
from optimizer.compiled import Compiled
from optimizer.exceptions import InfeasibleSchedule, SolveFailed, SolverTimeout
from optimizer.fastlp import build_lp
from optimizer.lp import LinearProgram
from optimizer.solution import Solution

__all__ = ["entity_ids", "solve_direct"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

_ERROR = highspy.HighsStatus.kError
_VALUE = operator.attrgetter("value")
_STATUS = (
    highspy.HighsBasisStatus.kLower,
    highspy.HighsBasisStatus.kBasic,
    highspy.HighsBasisStatus.kUpper,
    highspy.HighsBasisStatus.kZero,
    highspy.HighsBasisStatus.kNonbasic,
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
        "rack": tuple(r.rack_id for r in problem.swap_racks),
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
    grid = cp.problem.grid
    ids = entity_ids(cp)
    h = _highs(time_limit_s)
    carried = None if basis is None else carry_basis(basis, lp, ids=ids, start=grid.start)
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
        solved = SolvedBasis(
            start=grid.start,
            first_step_s=grid.step_durations_s[0],
            n_steps=cp.n_steps,
            ids=ids,
            lp=lp,
            col_status=col_status,
            row_status=row_status,
            col_value=x,
            row_value=np.asarray(solution.row_value),
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
