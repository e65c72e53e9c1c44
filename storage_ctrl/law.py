"""The storage control law: ``step(measurements, plan, limits, now) -> Decision``.

Pure: no I/O, no clock of its own, no state between calls but what the caller passes in.
The central system runs it every few seconds per site on top of the plan.

Each step, for every unit it may count on (a fresh reading, no alarm):

1. start from the planned setpoint, clamped to what the unit can do over the next interval
   (rating, state of charge with the plan's reserve kept, ramp from its measured power);
2. predict the site import for the next interval with those setpoints; units it may not
   count on are assumed to stop discharging and keep charging (worst case for the import);
3. **peak shaving**: import above the limit in force (less the margin) is taken from the
   units' discharge headroom, which now may use the reserve down to the minimum SoC; what
   the units cannot take is returned as ``ev_reduction_w`` for the EV limits to absorb;
4. **PV absorption**: export beyond the export limit (or any export, when the plan says it
   is worth less than storing) is charged into the units' headroom; what they cannot take
   is returned as ``export_excess_w``.

Headroom is shared between units in proportion to each one's headroom, so every unit
reaches its bound at the same time. The bounds of the state of charge and the rating always
win over the ramp: a unit at its floor stops discharging even faster than its ramp allows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from storage_ctrl.inputs import (
    ControlSettings,
    Measurements,
    PlanNow,
    SiteLimits,
    UnitRating,
    UnitReading,
)

__all__ = ["Correction", "Decision", "Excluded", "Reason", "UnitSetpoint", "step"]

_EPS_W = 1e-6


class Reason(StrEnum):
    """Why a unit's setpoint is what it is (several may apply)."""

    PLAN = "plan"
    PEAK_SHAVING = "peak_shaving"
    PV_ABSORPTION = "pv_absorption"
    RESERVE = "reserve"
    SOC_LIMIT = "soc_limit"
    POWER_LIMIT = "power_limit"
    RAMP_LIMIT = "ramp_limit"


class Excluded(StrEnum):
    """Why a unit is not counted on this step."""

    NO_READING = "no_reading"
    STALE = "stale"
    ALARM = "alarm"


@dataclass(frozen=True)
class UnitSetpoint:
    unit_id: str
    setpoint_w: float
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Correction:
    """An input the law changed to stay safe (logged and counted by the caller)."""

    field: str
    given: float
    used: float


@dataclass(frozen=True)
class Decision:
    """The outcome of one step."""

    setpoints: Mapping[str, UnitSetpoint]
    """For every unit counted on; the caller sends these as short schedules."""
    excluded: Mapping[str, Excluded]
    """Units not counted on; the caller sends them Idle where it can reach them."""
    expected_import_w: float
    """Site import predicted for the next interval with these setpoints, before any EV
    reduction."""
    ev_reduction_w: float
    """How much the EV limits must take off so the import limit in force holds."""
    export_excess_w: float
    """Export beyond the export limit the units could not absorb (PV to curtail)."""
    corrections: tuple[Correction, ...] = ()
    unknown_units: tuple[str, ...] = field(default=())
    """Readings of units without a rating: ignored (and reported)."""


@dataclass
class _Unit:
    rating: UnitRating
    reading: UnitReading
    high: list[tuple[float, Reason]]  # candidate upper bounds (charge) with what sets each
    low: list[tuple[float, Reason]]  # candidate lower bounds (discharge), down to the min SoC
    reserve_w: float  # lower bound while only following the plan (keeps the reserve)
    setpoint_w: float = 0.0
    reasons: list[Reason] = field(default_factory=list)

    @property
    def high_w(self) -> float:
        return min(bound for bound, _ in self.high)

    @property
    def low_w(self) -> float:
        return max(bound for bound, _ in self.low)

    @property
    def plan_low_w(self) -> float:
        return max(self.low_w, min(self.reserve_w, self.high_w))

    def clip(self, high: bool) -> None:
        """Name the bound the setpoint was stopped at."""
        bounds = self.high if high else [*self.low, (self.reserve_w, Reason.RESERVE)]
        for bound, why in bounds:
            if math.isclose(bound, self.setpoint_w, rel_tol=1e-9, abs_tol=1e-6):
                self.reasons.append(why)
                return


def step(
    measurements: Measurements,
    plan: PlanNow,
    limits: SiteLimits,
    now: datetime,
    *,
    ratings: Iterable[UnitRating],
    previous_w: Mapping[str, float] | None = None,
    settings: ControlSettings | None = None,
) -> Decision:
    """One control step. ``previous_w`` holds the setpoints last sent (a silent unit may
    still be following one); ``ratings`` names every unit of the site."""
    settings = settings or ControlSettings()
    previous_w = previous_w or {}
    corrections: list[Correction] = []
    units: dict[str, _Unit] = {}
    excluded: dict[str, Excluded] = {}
    # The change in import the excluded units may still cause: their discharge is not
    # counted on and their charging (or the last setpoint they were sent) may go on.
    excluded_delta_w = 0.0
    ratings = list(ratings)
    for rating in ratings:
        reading = measurements.units.get(rating.unit_id)
        why = _exclusion(reading, now, settings)
        if why is not None:
            excluded[rating.unit_id] = why
            current_w = reading.power_w if reading is not None else 0.0
            worst_w = max(current_w, previous_w.get(rating.unit_id, 0.0), 0.0)
            excluded_delta_w += worst_w - current_w
            continue
        assert reading is not None
        units[rating.unit_id] = _bounded_unit(rating, reading, plan, settings, corrections)

    expected_w = (
        measurements.site_import_w
        + sum(u.setpoint_w - u.reading.power_w for u in units.values())
        + excluded_delta_w
    )
    ceiling_w = limits.import_limit_w - settings.margin_w
    ev_reduction_w = 0.0
    export_excess_w = 0.0
    if expected_w > ceiling_w:
        taken_w = _share(units.values(), -(expected_w - ceiling_w), Reason.PEAK_SHAVING)
        expected_w += taken_w
        ev_reduction_w = max(0.0, expected_w - ceiling_w)
    else:
        floor_w = 0.0 if plan.absorb_surplus else -limits.export_limit_w
        if expected_w < floor_w:
            given_w = _share(units.values(), floor_w - expected_w, Reason.PV_ABSORPTION)
            expected_w += given_w
            if expected_w < -limits.export_limit_w:
                export_excess_w = -limits.export_limit_w - expected_w

    unit_ids = {r.unit_id for r in ratings}
    return Decision(
        setpoints={
            unit_id: UnitSetpoint(unit_id, _clean(u.setpoint_w), tuple(dict.fromkeys(u.reasons)))
            for unit_id, u in units.items()
        },
        excluded=excluded,
        expected_import_w=expected_w,
        ev_reduction_w=ev_reduction_w,
        export_excess_w=export_excess_w,
        corrections=tuple(corrections),
        unknown_units=tuple(sorted(set(measurements.units) - unit_ids)),
    )


def _exclusion(
    reading: UnitReading | None, now: datetime, settings: ControlSettings
) -> Excluded | None:
    if reading is None:
        return Excluded.NO_READING
    if (now - reading.measured_at).total_seconds() > settings.stale_after_s:
        return Excluded.STALE
    if reading.alarm:
        return Excluded.ALARM
    return None


def _bounded_unit(
    rating: UnitRating,
    reading: UnitReading,
    plan: PlanNow,
    settings: ControlSettings,
    corrections: list[Correction],
) -> _Unit:
    """The unit's feasible power range this interval and its planned setpoint inside it."""
    uid = rating.unit_id
    soc_wh = reading.soc_wh
    if soc_wh > rating.capacity_wh:
        corrections.append(Correction(f"units[{uid}].soc_wh", soc_wh, rating.capacity_wh))
        soc_wh = rating.capacity_wh
    hours = settings.interval_s / 3600.0
    # Power the unit may draw or give so that its SoC stays within bounds by the interval's end.
    charge_room_w = max(0.0, rating.upper_soc_wh - soc_wh) / (hours * rating.charge_efficiency)
    discharge_room_w = max(0.0, soc_wh - rating.min_soc_wh) * rating.discharge_efficiency / hours
    reserve_floor_wh = min(rating.upper_soc_wh, rating.min_soc_wh + plan.reserve_wh.get(uid, 0.0))
    plan_room_w = max(0.0, soc_wh - reserve_floor_wh) * rating.discharge_efficiency / hours
    high = [(rating.max_charge_w, Reason.POWER_LIMIT), (charge_room_w, Reason.SOC_LIMIT)]
    low = [(-rating.max_discharge_w, Reason.POWER_LIMIT), (-discharge_room_w, Reason.SOC_LIMIT)]
    if rating.ramp_w_per_s is not None:
        # The ramp narrows the range from the measured power, but never past the physical
        # range, which always holds 0: a unit may always stop, and must at its SoC bounds.
        phys_low, phys_high = max(b for b, _ in low), min(b for b, _ in high)
        step_w = rating.ramp_w_per_s * settings.interval_s
        ramp_low = min(max(reading.power_w - step_w, phys_low), phys_high)
        ramp_high = max(min(reading.power_w + step_w, phys_high), phys_low)
        high.append((ramp_high, Reason.RAMP_LIMIT))
        low.append((ramp_low, Reason.RAMP_LIMIT))
    unit = _Unit(rating, reading, high, low, reserve_w=-plan_room_w)

    planned_w = plan.setpoints_w.get(uid, 0.0)
    rated_w = min(max(planned_w, -rating.max_discharge_w), rating.max_charge_w)
    if rated_w != planned_w:
        corrections.append(Correction(f"plan.setpoints_w[{uid}]", planned_w, rated_w))
    unit.reasons.append(Reason.PLAN)
    unit.setpoint_w = min(max(planned_w, unit.plan_low_w), unit.high_w)
    if unit.setpoint_w != planned_w:
        unit.clip(high=planned_w > unit.setpoint_w)
    return unit


def _share(units: Iterable[_Unit], need_w: float, why: Reason) -> float:
    """Move the units' setpoints by ``need_w`` in total (negative: more discharge), each in
    proportion to its headroom in that direction; returns the change achieved."""
    units = list(units)
    if need_w < 0:
        room = [max(0.0, u.setpoint_w - u.low_w) for u in units]
    else:
        room = [max(0.0, u.high_w - u.setpoint_w) for u in units]
    total = sum(room)
    if total <= _EPS_W or abs(need_w) <= _EPS_W:
        return 0.0
    fraction = min(1.0, abs(need_w) / total)
    moved = 0.0
    for unit, r in zip(units, room, strict=True):
        if r * fraction <= _EPS_W:
            continue
        if fraction >= 1.0:
            # exactly at the bound, without rounding drift
            unit.setpoint_w = unit.high_w if need_w > 0 else unit.low_w
        else:
            unit.setpoint_w += math.copysign(r * fraction, need_w)
        unit.reasons.append(why)
        if fraction >= 1.0:
            unit.clip(high=need_w > 0)
        moved += math.copysign(r * fraction, need_w)
    return moved


def _clean(value_w: float) -> float:
    return 0.0 if abs(value_w) < _EPS_W else value_w
