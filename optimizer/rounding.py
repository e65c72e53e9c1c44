"""Executable currents: EVSEs that only accept a minimum current or discrete steps.

The LP plans continuous power. :func:`round_first_step` turns the first step (the one the
stations execute before the next re-plan) into currents the hardware accepts: every EVSE is
rounded *down* to an allowed current (below its minimum: off), which keeps every limit; then,
if ``reallocate``, the freed headroom is handed out again in steps to the next allowed
current, least laxity first, while every node limit on the EVSE's path and the EVSE's own
cap (a dimming included) still hold: first at most one step above what the LP wanted per
EVSE, then to any EV that still needs energy, as long as every node stays within what the
LP drew there in that step, then, where drawing now costs no more than the LP pays for that
EV's later energy (price; with a demand charge, up to the peak the plan pays anyway), up to
the limits themselves (decision 0420). A step may exceed what the EV still needs in the step
(it takes only that), so a remainder below the smallest allowed current is still delivered.
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


class _Headroom:
    """What every node limit (power, phase currents, linear current limits) and, where a
    demand charge counts, the plan's billing peak still allow at step 0."""

    def __init__(
        self, cp: Compiled, out: FloatArray, lp_kw: FloatArray, net_sto_kw: FloatArray,
        pv_kw: FloatArray,
    ) -> None:  # fmt: skip
        under = cp.load_under.astype(float)
        sto, pv = cp.sto_under.astype(float), cp.pv_under.astype(float)
        # at step 0 with the rounded loads (storage and PV as the LP planned them)
        power = under @ out[:, 0] + sto @ net_sto_kw[:, 0] - pv @ pv_kw[:, 0]
        phases = under @ (cp.load_phase_a_per_kw * out[:, :1])
        phases += sto @ (cp.sto_phase_a_per_kw[:, None] * net_sto_kw[:, :1])
        phases -= pv @ (cp.pv_phase_a_per_kw[:, None] * pv_kw[:, :1])
        self.cp = cp
        self.kw = cp.node_imp_kw[:, 0] - power
        self.amps = cp.node_phase_a[:, 0, None] - phases  # (N, 3)
        self.lin = cp.lin_cap_a[:, 0] - cp.lin_coef @ out[:, 0]
        # what the LP itself drew at each node in the first step, less the rounded draw
        self.plan_kw = under @ lp_kw[:, 0] - under @ out[:, 0]
        self.peak_kw = _peak_room_kw(cp, lp_kw, net_sto_kw, pv_kw, float(power[cp.root]))

    def fits(self, ld: int, delta: float, *, within_plan: bool, within_peak: bool) -> bool:
        path = self.cp.load_under[:, ld]
        return not (
            (within_plan and (self.plan_kw[path] < delta - _EPS).any())
            or (within_peak and self.peak_kw < delta - _EPS)
            or (self.kw[path] < delta - _EPS).any()
            or (self.amps[path] < self.cp.load_phase_a_per_kw[ld][None, :] * delta - _EPS).any()
            or (self.lin < self.cp.lin_coef[:, ld] * delta - _EPS).any()
        )

    def take(self, ld: int, delta: float) -> None:
        path = self.cp.load_under[:, ld]
        self.kw[path] -= delta
        self.amps[path] -= self.cp.load_phase_a_per_kw[ld][None, :] * delta
        self.lin -= self.cp.lin_coef[:, ld] * delta
        self.plan_kw[path] -= delta
        self.peak_kw -= delta


def _peak_room_kw(
    cp: Compiled, lp_kw: FloatArray, net_sto_kw: FloatArray, pv_kw: FloatArray, now_kw: float
) -> float:
    """How far the site's import may rise at step 0 without raising the billing peak the
    plan pays anyway (its own largest import, the peak so far, the target); unlimited
    without a demand charge. With V2G the plan's import is not known here: no room."""
    if cp.demand_charge_per_kw <= 0:
        return float("inf")
    if (cp.v2g_max_kw > 0).any():
        return 0.0
    imports = lp_kw.sum(axis=0) + net_sto_kw.sum(axis=0) - pv_kw.sum(axis=0)
    return max(cp.peak_floor_kw, float(imports.max(initial=0.0))) - now_kw


def _free_now(cp: Compiled, lp_kw: FloatArray) -> npt.NDArray[np.bool_]:
    """Per load: energy drawn now instead of later costs no more (the first step's import,
    and export, price is no higher than any later step's in which the LP charges it)."""
    now = max(float(cp.price_imp[0]), float(cp.price_exp[0]))
    later = np.where(lp_kw[:, 1:] > _EPS, cp.price_imp[None, 1:], np.inf)
    return np.asarray(now <= later.min(axis=1, initial=np.inf) + _EPS)


def _reallocate(
    cp: Compiled, out: FloatArray, lp_kw: FloatArray, net_sto_kw: FloatArray, pv_kw: FloatArray
) -> None:
    """Three passes, each least laxity first, one allowed step at a time, pass after pass:
    at most one step above what the LP wanted; then to any EV that still needs energy while
    every node stays within what the LP drew there (the LP's choice of how much to draw now
    stands, only who draws it changes); then, where drawing now costs nothing more than the
    LP's later steps would (price, billing peak), up to the limits: energy taken now is
    energy the EV needs less later, so the rest of the plan stays feasible."""
    dt0 = float(cp.dt_h[0])
    room = _Headroom(cp, out, lp_kw, net_sto_kw, pv_kw)
    active = [int(ld) for ld in np.nonzero(cp.load_is_session & (cp.load_pmax_kw[:, 0] > 0))[0]]
    # least laxity first: time left minus time needed at full power
    left_h = (cp.load_pmax_kw[active] > 0).astype(float) @ cp.dt_h
    need_h = cp.load_need_kwh[active] / np.maximum(cp.load_pmax_kw[active, 0], _EPS)
    order = [active[i] for i in np.argsort(left_h - need_h, kind="stable")]
    free = _free_now(cp, lp_kw)
    for stage in ("follow_lp", "lp_budget", "free_fill"):
        progress = True
        while progress:
            progress = False
            for ld in order:
                if stage == "free_fill" and not free[ld]:
                    continue
                evse = cp.problem.evses[int(cp.load_evse[ld])]
                per_amp_kw = evse.power_w(1.0) / 1000.0
                nxt = _next_current(evse, out[ld, 0] / per_amp_kw)
                if nxt is None or (stage == "follow_lp" and lp_kw[ld, 0] <= _EPS):
                    continue
                new_kw = nxt * per_amp_kw
                # never above the EVSE's or the session's cap (a dimming included); above
                # what the EV still needs in the step only while it needs more: it takes
                # only what it needs, and a remainder below one step is still delivered
                if new_kw > cp.load_pmax_kw[ld, 0] + _EPS:
                    continue
                if out[ld, 0] >= cp.load_need_kwh[ld] / (cp.load_eff[ld] * dt0) - _EPS:
                    continue
                if stage == "follow_lp":
                    # at most one allowed step above what the LP wanted: recover the loss
                    ceiling = _next_current(evse, lp_kw[ld, 0] / per_amp_kw - 1e-6)
                    if ceiling is None or nxt > ceiling + _EPS:
                        continue
                delta = new_kw - out[ld, 0]
                if not room.fits(ld, delta, within_plan=stage == "lp_budget",
                                 within_peak=stage == "free_fill"):  # fmt: skip
                    continue
                room.take(ld, delta)
                out[ld, 0] = new_kw
                progress = True
