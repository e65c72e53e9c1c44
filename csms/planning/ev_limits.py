"""What an EV takes at most (sans-I/O): its stated maximum power or, on AC, its stated
maximum current, else its fleet's figure; and, where its battery is known, its taper as the
straight line the optimizer plans with (decisions 0607, 0419)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from csms.planning.state import EvseState
from csms.sites.model import SessionDefaults

__all__ = ["Taper", "ev_max_w", "line_floor", "session_taper"]


@dataclass(frozen=True, slots=True)
class Taper:
    """The taper of one session as :class:`optimizer.Session` takes it (energies counted
    like ``energy_delivered_wh``), the request it leaves room for, and the line's start."""

    start_wh: float
    end_wh: float
    floor_w: float
    energy_requested_wh: float
    max_power_w: float


def line_floor(floor: float) -> float:
    """The end of the straight line the plan uses for a CC-CV taper whose acceptance falls
    linearly from the EV's maximum to zero at full but never below ``floor`` (a share of the
    maximum): the line from the maximum to ``line_floor(floor)`` at full takes as long to
    fill the battery as that curve. (A line through the curve's ends would plan the taper a
    quarter too fast at a 10 % floor; no straight line stays under the curve and still
    reaches full.)

    Filling the taper's energy R at maximum P takes (R/P)(ln(1/floor) + 1) on the curve and
    (R/P) ln(1/f) / (1 - f) on the line to f: solved for f by bisection."""
    if floor >= 1.0:
        return 1.0
    floor = max(floor, 1e-3)
    target = math.log(1.0 / floor) + 1.0
    lo, hi = 1e-9, floor  # the line's time falls as its end rises
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if math.log(1.0 / mid) / (1.0 - mid) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def session_taper(
    defaults: SessionDefaults,
    state: EvseState,
    *,
    energy_wh: float,
    peak_w: float,
) -> Taper | None:
    """The session's taper where its battery is known: the EV's capacity and bulk SoC from
    NotifyEVChargingNeeds (2.0.1 DC), else the fleet's ``battery_wh``/``taper_soc_pct``.
    The state of charge is the last one in meter values, else the one sent with the needs,
    else the one the fleet's request implies (``energy_wh`` ending at ``charge_to_pct``).
    ``peak_w`` is what the EV takes before the taper. ``None``: nothing known, or a battery
    that contradicts the energy already delivered (then the plan goes without a taper)."""
    needs = state.needs
    capacity = needs.capacity_wh if needs is not None and needs.capacity_wh else None
    capacity = capacity or defaults.battery_wh
    if capacity is None or peak_w <= 0:
        return None
    taper_soc = defaults.taper_soc_pct
    if needs is not None and needs.bulk_soc_pct is not None and 0 < needs.bulk_soc_pct < 100:
        taper_soc = needs.bulk_soc_pct
    if state.soc is not None:
        soc, at_wh = state.soc
    elif needs is not None and needs.soc_pct is not None and 0 <= needs.soc_pct <= 100:
        soc, at_wh = needs.soc_pct, state.needs_delivered_wh
    else:
        soc, at_wh = max(0.0, defaults.charge_to_pct - energy_wh / capacity * 100.0), 0.0
    delivered = state.delivered_wh
    full_wh = at_wh + (100.0 - soc) / 100.0 * capacity
    if full_wh <= delivered + 1.0:
        return None
    start_wh = at_wh + (taper_soc - soc) / 100.0 * capacity
    floor_w = peak_w * line_floor(defaults.taper_floor_pct / 100.0)
    line_w = peak_w
    if start_wh < 0.0:  # in the taper before the session began: the same line, from 0 Wh
        slope = (peak_w - floor_w) / (full_wh - start_wh)
        line_w, start_wh = peak_w + slope * start_wh, 0.0
    return Taper(
        start_wh=start_wh,
        end_wh=full_wh,
        floor_w=min(floor_w, line_w),
        energy_requested_wh=min(energy_wh, full_wh),
        max_power_w=line_w,
    )


#: AC energy transfer modes (OCPP 2.0.1 ``requestedEnergyTransfer``) and the phases they use
_AC_PHASES = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3}


def ev_max_w(ev: EvseState, defaults: SessionDefaults) -> float | None:
    """What the EV takes at most, where it or its fleet says (not what it was seen to take:
    decision 0606): its stated power, and on AC its stated current at the EVSE's voltage on
    the phases it charges on (the EVSE's, where the EV does not say)."""
    needs = ev.needs
    caps: list[float] = []
    if needs is not None and needs.max_power_w:
        caps.append(needs.max_power_w)
    if needs is not None and needs.max_current_a and not _dc(needs.energy_transfer_mode):
        phases = min(_AC_PHASES.get(needs.energy_transfer_mode or "", 3), ev.evse.n_phases)
        caps.append(needs.max_current_a * ev.evse.voltage_v * phases)
    return min(caps) if caps else defaults.max_power_w


def _dc(mode: str | None) -> bool:
    return mode is not None and mode.startswith("DC")
