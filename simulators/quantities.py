"""The device models' boundary checks: every number finite and in range, or
:class:`~simulators.exceptions.InvalidParameter` naming the field."""

from __future__ import annotations

import math
from datetime import datetime

from simulators.exceptions import InvalidParameter

__all__ = ["aware", "finite", "fraction", "integer", "non_negative", "positive"]


def finite(field: str, value: float) -> float:
    """``value`` as a float when it is a finite real number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParameter(field, f"must be a finite number, got {value!r}")
    return float(value)


def non_negative(field: str, value: float) -> float:
    number = finite(field, value)
    if number < 0.0:
        raise InvalidParameter(field, f"must not be negative, got {number:g}")
    return number


def positive(field: str, value: float) -> float:
    number = finite(field, value)
    if number <= 0.0:
        raise InvalidParameter(field, f"must be positive, got {number:g}")
    return number


def fraction(field: str, value: float, *, allow_zero: bool = True) -> float:
    """A fraction in [0, 1] (or (0, 1] without ``allow_zero``: efficiencies)."""
    number = finite(field, value)
    low_ok = number >= 0.0 if allow_zero else number > 0.0
    if not low_ok or number > 1.0:
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise InvalidParameter(field, f"must be in {interval}, got {number:g}")
    return number


def integer(field: str, value: int, *, low: int | None = None) -> int:
    """An int (not a bool), at least ``low`` when given."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(field, f"must be an integer, got {value!r}")
    if low is not None and value < low:
        raise InvalidParameter(field, f"must be at least {low}, got {value}")
    return value


def aware(field: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidParameter(field, "must be a timezone-aware datetime (UTC)")
    return value
