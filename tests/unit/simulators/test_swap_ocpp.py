"""The swap station as a 2.1 station: its messages valid against the 2.1 schemas, swaps as
BatterySwap, a vehicle turned away as NotifyEvent, the rack limited by a station profile, the
central system's RequestBatterySwap served under its request id."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.charge_point import snake_to_camel_case
from ocpp.v21 import call

from chargegrid.clock import ManualClock
from simulators.messages import DeviceRequest, StatusChanged
from simulators.runner import OutItem
from simulators.swap import PackSpec, SwapArrival, SwapStation, SwapStationSpec
from simulators.swap_ocpp import SwapOcppStation
from simulators.swap_runner import SwapChargePoint, SwapRunner
from tests.unit.simulators.test_handlers import FakeConnection
from tests.unit.simulators.test_storage_station import check, validator

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def swap_station(socs: list[float], **overrides: Any) -> SwapOcppStation:
    values: dict[str, Any] = {
        "station_id": "SWAP-1",
        "slots": len(socs),
        "packs": tuple(PackSpec(f"P{i}", 50_000.0, soc) for i, soc in enumerate(socs, 1)),
        "max_rack_power_w": 100_000.0,
        "max_pack_power_w": 40_000.0,
        "charge_efficiency": 1.0,
        "swap_time_s": 120.0,
    }
    values.update(overrides)
    return SwapOcppStation(SwapStation(SwapStationSpec(**values), start=T0), meter_interval_s=60.0)


def arrival(name: str, minutes: float, soc: float = 0.1, token: str | None = "TOK") -> SwapArrival:
    at = T0 + timedelta(minutes=minutes)
    return SwapArrival(name, at, PackSpec(f"{name}-pack", 50_000.0, soc), token)


def limit_profile(
    limits: list[float], *, purpose: str = "ChargingStationMaxProfile", unit: str = "W"
) -> dict[str, Any]:
    return {
        "id": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": T0.isoformat(),
                "chargingRateUnit": unit,
                "duration": 600 * len(limits),
                "chargingSchedulePeriod": [
                    {"startPeriod": 600 * i, "limit": limit} for i, limit in enumerate(limits)
                ],
            }
        ],
    }


def of(messages: list[DeviceRequest], action: str) -> list[dict[str, Any]]:
    return [m.payload for m in messages if m.action == action]


def test_a_served_swap_is_battery_in_then_out_and_a_turned_away_one_a_notify_event() -> None:
    st = swap_station([0.95, 0.3])
    st.swap.add_arrivals([arrival("V1", 1), arrival("V2", 2, token=None)])
    out = check(st.step(T0 + timedelta(minutes=10)))
    swaps = of(out, "BatterySwap")
    assert [s["eventType"] for s in swaps] == ["BatteryIn", "BatteryOut"]
    assert swaps[0]["requestId"] == swaps[1]["requestId"] == 1
    assert swaps[0]["batteryData"][0] == {
        "evseId": 1,
        "serialNumber": "V1-pack",
        "soC": 10.0,
        "soH": 100.0,
    }
    assert swaps[1]["batteryData"][0]["serialNumber"] == "P1"
    assert swaps[0]["idToken"] == {"idToken": "TOK", "type": "Central"}
    [event] = of(out, "NotifyEvent")
    data = event["eventData"][0]
    assert (data["component"]["name"], data["variable"]["name"]) == ("BatterySwap", "Outcome")
    assert data["actualValue"] == "NoReadyPack" and "V2" in data["techInfo"]
    assert st.outcomes() == {"swapped": 1, "no_ready_pack": 1, "duplicate_pack": 0, "timed_out": 0}


def test_meter_values_give_the_rack_power_the_limit_and_each_pack_s_soc() -> None:
    st = swap_station([0.5, 0.2], max_pack_power_w=30_000.0)
    out = check(st.step(T0 + timedelta(minutes=1)))
    rack, *packs = of(out, "MeterValues")
    assert rack["evseId"] == 0
    values = {v["measurand"]: v["value"] for v in rack["meterValue"][0]["sampledValue"]}
    assert values["Power.Active.Import"] == 60_000.0 and values["Power.Offered"] == 100_000.0
    assert values["Energy.Active.Import.Register"] == pytest.approx(1000.0)
    assert [p["evseId"] for p in packs] == [1, 2]
    assert packs[0]["meterValue"][0]["sampledValue"][0]["value"] == pytest.approx(51.0)
    assert [s["connectorStatus"] for s in of(check(st.statuses(T0)), "StatusNotification")] == [
        "Occupied",
        "Occupied",
    ]


def test_a_station_profile_limits_the_rack_over_time_and_then_runs_out() -> None:
    st = swap_station([0.2, 0.2])
    validator("SetChargingProfileRequest")(
        {"evseId": 0, "chargingProfile": limit_profile([20_000, 50_000])}
    )
    answer = st.set_charging_profile(0, limit_profile([20_000, 50_000]), T0)
    assert answer.status == "Accepted"
    assert st.next_wakeup() == T0 + timedelta(minutes=1)
    st.step(T0 + timedelta(minutes=5))
    assert st.swap.power_w == 20_000.0
    st.step(T0 + timedelta(minutes=15))
    assert st.swap.power_w == 50_000.0
    st.step(T0 + timedelta(minutes=25))  # the profile ran out: the rack's own rating
    assert st.swap.power_w == 80_000.0
    assert st.swap.totals.energy_wh == pytest.approx((20 * 10 + 50 * 10 + 80 * 5) * 1000 / 60)


@pytest.mark.parametrize(
    ("evse_id", "raw", "reason"),
    [
        (0, limit_profile([1000], unit="A"), "UnsupportedParam"),
        (1, limit_profile([1000]), "UnknownEvse"),
        (0, limit_profile([1000], purpose="TxProfile"), "TxNotFound"),
        (0, limit_profile([-5]), "InvalidValue"),
        (0, limit_profile([1000]) | {"stackLevel": "x"}, "InvalidValue"),
    ],
)
def test_profiles_the_rack_cannot_follow_are_rejected_with_a_reason(
    evse_id: int, raw: dict[str, Any], reason: str
) -> None:
    st = swap_station([0.2])
    answer = st.set_charging_profile(evse_id, raw, T0)
    assert (answer.status, answer.reason_code) == ("Rejected", reason)
    validator("SetChargingProfileResponse")(answer.payload())
    assert st.profiles_rejected == 1 and st.limits is None


def test_a_central_setpoint_period_is_refused_and_clear_restores_the_rating() -> None:
    st = swap_station([0.2])
    raw = limit_profile([1000])
    raw["chargingSchedule"][0]["chargingSchedulePeriod"][0]["operationMode"] = "CentralSetpoint"
    assert st.set_charging_profile(0, raw, T0).reason_code == "UnsupportedParam"
    assert st.set_charging_profile(0, limit_profile([1000]), T0).status == "Accepted"
    assert st.clear_charging_profile(99) == "Unknown"
    assert st.clear_charging_profile(7) == "Accepted" and st.limit_w(T0) is None


def test_request_battery_swap_is_served_under_the_central_system_s_request_id() -> None:
    st = swap_station([0.95, 0.2])
    assert st.request_swap(4242, "DRIVER", T0).status == "Accepted"
    again = st.request_swap(4242, "DRIVER", T0)
    assert (again.status, again.reason_code) == ("Rejected", "DuplicateRequestId")
    none_left = st.request_swap(4243, "OTHER", T0)  # the one ready pack is promised
    assert (none_left.status, none_left.reason_code) == ("Rejected", "NoReadyPack")
    validator("RequestBatterySwapResponse")(none_left.payload())
    out = check(st.step(T0 + timedelta(minutes=5)))
    swaps = of(out, "BatterySwap")
    assert [s["requestId"] for s in swaps] == [4242, 4242]
    assert swaps[0]["idToken"]["idToken"] == "DRIVER"
    assert swaps[0]["batteryData"][0]["soC"] == 20.0
    assert (st.requests_accepted, st.requests_rejected) == (1, 2)
    # the next vehicle finds the rack without a ready pack: no BatterySwap
    st.swap.add_arrivals([arrival("V9", 6)])
    assert not of(st.step(T0 + timedelta(minutes=7)), "BatterySwap")


def test_the_next_wakeup_is_the_next_arrival_or_the_end_of_a_swap() -> None:
    st = swap_station([0.95], swap_time_s=90.0)
    st.swap.add_arrivals([arrival("V1", 0.5)])
    assert st.next_wakeup() == T0 + timedelta(seconds=30)
    st.step(T0 + timedelta(seconds=30))
    assert st.next_wakeup() == T0 + timedelta(seconds=60)  # the sample comes first
    st.step(T0 + timedelta(seconds=60))
    assert st.next_wakeup() == T0 + timedelta(seconds=120)
    assert of(st.step(T0 + timedelta(seconds=120)), "BatterySwap")


def runner() -> SwapRunner:
    return SwapRunner(swap_station([0.95, 0.2]), url="ws://127.0.0.1:1/ocpp", clock=ManualClock(T0))


async def test_the_charge_point_answers_request_battery_swap_and_a_station_profile() -> None:
    r = runner()
    ws = FakeConnection()
    cp = SwapChargePoint(r, ws)  # type: ignore[arg-type]
    request = {"requestId": 5, "idToken": {"idToken": "APP1", "type": "Central"}}
    await cp.route_message(json.dumps([2, "a", "RequestBatterySwap", request]))
    assert ws.sent[0][2] == {"status": "Accepted"}
    await cp.route_message(
        json.dumps(
            [2, "b", "SetChargingProfile", {"evseId": 0, "chargingProfile": limit_profile([1])}]
        )
    )
    assert ws.sent[1][2] == {"status": "Accepted"}
    await cp.route_message(
        json.dumps(
            [2, "c", "SetChargingProfile", {"evseId": 2, "chargingProfile": limit_profile([1])}]
        )
    )
    assert ws.sent[2][2]["statusInfo"]["reasonCode"] == "UnknownEvse"
    assert r.stats.profiles_rejected == 1
    await cp.route_message(
        json.dumps(
            [2, "d", "TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 2}}]
        )
    )
    assert ws.sent[3][2]["status"] == "Accepted"
    await cp.route_message(
        json.dumps(
            [2, "e", "TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 3}}]
        )
    )
    assert ws.sent[4][2]["status"] == "Rejected"
    sampled = [i.message for i in r.outbox if isinstance(i.message, DeviceRequest)]
    assert [m.payload["evseId"] for m in sampled if m.action == "MeterValues"] == [0, 1, 2]


def test_the_adapter_sends_the_station_s_own_requests() -> None:
    r = runner()
    [message] = r.device.statuses(T0)[1:]
    encoded = r.adapter.encode(OutItem(message), r.station)
    assert isinstance(encoded, call.StatusNotification) and encoded.evse_id == 2
    shell = r.adapter.encode(
        OutItem(StatusChanged(1, r.station.connectors[1].status, T0)), r.station
    )
    assert isinstance(shell, call.StatusNotification) and shell.connector_status == "Occupied"
    boot = r.adapter.encode(OutItem("BootNotification"), r.station)
    assert boot is not None and boot.charging_station["model"] == "SimSwap"
    assert r.model_statuses(T0) == r.device.statuses(T0)


def test_battery_swap_goes_out_with_the_2_1_field_names_unchanged() -> None:
    """The library reads ``soc`` as ``SoC``; BatterySwap's ``soC`` and ``soH`` must survive."""
    st = swap_station([0.95])
    st.swap.add_arrivals([arrival("V1", 0)])
    r = SwapRunner(st, url="ws://127.0.0.1:1/ocpp", clock=ManualClock(T0))
    for message in of_requests(st.step(T0 + timedelta(minutes=3)), "BatterySwap"):
        encoded = r.adapter.encode(OutItem(message), r.station)
        assert isinstance(encoded, call.BatterySwap)
        sent = snake_to_camel_case(asdict(encoded))
        sent.pop("customData")
        assert sent == message.payload
        validator("BatterySwapRequest")(sent)


def of_requests(messages: list[DeviceRequest], action: str) -> list[DeviceRequest]:
    found = [m for m in messages if m.action == action]
    assert found
    return found
