"""The storage unit's OCPP 2.1 handlers through ``route_message`` with a fake connection."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from ocpp.v21 import call

from chargegrid.clock import ManualClock
from simulators.config import StationSpec
from simulators.messages import DeviceRequest, StatusChanged
from simulators.ocpp21 import V21Adapter
from simulators.runner import OutItem, StationRunner
from simulators.station import Station
from simulators.storage import StorageSpec, StorageUnit
from simulators.storage_runner import StorageAdapter, StorageChargePoint, StorageRunner
from simulators.storage_station import StorageStation
from tests.unit.simulators.test_handlers import FakeConnection

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def storage_runner() -> StorageRunner:
    spec = StorageSpec("STOR-0001", capacity_wh=100_000.0, max_charge_w=1e4, max_discharge_w=1e4)
    station = StorageStation(StorageUnit(spec, start=T0))
    return StorageRunner(station, url="ws://127.0.0.1:1/ocpp", clock=ManualClock(T0))


async def test_get_variables_and_trigger_message() -> None:
    r = storage_runner()
    ws = FakeConnection()
    cp = StorageChargePoint(r, ws)  # type: ignore[arg-type]
    request = {
        "getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
            {"component": {"name": "Nope"}, "variable": {"name": "X"}},
        ]
    }
    await cp.route_message(json.dumps([2, "a", "GetVariables", request]))
    results = ws.sent[0][2]["getVariableResult"]
    assert results[0]["attributeStatus"] == "Accepted" and results[0]["attributeValue"] == "300"
    assert results[1]["attributeStatus"] == "UnknownComponent"
    await cp.route_message(
        json.dumps([2, "b", "TriggerMessage", {"requestedMessage": "MeterValues"}])
    )
    assert ws.sent[1][2]["status"] == "Accepted"
    [item] = [i for i in r.outbox if isinstance(i.message, DeviceRequest)]
    assert isinstance(item.message, DeviceRequest) and item.message.action == "MeterValues"
    await cp.route_message(
        json.dumps([2, "c", "TriggerMessage", {"requestedMessage": "LogStatusNotification"}])
    )
    assert ws.sent[2][2]["status"] == "NotImplemented"


async def test_a_refused_profile_is_counted_and_answered_with_its_reason() -> None:
    r = storage_runner()
    ws = FakeConnection()
    cp = StorageChargePoint(r, ws)  # type: ignore[arg-type]
    profile = {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
            }
        ],
    }
    await cp.route_message(
        json.dumps([2, "a", "SetChargingProfile", {"evseId": 1, "chargingProfile": profile}])
    )
    answer = ws.sent[0][2]
    assert answer["status"] == "Rejected"
    assert answer["statusInfo"]["reasonCode"] == "UnsupportedParam"
    assert r.stats.profiles_rejected == 1


def test_the_adapter_sends_the_unit_s_own_requests() -> None:
    r = storage_runner()
    adapter = r.adapter
    assert isinstance(adapter, StorageAdapter)
    request = r.device.meter_values(T0)
    encoded = adapter.encode(OutItem(request), r.station)
    assert isinstance(encoded, call.MeterValues) and encoded.evse_id == 1
    status = adapter.encode(
        OutItem(StatusChanged(1, r.station.connectors[1].status, T0)), r.station
    )
    assert isinstance(status, call.StatusNotification)
    assert status.connector_status == "Available"
    boot = adapter.encode(OutItem("BootNotification"), r.station)
    assert boot.charging_station["serial_number"] == "STOR-0001"
    assert r.model_statuses(T0)[0] == r.device.status_notification(T0)


def test_the_storage_adapter_needs_a_storage_runner() -> None:
    station = Station(StationSpec(station_id="SIM-0001", ocpp_version="2.1"), now=T0)
    plain = StationRunner(station, V21Adapter(), url="ws://x/ocpp", clock=ManualClock(T0))
    with pytest.raises(TypeError, match="DeviceRunner"):
        storage_runner().adapter.charge_point(plain, FakeConnection())  # type: ignore[arg-type]
