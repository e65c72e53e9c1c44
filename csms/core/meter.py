"""Meter value normalization to the core's units.

Stations report energy in Wh or kWh, power in W or kW, with an optional decimal multiplier
(2.0.1 ``unitOfMeasure.multiplier``). The core keeps W, Wh, A, V, %, var, varh, VA, Hz and
Celsius; the raw value and unit stay on the sample.
"""

from __future__ import annotations

import math
from datetime import datetime

from csms.domain import MeterSample
from csms.quantities import MAX_ENERGY_WH

__all__ = ["DEFAULT_MEASURAND", "default_unit", "normalize_sample", "register_wh"]

DEFAULT_MEASURAND = "Energy.Active.Import.Register"

#: the largest magnitude a sample of any measurand can have, in the core's units (an energy
#: register of 1 TWh); a value beyond it, or one a multiplier overflows, is not a reading
MAX_SAMPLE = MAX_ENERGY_WH

#: raw unit -> (normalized unit, factor)
_UNITS: dict[str, tuple[str, float]] = {
    "Wh": ("Wh", 1.0),
    "kWh": ("Wh", 1000.0),
    "W": ("W", 1.0),
    "kW": ("W", 1000.0),
    "varh": ("varh", 1.0),
    "kvarh": ("varh", 1000.0),
    "var": ("var", 1.0),
    "kvar": ("var", 1000.0),
    "VA": ("VA", 1.0),
    "kVA": ("VA", 1000.0),
    "A": ("A", 1.0),
    "V": ("V", 1.0),
    "Percent": ("%", 1.0),
    "%": ("%", 1.0),
    "Hz": ("Hz", 1.0),
    "Celsius": ("Celsius", 1.0),
    "K": ("K", 1.0),
    "Fahrenheit": ("Fahrenheit", 1.0),
    "RPM": ("RPM", 1.0),
    "ASU": ("ASU", 1.0),
    "B": ("B", 1.0),
    "dBm": ("dBm", 1.0),
    "deg": ("deg", 1.0),
    "kg": ("kg", 1.0),
    "lx": ("lx", 1.0),
    "m": ("m", 1.0),
    "ms2": ("ms2", 1.0),
    "N": ("N", 1.0),
    "Ohm": ("Ohm", 1.0),
    "kPa": ("kPa", 1.0),
    "s": ("s", 1.0),
}

_DEFAULT_UNITS = (
    ("Energy.Reactive", "varh"),
    ("Energy.Apparent", "VA"),
    ("Energy", "Wh"),
    ("Power.Active", "W"),
    ("Power.Offered", "W"),
    ("Power.Reactive", "var"),
    ("Power.Factor", ""),
    ("Current", "A"),
    ("Voltage", "V"),
    ("SoC", "Percent"),
    ("Frequency", "Hz"),
    ("Temperature", "Celsius"),
    ("RPM", "RPM"),
)


def default_unit(measurand: str) -> str:
    """The unit OCPP implies when a sample names none (Wh for energy registers, ...)."""
    for prefix, unit in _DEFAULT_UNITS:
        if measurand.startswith(prefix):
            return unit
    return "Wh"


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
    norm_unit, factor = _UNITS.get(raw_unit, (raw_unit, 1.0))
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
