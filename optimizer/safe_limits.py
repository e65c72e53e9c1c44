"""The power each EVSE of a site may always draw, whatever the others do.

:func:`safe_evse_limits_w` sizes the safe defaults a station keeps if the CSMS goes away
(TxDefaultProfiles and the station maximum, built by the CSMS's planning from these figures):
every EVSE of the site drawing at once stays under every node limit for the whole horizon.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta

from optimizer.compiled import compile_problem
from optimizer.fallback import proportional_share
from optimizer.inputs import Session
from optimizer.problem import Problem

__all__ = ["safe_evse_limits_w"]


def safe_evse_limits_w(problem: Problem) -> dict[str, float]:
    """Per EVSE, the power it may always draw with every EVSE of the site drawing at once.

    Proportional share of every node limit (power and phase currents) with each EVSE
    asking for its full power, at the strictest step of the horizon."""
    grid = problem.grid
    far = grid.end + timedelta(days=1)
    sessions = tuple(
        Session(
            session_id=f"safe:{evse.evse_id}",
            evse_id=evse.evse_id,
            arrival=grid.start - timedelta(seconds=1),
            departure=far,
            energy_requested_wh=evse.max_power_w * (far - grid.start).total_seconds() / 3600.0,
        )
        for evse in problem.evses
    )
    everyone = dataclasses.replace(problem, sessions=sessions, flexible_loads=())
    cp = compile_problem(everyone)
    alloc = proportional_share(cp)
    return {
        evse.evse_id: float(alloc[i].min(initial=math.inf)) * 1000.0
        for i, evse in enumerate(problem.evses)
    }
