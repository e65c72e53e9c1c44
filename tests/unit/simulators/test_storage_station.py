"""The storage unit as a 2.1 station: its messages valid against the 2.1 schemas, its
CentralSetpoint profiles obeyed, refused ones answered with the reason."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp
import pytest
from ocpp.charge_point import camel_to_snake_case

from simulators.messages import DeviceRequest
from simulators.storage import StorageSpec, StorageUnit
from simulators.storage_station import StorageStation

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@cache
def validator(name: str) -> Callable[[dict[str, Any]], Any]:
    path = Path(ocpp.__file__).parent / "v21" / "schemas" / f"{name}.json"
    return fastjsonschema.compile(json.loads(path.read_text(encoding="utf-8")))  # type: ignore[no-any-return]


def check(messages: list[DeviceRequest]) -> list[DeviceRequest]:
    for message in messages:
        validator(f"{message.action}Request")(message.payload)
    return messages


def station(**overrides: Any) -> StorageStation:
    values: dict[str, Any] = {
        "unit_id": "BESS-1",
        "capacity_wh": 200_000.0,
        "max_charge_w": 50_000.0,
        "max_discharge_w": 50_000.0,
        "initial_soc": 0.5,
        "charge_efficiency": 1.0,
        "discharge_efficiency": 1.0,
        "self_discharge_per_day": 0.0,
        "temperature_rise_at_rated_c": 0.0,
    }
    values.update(overrides)
    return StorageStation(StorageUnit(StorageSpec(**values), start=T0), meter_interval_s=60.0)


def profile(
    periods: list[dict[str, Any]],
    *,
    purpose: str = "TxDefaultProfile",
    kind: str = "Absolute",
    start: datetime = T0,
    duration: int | None = 900,
    unit: str = "W",
    **extra: Any,
) -> dict[str, Any]:
    """A SetChargingProfile request's profile, checked against the 2.1 schema, handed over
    snake_case as the ocpp library does."""
    schedule: dict[str, Any] = {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods,
    }
    if kind == "Absolute":
        schedule["startSchedule"] = start.isoformat().replace("+00:00", "Z")
    if duration is not None:
        schedule["duration"] = duration
    raw = {
        "id": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
        **extra,
    }
    validator("SetChargingProfileRequest")({"evseId": 1, "chargingProfile": raw})
    return camel_to_snake_case(raw)  # type: ignore[no-any-return]


def setpoint(start: int, watts: float, **more: Any) -> dict[str, Any]:
    return {"startPeriod": start, "operationMode": "CentralSetpoint", "setpoint": watts, **more}


def sampled(message: DeviceRequest) -> dict[str, float]:
    [meter_value] = message.payload["meterValue"]
    return {value["measurand"]: value["value"] for value in meter_value["sampledValue"]}


def test_meter_values_are_clock_aligned_and_report_soc_power_and_energy() -> None:
    st = station()
    answer = st.set_charging_profile(1, profile([setpoint(0, -30_000)]), T0)
    assert answer.status == "Accepted"
    validator("SetChargingProfileResponse")(answer.payload())
    messages = check(st.step(T0 + timedelta(minutes=5)))
    meters = [m for m in messages if m.action == "MeterValues"]
    assert len(meters) == 5
    assert meters[0].payload["meterValue"][0]["timestamp"] == "2026-06-01T12:01:00Z"
    last = sampled(meters[-1])
    assert last["Power.Active.Export"] == 30_000.0
    assert last["Power.Active.Import"] == 0.0
    assert last["Power.Active.Setpoint"] == -30_000.0
    assert last["Energy.Active.Export.Register"] == pytest.approx(2500.0)
    assert last["SoC"] == pytest.approx(100 * (100_000 - 2500) / 200_000)


def test_a_short_schedule_expires_and_the_unit_goes_idle() -> None:
    st = station()
    st.set_charging_profile(1, profile([setpoint(0, 20_000)], duration=120), T0)
    messages = st.step(T0 + timedelta(minutes=4))
    powers = [sampled(m)["Power.Active.Import"] for m in messages if m.action == "MeterValues"]
    # a sample gives the power of the second before it: at 12:02 the last 20 kW second ended
    assert powers == [20_000.0, 20_000.0, 0.0, 0.0]
    assert st.unit.schedules_expired == 1


def test_setpoint_beyond_rating_is_accepted_clamped_and_said() -> None:
    st = station()
    answer = st.set_charging_profile(1, profile([setpoint(0, 80_000)]), T0)
    assert (answer.status, answer.reason_code) == ("Accepted", "ValueOutOfRange")
    assert "80000 W" in (answer.detail or "")
    validator("SetChargingProfileResponse")(answer.payload())
    assert st.unit.clamped_setpoints == 1
    st.step(T0 + timedelta(minutes=1))
    assert st.unit.power_w == 50_000.0


def test_per_phase_setpoints_add_up_and_limits_bound_them() -> None:
    st = station()
    periods = [
        setpoint(0, 5_000, setpoint_L2=5_000, setpoint_L3=5_000),
        setpoint(60, -40_000, dischargeLimit=-25_000),
        setpoint(120, 30_000, limit=10_000),
        {"startPeriod": 180, "operationMode": "Idle"},
    ]
    st.set_charging_profile(1, profile(periods), T0)
    schedule = st.unit.schedule
    assert schedule is not None
    assert [p.setpoint_w for p in schedule.periods] == [15_000, -25_000, 10_000, 0.0]


def test_relative_profiles_start_on_receipt_and_valid_from_rebases() -> None:
    st = station()
    st.step(T0 + timedelta(seconds=30))
    received = T0 + timedelta(seconds=30)
    st.set_charging_profile(1, profile([setpoint(0, 1_000)], kind="Relative"), received)
    assert st.unit.schedule is not None and st.unit.schedule.start == received
    later = profile(
        [setpoint(0, 1_000), setpoint(300, 2_000), setpoint(600, 3_000)],
        validFrom=(T0 + timedelta(seconds=400)).isoformat(),
        validTo=(T0 + timedelta(seconds=700)).isoformat(),
    )
    st.set_charging_profile(1, later, received)
    schedule = st.unit.schedule
    assert schedule is not None
    assert schedule.start == T0 + timedelta(seconds=400)
    assert [(p.start_s, p.setpoint_w) for p in schedule.periods] == [(0, 2_000), (200, 3_000)]
    assert schedule.duration_s == 300


@pytest.mark.parametrize(
    ("evse_id", "changes", "code"),
    [
        (1, {"purpose": "TxProfile", "transactionId": "T1"}, "TxNotFound"),
        (1, {"purpose": "ChargingStationMaxProfile", "kind": "Absolute"}, "UnsupportedParam"),
        (1, {"unit": "A"}, "UnsupportedParam"),
        (2, {}, "UnknownEvse"),
        (1, {"kind": "Recurring", "recurrencyKind": "Daily"}, "UnsupportedParam"),
        (1, {"periods": [{"startPeriod": 0, "limit": 10_000}]}, "UnsupportedParam"),
        (
            1,
            {"periods": [{"startPeriod": 0, "operationMode": "CentralSetpoint"}]},
            "InvalidSchedule",
        ),
        (1, {"periods": [setpoint(0, 1), setpoint(0, 2)]}, "InvalidSchedule"),
        (1, {"periods": [setpoint(5, 1)]}, "InvalidSchedule"),
        (1, {"validTo": "2026-06-01T11:00:00Z"}, "InvalidSchedule"),
    ],
)
def test_profiles_it_cannot_follow_are_rejected_with_the_reason(
    evse_id: int, changes: dict[str, Any], code: str
) -> None:
    st = station()
    periods = changes.pop("periods", [setpoint(0, 1_000)])
    raw = profile(periods, **changes)
    answer = st.set_charging_profile(evse_id, raw, T0)
    assert (answer.status, answer.reason_code) == ("Rejected", code)
    validator("SetChargingProfileResponse")(answer.payload())
    assert st.unit.schedule is None
    assert st.profiles_rejected == 1


@pytest.mark.parametrize(("field", "value"), [("setpoint", math.nan), ("discharge_limit", 5.0)])
def test_numbers_the_schema_lets_through_are_checked(field: str, value: float) -> None:
    # Python's JSON reader takes NaN, which a schema's number type lets through
    raw = profile([setpoint(0, 1_000)])
    raw["charging_schedule"][0]["charging_schedule_period"][0][field] = value
    answer = station().set_charging_profile(1, raw, T0)
    assert (answer.status, answer.reason_code) == ("Rejected", "InvalidValue")


def test_clear_returns_to_idle() -> None:
    st = station()
    st.set_charging_profile(1, profile([setpoint(0, 10_000)], duration=None), T0)
    assert st.clear_charging_profile(99) == "Unknown"
    assert st.clear_charging_profile(7) == "Accepted"
    assert st.unit.schedule is None
    assert st.clear_charging_profile(None) == "Unknown"


def test_over_temperature_alarm_is_notified_with_a_faulted_status_and_cleared() -> None:
    st = station(temperature_rise_at_rated_c=30.0, thermal_time_constant_s=300.0)
    st.set_charging_profile(1, profile([setpoint(0, 50_000)], duration=None), T0)
    messages = check(st.step(T0 + timedelta(hours=1)))
    alarms = [
        m.payload["eventData"][0]
        for m in messages
        if m.action == "NotifyEvent" and m.payload["eventData"][0]["trigger"] == "Alerting"
    ]
    assert alarms[0]["cleared"] is False and float(alarms[0]["actualValue"]) >= 45.0
    assert alarms[1]["cleared"] is True and float(alarms[1]["actualValue"]) <= 40.0
    statuses = [m.payload["connectorStatus"] for m in messages if m.action == "StatusNotification"]
    assert statuses[:2] == ["Faulted", "Available"]
    deltas = [
        m
        for m in messages
        if m.action == "NotifyEvent" and m.payload["eventData"][0]["trigger"] == "Delta"
    ]
    assert deltas, "the temperature moved by more than 1 K between samples"
    seq = [m.payload["seqNo"] for m in messages if m.action == "NotifyEvent"]
    assert seq == list(range(len(seq)))
    # while alarming the unit reports no power
    faulted_at = datetime.fromisoformat(alarms[0]["timestamp"].replace("Z", "+00:00"))
    cleared_at = datetime.fromisoformat(alarms[1]["timestamp"].replace("Z", "+00:00"))
    during = [
        sampled(m)
        for m in messages
        if m.action == "MeterValues"
        and faulted_at
        < datetime.fromisoformat(m.payload["meterValue"][0]["timestamp"].replace("Z", "+00:00"))
        < cleared_at
    ]
    assert during and all(s["Power.Active.Import"] == 0.0 for s in during)


def test_status_notification_is_valid() -> None:
    check([station().status_notification(T0)])
