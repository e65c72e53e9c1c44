"""The fail-safe allocation: proportional share under every node limit.

Used when the solver fails, finds the problem infeasible or runs out of time, and for the
safe default profiles stations keep when the CSMS goes away. Each load asks for its cap (EVSE,
EV, dimming, and the energy it still needs); every node that would be overloaded, on power or
on any phase current, scales the requests below it by the same factor; each load gets its
request times the smallest factor on its path. This never breaks a limit, needs no solver, and
counts on neither PV nor storage (storage stays idle).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from optimizer.compiled import Compiled
from optimizer.rounding import allowed_currents, round_steps_down

__all__ = ["proportional_share"]

FloatArray = npt.NDArray[np.float64]

_EPS = 1e-9


def _factor(cp: Compiled, request_kw: FloatArray, t: int) -> FloatArray:
    """Per-load factor (L,) in [0, 1] that fits one step's requests under every node limit."""
    under = cp.load_under
    with np.errstate(divide="ignore", invalid="ignore"):
        power = under.astype(float) @ request_kw
        node_f = np.where(power > cp.node_imp_kw[:, t], cp.node_imp_kw[:, t] / power, 1.0)
        factor = np.where(under, node_f[:, None], 1.0).min(axis=0, initial=1.0)
        for ph in range(3):
            coef = cp.load_phase_a_per_kw[:, ph]
            amps = under.astype(float) @ (coef * request_kw)
            limit = cp.node_phase_a[:, t]
            ph_f = np.where(amps > limit, limit / amps, 1.0)
            on_phase = under & (coef > 0)[None, :]
            factor = np.minimum(factor, np.where(on_phase, ph_f[:, None], 1.0).min(axis=0))
        # linear current limits: loads that add current share the limit; loads that relieve
        # it are not counted on (they may stop)
        pos = np.clip(cp.lin_coef, 0.0, None)
        lin = pos @ request_kw
        lin_f = np.where(lin > cp.lin_cap_a[:, t], cp.lin_cap_a[:, t] / lin, 1.0)
        factor = np.minimum(factor, np.where(pos > 0, lin_f[:, None], 1.0).min(axis=0, initial=1.0))
    return np.clip(np.nan_to_num(factor, nan=0.0), 0.0, 1.0)  # type: ignore[no-any-return]


def _floors_kw(cp: Compiled) -> FloatArray:
    """Per load, the smallest power it may be given when it charges (kW): its EVSE's minimum
    current, or its lowest allowed current; 0 for flexible loads."""
    out = np.zeros(len(cp.load_is_session))
    for ld in np.nonzero(cp.load_is_session)[0]:
        evse = cp.problem.evses[int(cp.load_evse[ld])]
        steps = allowed_currents(evse)
        lowest = evse.min_current_a if steps is None or len(steps) < 2 else steps[1]
        out[ld] = evse.power_w(lowest) / 1000.0
    return out


def _share(cp: Compiled, request_kw: FloatArray, t: int, executable: bool) -> FloatArray:
    alloc = request_kw * _factor(cp, request_kw, t)
    if executable:
        return round_steps_down(cp, alloc[:, None], 1)[:, 0]
    return alloc


def proportional_share(cp: Compiled, *, executable: bool = True) -> FloatArray:
    """Load power (L, T) in kW: proportional share of every node limit, step by step.

    Each step's request is the load's cap or what it still needs, whichever is less. With
    ``executable``, EVSE currents are rounded down to what the hardware accepts, and where
    the limits do not give every EV at least its minimum, the EVs with the least laxity
    share them and the others wait (0): never a current an EV does not charge at."""
    alloc = np.zeros_like(cp.load_pmax_kw)
    remaining = cp.load_need_kwh.copy()
    floors = _floors_kw(cp)
    for t in range(cp.n_steps):
        request = np.minimum(cp.load_pmax_kw[:, t], remaining / (cp.load_eff * cp.dt_h[t]))
        if not executable:
            alloc[:, t] = _share(cp, request, t, False)
        else:
            # an EV that charges at all is given at least its minimum
            asks = cp.load_is_session & (request > _EPS) & (cp.load_pmax_kw[:, t] >= floors)
            request = np.where(asks, np.maximum(request, floors), request)
            alloc[:, t] = _share(cp, request, t, True)
            if (asks & (alloc[:, t] < floors - _EPS)).any():
                alloc[:, t] = _who_charges(cp, request, asks, floors, remaining, t)
        remaining = np.clip(remaining - alloc[:, t] * cp.dt_h[t] * cp.load_eff, 0.0, None)
    return alloc


def _who_charges(
    cp: Compiled,
    request: FloatArray,
    asks: npt.NDArray[np.bool_],
    floors: FloatArray,
    remaining: FloatArray,
    t: int,
) -> FloatArray:
    """The share among the longest prefix of the EVs, least laxity first (time left in the
    horizon less the time their need takes at full power; ties in problem order), in which
    every one gets at least its minimum; the rest wait."""
    left_h = (cp.load_pmax_kw[:, t:] > 0).astype(float) @ cp.dt_h[t:]
    need_h = remaining / np.maximum(cp.load_eff * cp.load_pmax_kw[:, t], _EPS)
    candidates = [int(i) for i in np.nonzero(asks)[0]]
    order = sorted(candidates, key=lambda i: (float(left_h[i] - need_h[i]), i))

    def share(m: int) -> FloatArray:
        req = request.copy()
        req[order[m:]] = 0.0
        return _share(cp, req, t, True)

    def fits(m: int) -> bool:
        got = share(m)
        return bool((got[order[:m]] >= floors[order[:m]] - _EPS).all())

    lo, hi = 0, len(order)  # fits(lo) holds; find the largest m that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return share(lo)
