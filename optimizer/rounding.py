"""Executable currents: EVSEs that only accept a minimum current or discrete steps.

The LP plans continuous power. :func:`round_first_step` turns the first step (the one the
stations execute before the next re-plan) into currents the hardware accepts: every EVSE is
rounded *down* to an allowed current (below its minimum: off), which keeps every limit; then,
if ``reallocate``, the freed headroom is handed out again in steps to the next allowed
current, least laxity first, while every node limit on the EVSE's path and the EVSE's own
cap (a dimming included) still hold: first at most one step above what the LP wanted per
EVSE, then to any EV that still needs energy, as long as every node stays within what the
LP drew there in that step. A step may exceed what the EV still needs in the step (it takes
only that), so a remainder below the smallest allowed current is still delivered.
``reallocate=False`` is plain LP-then-truncate, the baseline the benchmark compares against.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from optimizer.compiled import Compiled
from optimizer.inputs import Evse

__all__ = ["allowed_currents", "round_down_current", "round_first_step", "round_steps_down"]

FloatArray = npt.NDArray[np.float64]

_EPS = 1e-9


def allowed_currents(evse: Evse) -> tuple[float, ...] | None:
    """The discrete per-phase currents the EVSE accepts (0 included), or None if continuous."""
    if not evse.allowed_currents_a:
        return None
    return (0.0, *(c for c in evse.allowed_currents_a if c >= evse.min_current_a and c > 0))


def round_down_current(evse: Evse, current_a: float) -> float:
    """The largest executable current not above ``current_a``."""
    steps = allowed_currents(evse)
    if steps is None:
        return current_a if current_a >= evse.min_current_a - _EPS and current_a > _EPS else 0.0
    best = 0.0
    for step in steps:
        if step <= current_a + _EPS:
            best = step
    return best


def _next_current(evse: Evse, current_a: float) -> float | None:
    steps = allowed_currents(evse)
    if steps is None:
        # continuous: only the jump from off to the minimum current is a step
        return evse.min_current_a if current_a < evse.min_current_a - _EPS else None
    for step in steps:
        if step > current_a + _EPS:
            return step
    return None


def round_steps_down(cp: Compiled, p_kw: FloatArray, steps: int) -> FloatArray:
    """Every session's power in the first ``steps`` steps rounded down to executable currents."""
    out = p_kw.copy()
    for ld in np.nonzero(cp.load_is_session)[0]:
        evse = cp.problem.evses[int(cp.load_evse[ld])]
        per_amp_kw = evse.power_w(1.0) / 1000.0
        for t in range(min(steps, cp.n_steps)):
            out[ld, t] = round_down_current(evse, out[ld, t] / per_amp_kw) * per_amp_kw
    return out


def round_first_step(
    cp: Compiled,
    p_kw: FloatArray,
    net_sto_kw: FloatArray,
    pv_kw: FloatArray,
    *,
    reallocate: bool = True,
) -> tuple[FloatArray, float]:
    """``p_kw`` with step 0 executable; returns it and the step-0 energy lost vs the LP (kWh)."""
    out = round_steps_down(cp, p_kw, 1)
    if reallocate:
        _reallocate(cp, out, p_kw, net_sto_kw, pv_kw)
    dt0 = float(cp.dt_h[0])
    loss = float((p_kw[:, 0] - out[:, 0]).sum()) * dt0
    return out, loss


def _reallocate(
    cp: Compiled, out: FloatArray, lp_kw: FloatArray, net_sto_kw: FloatArray, pv_kw: FloatArray
) -> None:
    dt0 = float(cp.dt_h[0])
    under = cp.load_under
    coef = cp.load_phase_a_per_kw
    # headroom at step 0 with the rounded loads (storage and PV as the LP planned them)
    power = under.astype(float) @ out[:, 0]
    power += cp.sto_under.astype(float) @ net_sto_kw[:, 0] - cp.pv_under.astype(float) @ pv_kw[:, 0]
    phases = under.astype(float) @ (coef * out[:, :1])
    phases += cp.sto_under.astype(float) @ (cp.sto_phase_a_per_kw[:, None] * net_sto_kw[:, :1])
    phases -= cp.pv_under.astype(float) @ (cp.pv_phase_a_per_kw[:, None] * pv_kw[:, :1])
    head_kw = cp.node_imp_kw[:, 0] - power
    head_a = cp.node_phase_a[:, 0, None] - phases  # (N, 3)
    head_lin = cp.lin_cap_a[:, 0] - cp.lin_coef @ out[:, 0]
    active = [int(ld) for ld in np.nonzero(cp.load_is_session & (cp.load_pmax_kw[:, 0] > 0))[0]]
    # least laxity first: time left minus time needed at full power
    left_h = (cp.load_pmax_kw[active] > 0).astype(float) @ cp.dt_h
    need_h = cp.load_need_kwh[active] / np.maximum(cp.load_pmax_kw[active, 0], _EPS)
    order = [active[i] for i in np.argsort(left_h - need_h, kind="stable")]
    # What the LP itself drew at each node in the first step: the second pass fills up to it
    # (the LP's choice of how much to draw now stands; only who draws it changes).
    plan_kw = under.astype(float) @ lp_kw[:, 0] - under.astype(float) @ out[:, 0]
    for follow_lp in (True, False):
        progress = True
        while progress:
            progress = False
            for ld in order:
                evse = cp.problem.evses[int(cp.load_evse[ld])]
                per_amp_kw = evse.power_w(1.0) / 1000.0
                nxt = _next_current(evse, out[ld, 0] / per_amp_kw)
                if nxt is None or (follow_lp and lp_kw[ld, 0] <= _EPS):
                    continue
                new_kw = nxt * per_amp_kw
                # never above the EVSE's or the session's cap (a dimming included); above
                # what the EV still needs in the step only while it needs more: it takes
                # only what it needs, and a remainder below one step is still delivered
                if new_kw > cp.load_pmax_kw[ld, 0] + _EPS:
                    continue
                if out[ld, 0] >= cp.load_need_kwh[ld] / (cp.load_eff[ld] * dt0) - _EPS:
                    continue
                delta = new_kw - out[ld, 0]
                path = under[:, ld]
                if follow_lp:
                    # at most one allowed step above what the LP wanted: recover the loss
                    ceiling = _next_current(evse, lp_kw[ld, 0] / per_amp_kw - 1e-6)
                    if ceiling is None or nxt > ceiling + _EPS:
                        continue
                elif (plan_kw[path] < delta - _EPS).any():
                    # then, least laxity first, the EVs that still need it take one step
                    # more while every node stays within what the LP drew there
                    continue
                d_amp = coef[ld] * delta
                if (head_kw[path] < delta - _EPS).any():
                    continue
                if (head_a[path] < d_amp[None, :] - _EPS).any():
                    continue
                d_lin = cp.lin_coef[:, ld] * delta
                if (head_lin < d_lin - _EPS).any():
                    continue
                head_lin -= d_lin
                head_kw[path] -= delta
                head_a[path] -= d_amp[None, :]
                plan_kw[path] -= delta
                out[ld, 0] = new_kw
                progress = True
