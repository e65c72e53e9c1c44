"""Telemetry's check of meter samples: normalize what can be normalized, reject the rest.

A station may send a measurand in the wrong case, a value in kWh, a temperature in Kelvin:
those are stored in the schema's unit. An unknown measurand, a unit that cannot belong to the
measurand, a value that is not a finite number, or a timestamp far in the future or past is
rejected from telemetry with one of the :class:`Reject` reasons (counted and logged by the
pipeline). This never touches the OCPP answer: it runs after the core has acknowledged. The
names, units and conversions are the shared vocabulary's (:mod:`chargegrid.measurands`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

from chargegrid.measurands import conversion

__all__ = [
    "Reject",
    "check_time",
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


def unit_conversion(
    measurand: str, unit: str | None
) -> tuple[Callable[[float], float] | None, str] | Reject:
    """``(conversion, schema unit)`` for a known measurand sent in ``unit`` (conversion
    ``None`` = the value is already in the schema unit), or why it cannot be stored.

    ``unit`` empty means the measurand's own unit (OCPP's default). Power.Factor is unitless.
    """
    known = conversion(measurand, unit)
    return Reject.UNIT_MISMATCH if known is None else known


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
