from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from simulators.exceptions import InvalidParameter
from simulators.setpoints import SetpointPeriod, SetpointSchedule
from simulators.storage import StorageSpec, StorageUnit

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def spec(**overrides: object) -> StorageSpec:
    values: dict[str, object] = {
        "unit_id": "B1",
        "capacity_wh": 100_000.0,
        "max_charge_w": 50_000.0,
        "max_discharge_w": 40_000.0,
        "initial_soc": 0.5,
        "min_soc": 0.1,
        "max_soc": 0.9,
        "charge_efficiency": 0.95,
        "discharge_efficiency": 0.9,
        "self_discharge_per_day": 0.0,
        "temperature_rise_at_rated_c": 0.0,
    }
    values.update(overrides)
    return StorageSpec(**values)  # type: ignore[arg-type]


def balance_error(unit: StorageUnit, soc_before_wh: float) -> float:
    t = unit.totals
    lhs = t.energy_in_wh - t.energy_out_wh
    rhs = unit.soc_wh - soc_before_wh + t.conversion_losses_wh + t.self_discharge_wh
    scale = max(1.0, t.energy_in_wh + t.energy_out_wh + t.self_discharge_wh)
    return abs(lhs - rhs) / scale


def test_charging_at_a_setpoint_stores_energy_times_efficiency() -> None:
    unit = StorageUnit(spec(), start=T0)
    unit.set_schedule(SetpointSchedule.constant(T0, 10_000.0))
    report = unit.advance(1800)
    # 10 kW for half an hour: 5 kWh in at the terminals, 4.75 kWh stored.
    assert report.energy_in_wh == pytest.approx(5000.0)
    assert report.energy_out_wh == 0.0
    assert report.soc_wh == pytest.approx(50_000 + 4750)
    assert report.conversion_losses_wh == pytest.approx(250.0)
    assert report.power_w == 10_000.0
    assert report.mode == "CentralSetpoint"
    assert report.end == T0 + timedelta(minutes=30)


def test_discharging_draws_more_from_the_cells_than_it_delivers() -> None:
    unit = StorageUnit(spec(), start=T0)
    unit.set_schedule(SetpointSchedule.constant(T0, -9_000.0))
    report = unit.advance(3600)
    assert report.energy_out_wh == pytest.approx(9000.0)
    assert report.soc_wh == pytest.approx(50_000 - 10_000)
    assert report.power_w == -9_000.0


def test_round_trip_efficiency_is_the_product() -> None:
    unit = StorageUnit(spec(initial_soc=0.5), start=T0)
    unit.set_schedule(SetpointSchedule.constant(T0, 10_000.0, duration_s=3600))
    unit.advance(3600)
    stored = unit.soc_wh - 50_000
    unit.set_schedule(SetpointSchedule.constant(unit.now, -10_000.0))
    while unit.soc_wh > 50_000 + 1e-6:
        unit.advance(1)
    assert unit.totals.energy_out_wh == pytest.approx(stored * 0.9, rel=1e-3)
    assert unit.totals.energy_out_wh / unit.totals.energy_in_wh == pytest.approx(0.95 * 0.9, 1e-3)


def test_setpoint_beyond_the_rating_is_clamped_and_counted() -> None:
    unit = StorageUnit(spec(), start=T0)
    schedule = SetpointSchedule(
        T0,
        (
            SetpointPeriod(0.0, 80_000.0),
            SetpointPeriod(600.0, 1_000.0),
            SetpointPeriod(1200.0, -70_000.0),
        ),
    )
    clamps = unit.set_schedule(schedule)
    assert [(c.start_s, c.requested_w, c.applied_w) for c in clamps] == [
        (0.0, 80_000.0, 50_000.0),
        (1200.0, -70_000.0, -40_000.0),
    ]
    assert unit.clamped_setpoints == 2
    assert unit.advance(600).power_w == 50_000.0
    assert unit.advance(600).power_w == 1_000.0
    assert unit.advance(600).power_w == -40_000.0


def test_expired_schedule_falls_back_to_idle() -> None:
    unit = StorageUnit(spec(), start=T0)
    unit.set_schedule(SetpointSchedule.constant(T0, 20_000.0, duration_s=900))
    first = unit.advance(600)
    assert first.mode == "CentralSetpoint"
    second = unit.advance(600)
    assert second.mode == "Idle"
    assert second.power_w == 0.0
    assert second.setpoint_w == 0.0
    # charged for exactly 900 s of the 1200
    assert unit.totals.energy_in_wh == pytest.approx(20_000 * 900 / 3600)
    assert unit.schedules_expired == 1
    unit.advance(600)
    assert unit.schedules_expired == 1


def test_a_future_schedule_waits_idle_then_applies_at_its_start() -> None:
    unit = StorageUnit(spec(), start=T0)
    unit.set_schedule(SetpointSchedule.constant(T0 + timedelta(seconds=90.5), -4000.0))
    report = unit.advance(120)
    assert report.energy_out_wh == pytest.approx(4000 * 29.5 / 3600)


def test_ramp_limits_the_rate_of_change() -> None:
    unit = StorageUnit(spec(ramp_w_per_s=1000.0), start=T0)
    unit.set_schedule(SetpointSchedule.constant(T0, 10_000.0))
    assert unit.advance(5).power_w == pytest.approx(5000.0)
    assert unit.advance(10).power_w == pytest.approx(10_000.0)
    unit.set_schedule(SetpointSchedule.constant(unit.now, -10_000.0))
    assert unit.advance(10).power_w == pytest.approx(0.0)
    assert unit.advance(10).power_w == pytest.approx(-10_000.0)


def test_soc_bounds_stop_the_unit_exactly_on_the_bound() -> None:
    unit = StorageUnit(spec(initial_soc=0.85), start=T0)
    unit.set_schedule(SetpointSchedule.constant(T0, 50_000.0))
    report = unit.advance(3600)
    assert report.soc_wh == pytest.approx(90_000.0, abs=1e-6)
    assert report.power_w == 0.0
    assert report.setpoint_w == 50_000.0
    assert report.energy_in_wh == pytest.approx(5_000 / 0.95)
    unit.set_schedule(SetpointSchedule.constant(unit.now, -40_000.0))
    report = unit.advance(3 * 3600)
    assert report.soc_wh == pytest.approx(10_000.0, abs=1e-6)
    assert report.energy_out_wh == pytest.approx(80_000 * 0.9)
    assert report.power_w == 0.0


def test_self_discharge_decays_exponentially_and_is_counted() -> None:
    unit = StorageUnit(spec(self_discharge_per_day=0.01, step_s=60.0), start=T0)
    report = unit.advance(86_400)
    assert report.soc_wh == pytest.approx(50_000 * math.exp(-0.01))
    assert report.self_discharge_wh == pytest.approx(50_000 * (1 - math.exp(-0.01)))
    assert balance_error(unit, 50_000) < 1e-12


def test_temperature_rises_with_power_and_cools_to_ambient() -> None:
    unit = StorageUnit(
        spec(
            temperature_rise_at_rated_c=10.0,
            thermal_time_constant_s=600.0,
            initial_soc=0.2,
            max_soc=1.0,
            capacity_wh=1_000_000.0,
        ),
        start=T0,
    )
    unit.set_schedule(SetpointSchedule.constant(T0, 25_000.0, duration_s=600))
    # half the rating -> steady 5 K above ambient; one time constant -> 1 - 1/e of it
    hot = unit.advance(600)
    assert hot.temperature_c == pytest.approx(25 + 5 * (1 - math.exp(-1)), abs=1e-9)
    cool = unit.advance(6000)
    assert cool.temperature_c == pytest.approx(25.0, abs=0.01)


def test_over_temperature_alarm_trips_to_zero_and_clears_with_hysteresis() -> None:
    unit = StorageUnit(
        spec(
            temperature_rise_at_rated_c=30.0,
            thermal_time_constant_s=600.0,
            alarm_temperature_c=45.0,
            alarm_clear_temperature_c=40.0,
            capacity_wh=10_000_000.0,
            initial_soc=0.5,
        ),
        start=T0,
    )
    unit.set_schedule(SetpointSchedule.constant(T0, 50_000.0))
    report = unit.advance(3600)
    raised = [event for event in report.alarm_events if event.active]
    assert raised, "55 C steady must cross 45 C"
    # ln(3): 25 + 30 (1 - e^-t/600) = 45  ->  t = 600 ln 3 = 659.2 s
    assert (raised[0].at - T0).total_seconds() == pytest.approx(600 * math.log(3), abs=1.0)
    assert raised[0].temperature_c > 45.0
    # tripped to 0 W; cools; clears below 40; charges again; heats; alarms again
    cleared = [event for event in report.alarm_events if not event.active]
    assert cleared and cleared[0].temperature_c < 40.0
    assert len(report.alarm_events) >= 3
    # while alarming the unit takes nothing
    assert unit.totals.energy_in_wh < 50_000 * 3600 / 3600
    unit.set_schedule(SetpointSchedule.constant(unit.now, 0.0))
    report = unit.advance(3 * 3600)
    assert not report.alarm
    assert report.temperature_c == pytest.approx(25.0, abs=0.1)


def test_alarm_holds_zero_power_for_the_whole_alarm() -> None:
    unit = StorageUnit(
        spec(temperature_rise_at_rated_c=30.0, thermal_time_constant_s=100.0, step_s=1.0),
        start=T0,
    )
    unit.set_schedule(SetpointSchedule.constant(T0, -40_000.0))
    while not unit.alarm:
        unit.advance(1)
    while unit.alarm:
        report = unit.advance(1)
        if report.alarm:
            assert report.energy_out_wh == 0.0
            assert report.power_w == 0.0


def test_energy_is_conserved_under_random_schedules() -> None:
    rng = random.Random(11)
    unit = StorageUnit(
        spec(
            self_discharge_per_day=0.02,
            ramp_w_per_s=500.0,
            temperature_rise_at_rated_c=25.0,
            thermal_time_constant_s=300.0,
        ),
        start=T0,
    )
    soc0 = unit.soc_wh
    for _ in range(200):
        periods = tuple(
            SetpointPeriod(60.0 * i, rng.uniform(-60_000, 60_000)) for i in range(rng.randint(1, 4))
        )
        unit.set_schedule(SetpointSchedule(unit.now, periods, duration_s=rng.uniform(241, 600)))
        unit.advance(rng.uniform(1, 700))
        assert unit.spec.min_soc_wh - 1e-6 <= unit.soc_wh + unit.totals.self_discharge_wh
        assert unit.soc_wh <= unit.spec.max_soc_wh + 1e-6
    assert unit.totals.energy_in_wh > 0 and unit.totals.energy_out_wh > 0
    assert balance_error(unit, soc0) < 1e-9


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("capacity_wh", 0.0),
        ("capacity_wh", math.nan),
        ("max_charge_w", -1.0),
        ("max_discharge_w", math.inf),
        ("initial_soc", 1.2),
        ("charge_efficiency", 0.0),
        ("discharge_efficiency", 1.5),
        ("ramp_w_per_s", 0.0),
        ("self_discharge_per_day", -0.1),
        ("alarm_clear_temperature_c", 50.0),
        ("ambient_c", 41.0),
        ("thermal_time_constant_s", 0.0),
        ("step_s", math.nan),
    ],
)
def test_every_number_is_checked_at_construction(field: str, value: float) -> None:
    with pytest.raises(InvalidParameter) as caught:
        spec(**{field: value})
    assert "storage[B1]" in caught.value.field


def test_soc_bounds_must_be_ordered_and_times_aware() -> None:
    with pytest.raises(InvalidParameter, match="min_soc"):
        spec(min_soc=0.8, max_soc=0.5)
    with pytest.raises(InvalidParameter, match="start"):
        StorageUnit(spec(), start=datetime(2026, 1, 1))
    with pytest.raises(InvalidParameter, match="dt_s"):
        StorageUnit(spec(), start=T0).advance(-1)


def test_schedule_validation() -> None:
    with pytest.raises(InvalidParameter, match="periods"):
        SetpointSchedule(T0, ())
    with pytest.raises(InvalidParameter, match=r"periods\[0\]"):
        SetpointSchedule(T0, (SetpointPeriod(5.0, 1.0),))
    with pytest.raises(InvalidParameter, match="must increase"):
        SetpointSchedule(T0, (SetpointPeriod(0.0, 1.0), SetpointPeriod(0.0, 2.0)))
    with pytest.raises(InvalidParameter, match="duration_s"):
        SetpointSchedule(T0, (SetpointPeriod(0.0, 1.0), SetpointPeriod(60.0, 2.0)), 60.0)
    with pytest.raises(InvalidParameter, match="setpoint_w"):
        SetpointPeriod(0.0, math.inf)
