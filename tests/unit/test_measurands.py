"""The measurand vocabulary: one table, read by the core's rule and telemetry's rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chargegrid.measurands import (
    MEASURAND_UNITS,
    SAMPLE_SPELLING,
    UNITS,
    Measurand,
    canonical_measurand,
    conversion,
    default_unit,
    scaling,
)
from csms.core import normalize_sample
from csms.telemetry.normalize import Reject, normalize_value

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_every_measurand_name_has_a_unit() -> None:
    names = {v for k, v in vars(Measurand).items() if k.isupper()}
    assert names == set(MEASURAND_UNITS)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Power.Active.Import", "Power.Active.Import"),
        ("power.active.import", "Power.Active.Import"),
        ("  SOC ", "SoC"),
        (None, "Energy.Active.Import.Register"),
        ("", "Energy.Active.Import.Register"),
        ("Power.Wishful", None),
    ],
)
def test_measurand_spelling(sent: str | None, stored: str | None) -> None:
    assert canonical_measurand(sent) == stored


@pytest.mark.parametrize(
    ("measurand", "unit"),
    [
        ("Energy.Active.Import.Register", "Wh"),
        ("Energy.Reactive.Import.Interval", "varh"),
        ("Energy.Apparent.Net", "VAh"),  # the core said VA, which telemetry refused
        ("Power.Factor", ""),
        ("SoC", "Percent"),
        ("Temperature", "Celsius"),
        # names OCPP does not define: their family's unit, else Wh
        ("Power.Active.Vendor", "W"),
        ("Power.Reactive.Vendor", "var"),
        ("Voltage.L1", "V"),
        ("SoC.EV", "Percent"),
        ("Power.Vendor", "Wh"),
        ("Energy.Vendor", "Wh"),
        ("Vendor", "Wh"),
    ],
)
def test_default_units(measurand: str, unit: str) -> None:
    assert default_unit(measurand) == unit


def test_the_core_scales_and_telemetry_converts_to_the_same_base() -> None:
    """For every spelling the core scales, telemetry's conversion agrees: same base unit
    (``%`` being the core's spelling of Percent), same factor."""
    for spelling, unit in UNITS.items():
        core_unit, factor = scaling(spelling)
        if unit.shift is not None:
            assert (core_unit, factor) == (spelling, 1.0)  # K, Fahrenheit: kept as sent
            continue
        assert SAMPLE_SPELLING.get(unit.base, unit.base) == core_unit
        for measurand, expected in MEASURAND_UNITS.items():
            if expected != unit.base:
                continue
            got = conversion(measurand, spelling)
            assert got is not None and got[1] == unit.base
            convert = got[0]
            assert (12.5 if convert is None else convert(12.5)) == 12.5 * factor


def test_unknown_units_pass_the_core_and_not_telemetry() -> None:
    assert scaling("furlongs") == ("furlongs", 1.0)
    assert scaling("kwh") == ("kwh", 1.0)  # the core keeps spellings as sent (0506)
    assert conversion("Energy.Active.Import.Register", "kwh") is not None
    assert conversion("Energy.Active.Import.Register", "furlongs") is None
    assert conversion("Voltage", "kWh") is None


@pytest.mark.parametrize(
    ("measurand", "value", "unit"),
    [
        (m, 12.5, u)
        for m in MEASURAND_UNITS
        for u in (None, *UNITS)
        if u is None or UNITS[u].base == MEASURAND_UNITS[m]
    ],
)
def test_telemetry_stores_a_core_sample_as_it_stores_the_raw_one(
    measurand: str, value: float, unit: str | None
) -> None:
    """A sample the core normalized lands in telemetry with the value telemetry would give
    the raw reading: the two rules never disagree on a unit."""
    sample = normalize_sample(timestamp=T0, value=value, measurand=measurand, unit=unit)
    assert sample is not None
    from_core = normalize_value(measurand, sample.value, sample.unit)
    from_raw = normalize_value(measurand, value, unit)
    assert not isinstance(from_core, Reject)
    assert not isinstance(from_raw, Reject)
    assert from_core[1] == from_raw[1] == MEASURAND_UNITS[measurand]
    assert from_core[0] == pytest.approx(from_raw[0], rel=1e-12)


@pytest.mark.parametrize(
    ("value", "unit", "measurand", "expected"),
    [
        ("1.5", "kWh", None, (1500.0, "Wh")),
        ("55", "Percent", "SoC", (55.0, "%")),  # the store's spelling of Percent
        ("300.15", "K", "Temperature", (300.15, "K")),  # shifts are telemetry's, not the core's
        ("2", "kVAh", "Energy.Apparent.Net", (2000.0, "VAh")),
        ("3", None, "Energy.Apparent.Net", (3.0, "VAh")),
        ("1500", "mA", "Current.Import", (1.5, "A")),
        ("7", "kwh", None, (7.0, "kwh")),  # a spelling OCPP does not use: kept as sent
    ],
)
def test_the_core_scales_by_the_vocabulary(
    value: str, unit: str | None, measurand: str | None, expected: tuple[float, str]
) -> None:
    sample = normalize_sample(timestamp=T0, value=value, unit=unit, measurand=measurand)
    assert sample is not None
    assert (sample.value, sample.unit) == expected
    assert sample.raw_unit == (unit if unit is not None else default_unit(sample.measurand))
