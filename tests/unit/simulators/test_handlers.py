"""The OCPP handlers through ``route_message`` with a fake connection (no sockets)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chargegrid.clock import ManualClock
from simulators.config import StationSpec
from simulators.ocpp16 import V16Adapter, V16ChargePoint
from simulators.ocpp201 import V201Adapter, V201ChargePoint
from simulators.runner import StationRunner
from simulators.station import Station

T0 = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)


class FakeConnection:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, frame: str) -> None:
        self.sent.append(json.loads(frame))

    async def recv(self) -> str:
        raise AssertionError("not used")


def runner(version: str) -> StationRunner:
    clock = ManualClock(T0)
    station = Station(StationSpec(station_id="SIM-0001", ocpp_version=version), now=T0)
    adapter = V16Adapter() if version == "1.6" else V201Adapter()
    return StationRunner(station, adapter, url="ws://127.0.0.1:1/ocpp", clock=clock)


async def test_v16_set_charging_profile_and_composite_schedule() -> None:
    r = runner("1.6")
    ws = FakeConnection()
    cp = V16ChargePoint(r, ws)  # type: ignore[arg-type]
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": "2026-03-05T18:00:00Z",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16},
                {"startPeriod": 600, "limit": 8},
            ],
        },
    }
    await cp.route_message(
        json.dumps(
            [2, "a", "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile}]
        )
    )
    await cp.route_message(
        json.dumps(
            [
                2,
                "b",
                "GetCompositeSchedule",
                {"connectorId": 0, "duration": 900, "chargingRateUnit": "W"},
            ]
        )
    )
    await cp.route_message(
        json.dumps(
            [2, "c", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}]
        )
    )
    assert ws.sent[0] == [3, "a", {"status": "Accepted"}]
    assert ws.sent[1][2]["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 11040.0, "numberPhases": 3},
        {"startPeriod": 600, "limit": 5520.0, "numberPhases": 3},
    ]
    # A station-wide maximum on a connector is refused.
    assert ws.sent[2] == [3, "c", {"status": "Rejected"}]


async def test_v16_unknown_action_and_schema_errors_are_callerrors() -> None:
    r = runner("1.6")
    ws = FakeConnection()
    cp = V16ChargePoint(r, ws)  # type: ignore[arg-type]
    await cp.route_message(
        json.dumps(
            [
                2,
                "a",
                "ReserveNow",
                {
                    "connectorId": 1,
                    "expiryDate": "2026-03-05T19:00:00Z",
                    "idTag": "x",
                    "reservationId": 1,
                },
            ]
        )
    )
    await cp.route_message(json.dumps([2, "b", "ChangeConfiguration", {"key": 5}]))
    assert ws.sent[0][:3] == [4, "a", "NotImplemented"]
    assert ws.sent[1][0] == 4 and ws.sent[1][1] == "b"


async def test_v201_get_variables_and_rejected_contradictory_profile() -> None:
    r = runner("2.0.1")
    ws = FakeConnection()
    cp = V201ChargePoint(r, ws)  # type: ignore[arg-type]
    await cp.route_message(
        json.dumps(
            [
                2,
                "a",
                "GetVariables",
                {
                    "getVariableData": [
                        {
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                        }
                    ]
                },
            ]
        )
    )
    assert ws.sent[0] == [
        3,
        "a",
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeValue": "300",
                }
            ]
        },
    ]
    bad = {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Recurring",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
            }
        ],
    }
    await cp.route_message(
        json.dumps([2, "b", "SetChargingProfile", {"evseId": 1, "chargingProfile": bad}])
    )
    assert ws.sent[1][2]["status"] == "Rejected"
    assert "recurrencyKind" in r.stats.last_error
