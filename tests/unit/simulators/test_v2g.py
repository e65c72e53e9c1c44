from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fastjsonschema
import ocpp
import pytest

from simulators.ev import EVSpec
from simulators.exceptions import InvalidParameter
from simulators.v2g import BidirectionalEV, V2XSpec

T0 = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)


def ev(
    *, soc: float = 0.8, target: float = 0.8, departure_h: float | None = None, **v2x: object
) -> BidirectionalEV:
    spec = EVSpec(
        ev_id="V1",
        capacity_wh=60_000.0,
        initial_soc=soc,
        target_soc=target,
        max_ac_power_w=11_000.0,
        taper_soc=1.0,
        departure=None if departure_h is None else T0 + timedelta(hours=departure_h),
    )
    return BidirectionalEV(spec, V2XSpec(**v2x))  # type: ignore[arg-type]


def test_positive_power_charges_like_the_plain_ev() -> None:
    car = ev(soc=0.5, target=0.8)
    assert car.advance(11_000, 1800, now=T0) == pytest.approx(5500.0)
    assert car.soc == pytest.approx(0.5 + 5500 / 60_000)


def test_negative_setpoint_discharges_within_limits() -> None:
    car = ev(soc=0.8, max_discharge_w=7_000.0)
    assert car.advance(-5_000, 3600) == pytest.approx(-5000.0)
    assert car.soc == pytest.approx(0.8 - 5000 / 60_000)
    assert car.discharged_wh == pytest.approx(5000.0)
    assert not car.refusals


def test_setpoint_beyond_max_discharge_is_clamped_and_counted() -> None:
    car = ev(soc=0.8, max_discharge_w=7_000.0)
    assert car.advance(-20_000, 3600) == pytest.approx(-7000.0)
    assert car.refusals["above_max_discharge"] == 1
    assert car.last_refusal == "above_max_discharge"


def test_setpoint_below_min_discharge_gives_nothing() -> None:
    car = ev(soc=0.8, min_discharge_w=2_000.0)
    assert car.advance(-1_000, 600) == 0.0
    assert car.refusals["below_min_discharge"] == 1


def test_driver_who_disallows_discharge_is_never_discharged() -> None:
    car = ev(soc=0.9, discharge_allowed=False)
    assert car.advance(-5_000, 3600) == 0.0
    assert car.soc == 0.9
    assert car.refusals["driver_disallows"] == 1
    assert car.energy_transfer_modes() == ["AC_three_phase"]
    assert car.charging_needs()["v2xChargingParameters"]["maxDischargePower"] == 0.0


def test_stops_at_its_v2x_minimum() -> None:
    car = ev(soc=0.4, v2x_min_soc=0.3, max_discharge_w=11_000.0)
    # 0.1 of 60 kWh = 6 kWh available
    assert car.advance(-11_000, 3600) == pytest.approx(-6000.0)
    assert car.soc == pytest.approx(0.3)
    assert car.refusals["v2x_min_soc"] == 1
    assert car.advance(-11_000, 60) == 0.0


def test_keeps_enough_to_reach_its_target_by_departure() -> None:
    # target 80 %, leaves in 3 h with a 15 min margin: 2.75 h at 11 kW = 30.25 kWh of
    # recharge, so it may go down to 0.8 - 30.25/60 = 0.2958 -> the V2X minimum 0.3 binds.
    car = ev(soc=0.8, target=0.8, departure_h=3.0, v2x_min_soc=0.3)
    assert car.discharge_floor_soc(T0) == (0.3, "v2x_min_soc")
    # 1 h before departure (45 min of charging left): floor 0.8 - 8.25/60
    floor, reason = car.discharge_floor_soc(T0 + timedelta(hours=2))
    assert reason == "departure_need"
    assert floor == pytest.approx(0.8 - 11_000 * 0.75 / 60_000, abs=1e-9)


def test_discharging_late_stops_at_the_rising_floor_and_the_target_is_still_reachable() -> None:
    car = ev(soc=0.8, target=0.8, departure_h=2.0, max_discharge_w=11_000.0)
    now = T0 + timedelta(hours=1)
    given = -car.advance(-11_000, 3600, now=now)
    assert car.refusals["departure_need"] == 1
    # the floor rises as fast as the SoC falls: they meet after 1350 s (4125 Wh), within a
    # 30 s sub-step (92 Wh)
    assert given == pytest.approx(4125.0, abs=92.0)
    stopped = now + timedelta(hours=given / 11_000)
    left_s = (T0 + timedelta(hours=2) - stopped).total_seconds()
    # from where it stopped, charging at its maximum for the time left reaches the target
    assert car.charge_time_s(car.soc, 0.8) <= left_s - 900 + 1e-6
    assert car.advance(-11_000, 60, now=now + timedelta(hours=1)) == 0.0


def test_charge_time_follows_the_taper() -> None:
    spec = EVSpec(
        ev_id="T",
        capacity_wh=50_000,
        target_soc=1.0,
        max_ac_power_w=10_000,
        taper_soc=0.8,
        taper_floor=0.1,
    )
    car = BidirectionalEV(spec, V2XSpec())
    assert car.charge_time_s(0.2, 0.8) == pytest.approx(0.6 * 50_000 / 10_000 * 3600)
    # 0.8 -> 0.9 in the taper: (1-0.8)/P * ln(0.2/0.1) hours of capacity
    expected_h = 50_000 * 0.2 / 10_000 * math.log(2)
    assert car.charge_time_s(0.8, 0.9) == pytest.approx(expected_h * 3600)
    # beyond 0.98 the floor of 10 % holds
    assert car.charge_time_s(0.98, 1.0) == pytest.approx(0.02 * 50_000 / 1_000 * 3600)
    # integrating the plain EV model agrees within its 30 s sub-steps
    plain = BidirectionalEV(spec, V2XSpec())
    plain.soc = 0.8
    seconds = 0.0
    while plain.soc < 0.9 - 1e-9 and seconds < 36_000:
        plain.advance(10_000, 30)
        seconds += 30
    assert seconds == pytest.approx(car.charge_time_s(0.8, 0.9), rel=0.02)


def test_a_departure_needs_the_time() -> None:
    car = ev(departure_h=2.0)
    with pytest.raises(InvalidParameter, match="now"):
        car.advance(-1000, 60)


def test_charging_needs_validate_against_the_2_1_schema() -> None:
    car = ev(soc=0.5, target=0.8, departure_h=8.0)
    needs = car.charging_needs()
    assert needs["requestedEnergyTransfer"] == "AC_BPT"
    parameters = needs["v2xChargingParameters"]
    assert parameters["evTargetEnergyRequest"] == pytest.approx(18_000.0)
    assert parameters["evMinV2XEnergyRequest"] == pytest.approx(-12_000.0)
    schema_file = (
        Path(ocpp.__file__).parent / "v21" / "schemas" / "NotifyEVChargingNeedsRequest.json"
    )
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validate = fastjsonschema.compile(schema)
    validate({"evseId": 1, "chargingNeeds": needs, "timestamp": "2026-06-01T17:00:00Z"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_discharge_w", math.nan),
        ("min_discharge_w", -1.0),
        ("v2x_min_soc", 1.5),
        ("departure_margin_s", math.inf),
        ("max_charge_w", -5.0),
    ],
)
def test_v2x_numbers_are_checked(field: str, value: float) -> None:
    with pytest.raises(InvalidParameter) as caught:
        V2XSpec(**{field: value})  # type: ignore[arg-type]
    assert caught.value.field == f"v2x.{field}"


def test_v2x_ranges_must_be_ordered() -> None:
    with pytest.raises(InvalidParameter, match="min_discharge_w"):
        V2XSpec(min_discharge_w=5_000, max_discharge_w=1_000)
    with pytest.raises(InvalidParameter, match="v2x_min_soc"):
        V2XSpec(v2x_min_soc=0.9, v2x_max_soc=0.5)
