"""Telemetry's check of meter samples: normalize what can be normalized, reject the rest.

A station may send a measurand in the wrong case, a value in kWh, a temperature in Kelvin:
those are stored in the schema's unit. An unknown measurand, a unit that cannot belong to the
measurand, a value that is not a finite number, or a timestamp far in the future or past is
rejected from telemetry with one of the :class:`Reject` reasons (counted and logged by the
pipeline). This never touches the OCPP answer: it runs after the core has acknowledged.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

__all__ = [
    "MEASURAND_UNITS",
    "Reject",
    "check_time",
    "normalize_measurand",
    "normalize_value",
    "to_number",
    "unit_conversion",
]


class Reject(enum.StrEnum):
    """Why a point did not enter telemetry."""

    UNKNOWN_MEASURAND = "unknown_measurand"
    UNIT_MISMATCH = "unit_mismatch"
    NOT_A_NUMBER = "not_a_number"
    TIMESTAMP_FUTURE = "timestamp_future"
    TIMESTAMP_PAST = "timestamp_past"
    BUFFER_FULL = "buffer_full"
    ENCODE_ERROR = "encode_error"


_WH, _VARH, _VAH = "Wh", "varh", "VAh"
_W, _VAR, _VA = "W", "var", "VA"

#: Every OCPP 1.6 / 2.0.1 measurand and the unit telemetry stores it in.
MEASURAND_UNITS: dict[str, str] = {
    "Current.Export": "A",
    "Current.Import": "A",
    "Current.Offered": "A",
    "Energy.Active.Export.Register": _WH,
    "Energy.Active.Import.Register": _WH,
    "Energy.Reactive.Export.Register": _VARH,
    "Energy.Reactive.Import.Register": _VARH,
    "Energy.Active.Export.Interval": _WH,
    "Energy.Active.Import.Interval": _WH,
    "Energy.Active.Net": _WH,
    "Energy.Reactive.Export.Interval": _VARH,
    "Energy.Reactive.Import.Interval": _VARH,
    "Energy.Reactive.Net": _VARH,
    "Energy.Apparent.Net": _VAH,
    "Energy.Apparent.Import": _VAH,
    "Energy.Apparent.Export": _VAH,
    "Frequency": "Hz",
    "Power.Active.Export": _W,
    "Power.Active.Import": _W,
    "Power.Factor": "",
    "Power.Offered": _W,
    "Power.Reactive.Export": _VAR,
    "Power.Reactive.Import": _VAR,
    "RPM": "RPM",
    "SoC": "Percent",
    "Temperature": "Celsius",
    "Voltage": "V",
}

_BY_LOWER = {name.lower(): name for name in MEASURAND_UNITS}


def _scale(factor: float) -> Callable[[float], float]:
    return lambda v: v * factor


def _identity(v: float) -> float:
    return v


#: (unit as sent, case-insensitive) -> (schema unit, conversion)
_UNIT_ALIASES: dict[str, tuple[str, Callable[[float], float]]] = {
    "wh": (_WH, _identity),
    "kwh": (_WH, _scale(1000.0)),
    "mwh": (_WH, _scale(1_000_000.0)),
    "varh": (_VARH, _identity),
    "kvarh": (_VARH, _scale(1000.0)),
    "vah": (_VAH, _identity),
    "kvah": (_VAH, _scale(1000.0)),
    "w": (_W, _identity),
    "kw": (_W, _scale(1000.0)),
    "mw": (_W, _scale(1_000_000.0)),
    "var": (_VAR, _identity),
    "kvar": (_VAR, _scale(1000.0)),
    "va": (_VA, _identity),
    "kva": (_VA, _scale(1000.0)),
    "a": ("A", _identity),
    "ma": ("A", _scale(0.001)),
    "v": ("V", _identity),
    "kv": ("V", _scale(1000.0)),
    "hz": ("Hz", _identity),
    "percent": ("Percent", _identity),
    "%": ("Percent", _identity),
    "celsius": ("Celsius", _identity),
    "c": ("Celsius", _identity),
    "k": ("Celsius", lambda v: v - 273.15),
    "kelvin": ("Celsius", lambda v: v - 273.15),
    "fahrenheit": ("Celsius", lambda v: (v - 32.0) * 5.0 / 9.0),
    "f": ("Celsius", lambda v: (v - 32.0) * 5.0 / 9.0),
    "rpm": ("RPM", _identity),
}


def normalize_measurand(measurand: str | None) -> str | None:
    """The schema spelling of a measurand (``None`` = OCPP's default energy register);
    ``None`` back if it is not a measurand telemetry knows."""
    if not measurand:
        return "Energy.Active.Import.Register"
    if measurand in MEASURAND_UNITS:
        return measurand
    return _BY_LOWER.get(measurand.strip().lower())


def unit_conversion(
    measurand: str, unit: str | None
) -> tuple[Callable[[float], float] | None, str] | Reject:
    """``(conversion, schema unit)`` for a known measurand sent in ``unit`` (conversion
    ``None`` = the value is already in the schema unit), or why it cannot be stored.

    ``unit`` empty means the measurand's own unit (OCPP's default). Power.Factor is unitless.
    """
    expected = MEASURAND_UNITS[measurand]
    if not unit or unit == expected:
        return None, expected
    alias = _UNIT_ALIASES.get(unit.strip().lower())
    if alias is None or alias[0] != expected:
        return Reject.UNIT_MISMATCH
    return (None if alias[1] is _identity else alias[1]), expected


def to_number(value: object) -> float | Reject:
    """A finite float from a number or numeric text, or ``NOT_A_NUMBER``."""
    number: float
    if isinstance(value, bool):
        return Reject.NOT_A_NUMBER
    if isinstance(value, float | int):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return Reject.NOT_A_NUMBER
    else:
        return Reject.NOT_A_NUMBER
    if not math.isfinite(number):
        return Reject.NOT_A_NUMBER
    return number


def normalize_value(measurand: str, value: object, unit: str | None) -> tuple[float, str] | Reject:
    """``(value, unit)`` in the schema's unit for a known measurand, or why not."""
    number = to_number(value)
    if isinstance(number, Reject):
        return number
    conversion = unit_conversion(measurand, unit)
    if isinstance(conversion, Reject):
        return conversion
    convert, schema_unit = conversion
    return (number if convert is None else convert(number)), schema_unit


def check_time(time_ns: int, now_ns: int, *, max_future_ns: int, max_past_ns: int) -> Reject | None:
    """A reason when a timestamp is too far ahead of or behind ``now``, else ``None``."""
    if time_ns - now_ns > max_future_ns:
        return Reject.TIMESTAMP_FUTURE
    if now_ns - time_ns > max_past_ns:
        return Reject.TIMESTAMP_PAST
    return None
