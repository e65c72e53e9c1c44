"""Field checks of the planner's inputs: each raises
:class:`~optimizer.exceptions.InvalidProblem` naming the field."""

from __future__ import annotations

import math
from datetime import datetime

from optimizer.exceptions import InvalidProblem

__all__ = [
    "aware", "efficiency", "finite", "identifier", "non_negative", "optional_non_negative",
    "positive", "prices", "window",
]  # fmt: skip


def finite(field: str, value: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidProblem(field, f"must be a finite number, got {value!r}")


def non_negative(field: str, value: float) -> None:
    finite(field, value)
    if value < 0:
        raise InvalidProblem(field, f"must not be negative, got {value!r}")


def positive(field: str, value: float) -> None:
    finite(field, value)
    if value <= 0:
        raise InvalidProblem(field, f"must be positive, got {value!r}")


def optional_non_negative(field: str, value: float | None) -> None:
    if value is not None:
        non_negative(field, value)


def aware(field: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidProblem(field, f"must be a timezone-aware datetime, got {value!r}")


def efficiency(field: str, value: float) -> None:
    finite(field, value)
    if not 0 < value <= 1:
        raise InvalidProblem(field, f"must be in (0, 1], got {value!r}")


def identifier(field: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidProblem(field, f"must be a non-empty string, got {value!r}")


def prices(field: str, values: tuple[float, ...] | None) -> None:
    if values is None:
        return
    for i, value in enumerate(values):
        finite(f"{field}[{i}]", value)


def window(start: datetime, end: datetime) -> None:
    aware("start", start)
    aware("end", end)
    if end <= start:
        raise InvalidProblem("end", "is not after start")
