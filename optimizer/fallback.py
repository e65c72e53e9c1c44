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
from optimizer.rounding import round_steps_down

__all__ = ["proportional_share"]

FloatArray = npt.NDArray[np.float64]


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


def proportional_share(cp: Compiled, *, executable: bool = True) -> FloatArray:
    """Load power (L, T) in kW: proportional share of every node limit, step by step.

    Each step's request is the load's cap or what it still needs, whichever is less. With
    ``executable``, EVSE currents are rounded down to what the hardware accepts."""
    alloc = np.zeros_like(cp.load_pmax_kw)
    remaining = cp.load_need_kwh.copy()
    for t in range(cp.n_steps):
        request = np.minimum(cp.load_pmax_kw[:, t], remaining / (cp.load_eff * cp.dt_h[t]))
        alloc[:, t] = request * _factor(cp, request, t)
        if executable:
            alloc[:, t : t + 1] = round_steps_down(cp, alloc[:, t : t + 1], 1)
        remaining = np.clip(remaining - alloc[:, t] * cp.dt_h[t] * cp.load_eff, 0.0, None)
    return alloc
