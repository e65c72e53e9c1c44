from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulators.exceptions import InvalidParameter, ScenarioError
from simulators.pv import ClearSkyPV, CsvPV, load_pv_csv
from simulators.site_meter import SiteMeter

DAY = datetime(2026, 6, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def test_clear_sky_is_a_half_sine_peaking_at_solar_noon() -> None:
    pv = ClearSkyPV("pv", peak_w=100_000.0, sunrise_h=6.0, sunset_h=18.0, cloud_fraction=0.0)
    assert pv.power_w(at(12)) == pytest.approx(100_000.0)
    assert pv.power_w(at(9)) == pytest.approx(100_000.0 * math.sin(math.pi / 4))
    assert pv.power_w(at(5.9)) == 0.0
    assert pv.power_w(at(6)) == 0.0
    assert pv.power_w(at(18.5)) == 0.0
    assert pv.power_w(at(8)) == pytest.approx(pv.power_w(at(16)))


def test_utc_offset_moves_the_day() -> None:
    pv = ClearSkyPV("pv", peak_w=10_000.0, utc_offset_h=2.0, cloud_fraction=0.0)
    assert pv.power_w(at(10)) == pytest.approx(10_000.0)  # 12:00 local


def test_clouds_are_seeded_and_independent_of_the_order_of_questions() -> None:
    times = [at(6 + i / 12) for i in range(144)]
    a = ClearSkyPV("pv", peak_w=50_000.0, seed=3)
    b = ClearSkyPV("pv", peak_w=50_000.0, seed=3)
    forward = [a.power_w(t) for t in times]
    backward = [b.power_w(t) for t in reversed(times)][::-1]
    assert forward == backward
    other = [ClearSkyPV("pv", peak_w=50_000.0, seed=4).power_w(t) for t in times]
    assert other != forward
    shades = [a.shade(t) for t in times]
    cloudy = sum(1 for s in shades if s < 1.0)
    assert 0.1 * len(times) < cloudy < 0.5 * len(times)  # cloud_fraction 0.3
    assert min(shades) >= 0.3  # cloud_depth 0.7
    assert all(p <= a.clear_sky_w(t) + 1e-9 for p, t in zip(forward, times, strict=True))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("peak_w", -1.0),
        ("peak_w", math.nan),
        ("sunrise_h", 25.0),
        ("sunset_h", 5.0),
        ("cloud_fraction", 1.5),
        ("cloud_slot_s", 0.0),
        ("utc_offset_h", 20.0),
    ],
)
def test_pv_numbers_are_checked(field: str, value: float) -> None:
    with pytest.raises(InvalidParameter) as caught:
        ClearSkyPV("pv", **{"peak_w": 1000.0, field: value})  # type: ignore[arg-type]
    assert caught.value.field.startswith("pv[pv].")


def test_csv_profile_interpolates_and_is_zero_outside(tmp_path: Path) -> None:
    path = tmp_path / "pv.csv"
    path.write_text(
        "time,power_w\n2026-06-01T10:00:00Z,0\n2026-06-01T11:00:00Z,6000\n"
        "2026-06-01T12:00:00+00:00,3000\n",
        encoding="utf-8",
    )
    pv = load_pv_csv(path)
    assert pv.power_w(at(10.5)) == pytest.approx(3000.0)
    assert pv.power_w(at(11)) == pytest.approx(6000.0)
    assert pv.power_w(at(11.75)) == pytest.approx(3750.0)
    assert pv.power_w(at(12)) == pytest.approx(3000.0)
    assert pv.power_w(at(9)) == 0.0
    assert pv.power_w(at(13)) == 0.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("when,w\n", "row 1: needs the columns"),
        ("time,power_w\n2026-06-01T10:00:00Z,nan\n", "row 2: power_w: must be a finite"),
        ("time,power_w\n2026-06-01T10:00:00Z,-5\n", "row 2: power_w"),
        ("time,power_w\n2026-06-01T10:00:00Z,five\n", "row 2: power_w: not a number"),
        ("time,power_w\n2026-06-01T10:00:00,5\n", "row 2: time: needs a UTC offset"),
        ("time,power_w\nnoon,5\n", "row 2: time: not an ISO 8601"),
        (
            "time,power_w\n2026-06-01T10:00:00Z,5\n2026-06-01T09:00:00Z,5\n",
            "row 3: time: is not after",
        ),
        ("time,power_w\n", "has no rows"),
    ],
)
def test_csv_refuses_bad_rows_with_file_row_and_column(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "pv.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ScenarioError, match=message) as caught:
        load_pv_csv(path)
    assert caught.value.file == str(path)


def test_csv_profile_checks_its_points() -> None:
    with pytest.raises(InvalidParameter, match="must increase"):
        CsvPV((at(1), at(1)), (0.0, 1.0))
    with pytest.raises(ScenarioError, match="cannot read"):
        load_pv_csv("/nonexistent/pv.csv")


def test_site_meter_sums_loads_minus_pv() -> None:
    meter = SiteMeter("S1", base_load_w=5_000.0)
    reading = meter.reading(
        at(12),
        devices_w={"ev1": 11_000.0, "storage": -20_000.0, "rack": 30_000.0},
        pv_w=40_000.0,
    )
    assert reading.load_w == pytest.approx(26_000.0)
    assert reading.net_import_w == pytest.approx(-14_000.0)
    assert reading.import_w == 0.0 and reading.export_w == pytest.approx(14_000.0)
    meter.integrate(reading, 1800)
    registers = meter.registers
    assert registers.export_wh == pytest.approx(7_000.0)
    assert registers.import_wh == 0.0
    assert registers.devices_wh["storage"] == pytest.approx(-10_000.0)
    assert registers.pv_wh == pytest.approx(20_000.0)


def test_base_load_noise_is_seeded_and_bounded() -> None:
    a = SiteMeter("S1", base_load_w=10_000.0, base_load_noise=0.2, seed=1)
    b = SiteMeter("S1", base_load_w=10_000.0, base_load_noise=0.2, seed=1)
    loads = [a.base_load_at(at(i / 60)) for i in range(600)]
    assert loads == [b.base_load_at(at(i / 60)) for i in range(600)]
    assert all(8_000.0 <= w <= 12_000.0 for w in loads)
    assert len(set(loads)) > 100


def test_site_meter_refuses_bad_numbers() -> None:
    meter = SiteMeter("S1")
    with pytest.raises(InvalidParameter, match=r"devices_w\[ev1\]"):
        meter.reading(at(1), devices_w={"ev1": math.inf})
    with pytest.raises(InvalidParameter, match="pv_w"):
        meter.reading(at(1), devices_w={}, pv_w=-1.0)
    with pytest.raises(InvalidParameter, match="base_load_w"):
        SiteMeter("S1", base_load_w=math.nan)
    with pytest.raises(InvalidParameter, match="base_load_noise"):
        SiteMeter("S1", base_load_noise=2.0)
