"""Meter value normalization to the core's units.

Stations report energy in Wh or kWh, power in W or kW, with an optional decimal multiplier
(2.0.1 ``unitOfMeasure.multiplier``). The core scales a sample to its base unit (W, Wh, A,
V, %, var, varh, VA, VAh, Hz, Celsius) with the vocabulary's factors
(:func:`chargegrid.measurands.scaling`); the raw value and unit stay on the sample.
"""

from __future__ import annotations

import math
from datetime import datetime

from chargegrid.measurands import DEFAULT_MEASURAND, default_unit, scaling
from csms.domain import MeterSample
from csms.quantities import MAX_ENERGY_WH

__all__ = ["normalize_sample", "register_wh"]

#: the largest magnitude a sample of any measurand can have, in the core's units (an energy
#: register of 1 TWh); a value beyond it, or one a multiplier overflows, is not a reading
MAX_SAMPLE = MAX_ENERGY_WH


def normalize_sample(
    *,
    timestamp: datetime,
    value: str | float | int,
    measurand: str | None = None,
    unit: str | None = None,
    multiplier: int = 0,
    phase: str | None = None,
    location: str | None = None,
    context: str | None = None,
) -> MeterSample | None:
    """One normalized sample, or None when the value is not a number (signed data) or is
    beyond any quantity's range once scaled (``MAX_SAMPLE``)."""
    name = measurand or DEFAULT_MEASURAND
    raw_unit = unit if unit is not None else default_unit(name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    norm_unit, factor = scaling(raw_unit)
    try:
        number = number * factor * (10.0**multiplier)
    except OverflowError:  # a multiplier no quantity has
        return None
    if not math.isfinite(number) or abs(number) > MAX_SAMPLE:
        return None  # out of every quantity's range (csms.quantities): as unreadable as NaN
    if factor != 1.0 or multiplier:
        number = round(number, 6)
    return MeterSample(
        timestamp=timestamp,
        measurand=name,
        value=number,
        unit=norm_unit,
        phase=phase,
        location=location,
        context=context,
        raw_value=str(value),
        raw_unit=raw_unit,
    )


def register_wh(samples: tuple[MeterSample, ...] | list[MeterSample]) -> float | None:
    """The energy import register (Wh) among ``samples``: the total (no phase), outlet side
    preferred; None when absent."""
    best: MeterSample | None = None
    for s in samples:
        if s.measurand != DEFAULT_MEASURAND or s.unit != "Wh" or s.phase is not None:
            continue
        if best is None or (
            s.location in (None, "Outlet") and best.location not in (None, "Outlet")
        ):
            best = s
    return None if best is None else best.value
