"""A PV plant as an OCPP 2.1 station (decision 0315): clock-aligned samples of what it
produces from a CSV profile or the clear sky, its energy register, no charging profile; and
``chargegrid sim``'s PV and swap-timeout options, a bad PV CSV refused naming the file, row
and column before anything runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chargegrid import cli
from simulators.exceptions import InvalidParameter
from simulators.pv import ClearSkyPV, CsvPV
from simulators.pv_station import PvSpec, PvStation
from tests.unit.simulators.test_storage_station import check

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def _values(payload: dict[str, object]) -> dict[str, float]:
    [meter] = payload["meterValue"]  # type: ignore[index]
    return {v["measurand"]: v["value"] for v in meter["sampledValue"]}  # type: ignore[index]


def test_a_csv_profile_is_metered_clock_aligned_with_its_energy_register() -> None:
    ramp = CsvPV((T0, T0 + timedelta(hours=1)), (0.0, 60_000.0))  # 0 to 60 kW in an hour
    station = PvStation(PvSpec("PV-0001", ramp, step_s=45.0), start=T0, meter_interval_s=600.0)
    assert station.next_wakeup() == T0 + timedelta(minutes=10)
    out = check(station.step(T0 + timedelta(hours=1, minutes=30)))
    assert [m.action for m in out] == ["MeterValues"] * 9
    assert {m.payload["evseId"] for m in out} == {0}
    at_30 = _values(out[2].payload)
    assert at_30["Power.Active.Export"] == 30_000.0
    assert at_30["Energy.Active.Export.Register"] == pytest.approx(7_500.0)  # the triangle
    last = _values(out[-1].payload)
    assert last == {"Power.Active.Export": 0.0, "Energy.Active.Export.Register": 30_000.0}
    assert station.peak_w == 60_000.0
    answer = station.set_charging_profile(0, {}, T0)
    assert (answer.status, answer.reason_code) == ("Rejected", "UnsupportedParam")
    assert station.profiles_rejected == 1 and station.statuses(T0) == []


def test_the_clear_sky_plant_produces_by_day_only() -> None:
    sky = ClearSkyPV("PV-0001", 40_000.0, cloud_fraction=0.0)
    station = PvStation(PvSpec("PV-0001", sky), start=T0 - timedelta(hours=6))
    out = station.step(T0 + timedelta(hours=10))
    powers = [_values(m.payload)["Power.Active.Export"] for m in out]
    assert powers[0] == 0.0 and max(powers) == pytest.approx(40_000.0)
    # a half sine of 12 h at 40 kW: 2/pi x 40 kW x 12 h
    assert station.energy_wh == pytest.approx(2 / 3.141592653589793 * 40_000.0 * 12, rel=1e-3)


def test_pv_numbers_are_checked() -> None:
    ramp = CsvPV((T0,), (0.0,))
    with pytest.raises(InvalidParameter, match="step_s"):
        PvSpec("PV-0001", ramp, step_s=0.0)
    with pytest.raises(InvalidParameter, match="station_id"):
        PvSpec("", ramp)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("time,power_w\n2026-06-01T10:00:00Z,inf\n", "row 2: power_w: must be a finite"),
        ("time,power_w\n2026-06-01T10:00:00Z,1e400\n", "row 2: power_w: must be a finite"),
        ("time,power_w\n2026-06-01T10:00:00Z,-1\n", "row 2: power_w: must be a finite"),
        (
            "time,power_w\n2026-06-01T11:00:00Z,5\n2026-06-01T10:00:00Z,5\n",
            "row 3: time: is not after the row before",
        ),
        ("timestamp,watts\n2026-06-01T10:00:00Z,5\n", "row 1: needs the columns time,power_w"),
    ],
    ids=["infinite", "overflow", "negative", "unsorted", "wrong-columns"],
)
def test_chargegrid_sim_refuses_a_bad_pv_csv_before_running(
    body: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pv.csv"
    path.write_text(body, encoding="utf-8")
    argv = ["sim", "--url", "ws://127.0.0.1:9/ocpp", "--stations", "1", "--pv-csv", str(path)]
    assert cli.main(argv) == 2
    assert f"chargegrid sim: {path}: {message}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--swap-timeout-s", "100", "--swap-time-s", "300"], "--swap-timeout-s must be at"),
        (["--pv", "-1"], "--pv must not be negative"),
    ],
)
def test_chargegrid_sim_refuses_device_options_that_cannot_be(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["sim", "--url", "ws://127.0.0.1:9/ocpp", *options]) == 2
    assert f"chargegrid sim: {message}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--swap-timeout-s", "nan"), ("--swap-jam-share", "1.5"), ("--pv-peak-w", "-5")],
)
def test_chargegrid_sim_refuses_bad_device_numbers(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["sim", "--url", "ws://127.0.0.1:9/ocpp", option, value])
    assert done.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err
