from __future__ import annotations

import math

import pytest

from csms.telemetry.normalize import (
    Reject,
    check_time,
    normalize_value,
)


@pytest.mark.parametrize(
    ("measurand", "value", "unit", "expected"),
    [
        ("Energy.Active.Import.Register", 12.5, "kWh", (12500.0, "Wh")),
        ("Energy.Active.Import.Register", 12.5, "Wh", (12.5, "Wh")),
        ("Energy.Active.Import.Register", 3, None, (3.0, "Wh")),
        ("Power.Active.Import", 7.4, "kW", (7400.0, "W")),
        ("Current.Import", "16.0", "A", (16.0, "A")),
        ("Current.Import", 1500, "mA", (1.5, "A")),
        ("SoC", 80, "%", (80.0, "Percent")),
        ("Temperature", 300.15, "K", (pytest.approx(27.0), "Celsius")),
        ("Temperature", 212, "Fahrenheit", (100.0, "Celsius")),
        ("Power.Factor", 0.9, "", (0.9, "")),
        ("Voltage", 230, "V", (230.0, "V")),
    ],
)
def test_values_are_stored_in_the_schema_unit(
    measurand: str, value: object, unit: str | None, expected: tuple[object, str]
) -> None:
    assert normalize_value(measurand, value, unit) == expected


@pytest.mark.parametrize(
    ("measurand", "value", "unit", "reason"),
    [
        ("Voltage", 230, "kWh", Reject.UNIT_MISMATCH),
        ("Energy.Active.Import.Register", 1, "furlongs", Reject.UNIT_MISMATCH),
        ("Power.Active.Import", "lots", "W", Reject.NOT_A_NUMBER),
        ("Power.Active.Import", math.nan, "W", Reject.NOT_A_NUMBER),
        ("Power.Active.Import", math.inf, "W", Reject.NOT_A_NUMBER),
        ("Power.Active.Import", True, "W", Reject.NOT_A_NUMBER),
        ("Power.Active.Import", None, "W", Reject.NOT_A_NUMBER),
    ],
)
def test_bad_values_are_rejected_with_a_reason(
    measurand: str, value: object, unit: str, reason: Reject
) -> None:
    assert normalize_value(measurand, value, unit) is reason


def test_time_window() -> None:
    kw = {"max_future_ns": 300, "max_past_ns": 1000}
    assert check_time(1300, 1000, **kw) is None
    assert check_time(1301, 1000, **kw) is Reject.TIMESTAMP_FUTURE
    assert check_time(0, 1000, **kw) is None
    assert check_time(-1, 1000, **kw) is Reject.TIMESTAMP_PAST
