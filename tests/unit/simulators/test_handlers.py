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
    # A station-wide maximum on a connector is refused, and the station says why.
    assert ws.sent[2] == [3, "c", {"status": "Rejected"}]
    assert r.stats.last_error == (
        "charging profile rejected: a station-wide profile applies to connector 0, not 1"
    )
    tx_profile = {**profile, "chargingProfilePurpose": "TxProfile"}
    await cp.route_message(
        json.dumps(
            [2, "d", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": tx_profile}]
        )
    )
    assert ws.sent[3] == [3, "d", {"status": "Rejected"}]
    assert r.stats.last_error == (
        "charging profile rejected: a TxProfile but no transaction on connector 1"
    )


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
    # The station reports what it refused, not only the library's log.
    assert r.stats.calls_refused == 2
    assert r.stats.errors[0].startswith(
        "ReserveNow from the central system refused with CALLERROR NotImplemented"
    )
    assert r.stats.errors[1].startswith(
        "ChangeConfiguration from the central system refused with CALLERROR"
    )


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


def test_v16_meter_values_encoding_of_a_single_phase_ev() -> None:
    from simulators.messages import MeterSample, Transaction
    from simulators.runner import OutItem

    tx = Transaction(
        local_id="SIM-0001-00001",
        connector_id=1,
        id_tag="T",
        started_at=T0,
        meter_start_wh=0.0,
        csms_id=17,
    )
    sample = MeterSample(
        connector_id=1,
        tx=tx,
        at=T0,
        energy_wh=1234.5,
        power_w=7360.0,
        current_a=(32.0,),
        voltage_v=230.0,
    )
    r = runner("1.6")
    payload = V16Adapter().encode(OutItem(sample), r.station)
    assert payload.transaction_id == 17
    (mv,) = payload.meter_value
    assert mv["timestamp"] == "2026-03-05T18:00:00.000Z"
    ctx = "Sample.Periodic"
    assert mv["sampled_value"] == [
        {
            "value": "1234.5",
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
            "context": ctx,
        },
        {"value": "7360", "measurand": "Power.Active.Import", "unit": "W", "context": ctx},
        {"value": "32", "measurand": "Current.Import", "unit": "A", "phase": "L1", "context": ctx},
        {"value": "230", "measurand": "Voltage", "unit": "V", "phase": "L1-N", "context": ctx},
    ]


def test_v201_offline_transaction_event_encoding() -> None:
    from simulators.messages import StopReason, Transaction, TransactionEnded
    from simulators.runner import OutItem

    tx = Transaction(
        local_id="SIM-0001-00001", connector_id=1, id_tag="T", started_at=T0, meter_start_wh=0.0
    )
    ended = TransactionEnded(
        tx=tx, at=T0, meter_stop_wh=5000.0, reason=StopReason.EV_DISCONNECTED, seq_no=7
    )
    r = runner("2.0.1")
    payload = V201Adapter().encode(OutItem(ended, offline=True), r.station)
    assert (payload.event_type, payload.seq_no, payload.offline) == ("Ended", 7, True)
    assert payload.trigger_reason == "EVDeparted"
    assert payload.transaction_info == {
        "transaction_id": "SIM-0001-00001",
        "stopped_reason": "EVDisconnected",
        "charging_state": "Idle",
    }


def test_v201_dc_needs_carry_the_battery() -> None:
    from simulators.messages import ChargingNeeds
    from simulators.runner import OutItem

    needs = ChargingNeeds(
        connector_id=1,
        at=T0,
        energy_amount_wh=40_000.0,
        departure=None,
        max_current_a=125.0,
        min_current_a=6.0,
        max_voltage_v=400.0,
        dc=True,
        soc_pct=35.2,
        capacity_wh=77_000.0,
        bulk_soc_pct=80.0,
        full_soc_pct=90.0,
    )
    r = runner("2.0.1")
    payload = V201Adapter().encode(OutItem(needs), r.station)
    assert payload.charging_needs["dc_charging_parameters"] == {
        "ev_max_current": 125,
        "ev_max_voltage": 400,
        "energy_amount": 40000,
        "state_of_charge": 35,
        "ev_energy_capacity": 77000,
        "bulk_soc": 80,
        "full_soc": 90,
    }


def test_v201_charging_needs_wait_offline_and_name_the_phases() -> None:
    from datetime import timedelta

    from simulators.connector import ConnectorSpec
    from simulators.ev import EVSpec
    from simulators.messages import ChargingNeeds, TransactionStarted
    from simulators.runner import OutItem

    car = EVSpec(
        ev_id="EV-1",
        phases=1,
        max_ac_power_w=7_400,
        arrival=T0,
        departure=T0 + timedelta(hours=8),
        id_tag="T",
    )
    spec = StationSpec(station_id="SIM-0001", ocpp_version="2.0.1", connectors=(ConnectorSpec(),))
    r = StationRunner(
        Station(spec, now=T0, sessions=[(1, car)]),
        V201Adapter(),
        url="ws://127.0.0.1:1/ocpp",
        clock=ManualClock(T0),
    )
    assert not r.online
    r.sync()  # the EV arrives while offline: authorized locally, the transaction starts
    kinds = [type(item.message) for item in r.outbox]
    assert kinds[:2] == [TransactionStarted, ChargingNeeds]
    assert all(item.offline for item in r.outbox)
    needs = r.outbox[1]
    payload = V201Adapter().encode(needs, r.station)
    assert payload.evse_id == 1
    assert payload.charging_needs["requested_energy_transfer"] == "AC_single_phase"
    ac = payload.charging_needs["ac_charging_parameters"]
    assert (ac["energy_amount"], ac["ev_max_current"]) == (36_000, 32)  # 7400 W / 230 V
    assert payload.charging_needs["departure_time"] == "2026-03-06T02:00:00.000Z"
    three = OutItem(ChargingNeeds(1, T0, 1000.0, None, 16.0, 6.0, 230.0, False, 50.0))
    assert (
        V201Adapter().encode(three, r.station).charging_needs["requested_energy_transfer"]
        == "AC_three_phase"
    )


async def test_v201_set_variables_names_unknown_components_and_variables() -> None:
    r = runner("2.0.1")
    ws = FakeConnection()
    cp = V201ChargePoint(r, ws)  # type: ignore[arg-type]
    data = [
        {"attributeValue": "45", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": n}}
        for n in ("HeartbeatInterval", "NoSuchVariable")
    ]
    data.append(
        {"attributeValue": "1", "component": {"name": "NoSuchCtrlr"}, "variable": {"name": "X"}}
    )
    await cp.route_message(json.dumps([2, "a", "SetVariables", {"setVariableData": data}]))
    statuses = [x["attributeStatus"] for x in ws.sent[0][2]["setVariableResult"]]
    assert statuses == ["Accepted", "UnknownVariable", "UnknownComponent"]
    assert r.station.config["HeartbeatInterval"] == "45"


def test_v201_local_stop_carries_the_drivers_token() -> None:
    from simulators.messages import StopReason, Transaction, TransactionEnded
    from simulators.runner import OutItem

    tx = Transaction(
        local_id="SIM-0001-00002", connector_id=1, id_tag="CARD7", started_at=T0, meter_start_wh=0.0
    )
    r = runner("2.0.1")
    local = V201Adapter().encode(
        OutItem(
            TransactionEnded(tx=tx, at=T0, meter_stop_wh=10.0, reason=StopReason.LOCAL, seq_no=3)
        ),
        r.station,
    )
    assert local.trigger_reason == "StopAuthorized"
    assert local.id_token == {"id_token": "CARD7", "type": "ISO14443"}
    assert local.transaction_info["stopped_reason"] == "Local"
    remote = V201Adapter().encode(
        OutItem(
            TransactionEnded(tx=tx, at=T0, meter_stop_wh=10.0, reason=StopReason.REMOTE, seq_no=3)
        ),
        r.station,
    )
    assert remote.id_token is None


async def test_a_remote_start_with_a_bad_profile_is_rejected_and_reported() -> None:
    r16 = runner("1.6")
    ws16 = FakeConnection()
    cp16 = V16ChargePoint(r16, ws16)  # type: ignore[arg-type]
    bad = {  # schema-valid, but its start is no date
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": "soon",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
        },
    }
    await cp16.route_message(
        json.dumps(
            [
                2,
                "a",
                "RemoteStartTransaction",
                {"idTag": "T", "connectorId": 1, "chargingProfile": bad},
            ]
        )
    )
    assert ws16.sent[0] == [3, "a", {"status": "Rejected"}]
    assert r16.stats.profiles_rejected == 1
    assert r16.stats.errors[0].startswith("charging profile rejected: RemoteStartTransaction")

    r201 = runner("2.0.1")
    ws201 = FakeConnection()
    cp201 = V201ChargePoint(r201, ws201)  # type: ignore[arg-type]
    station_max = {
        "id": 5,
        "stackLevel": 0,
        "chargingProfilePurpose": "ChargingStationMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": "2026-03-05T18:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
            }
        ],
    }
    await cp201.route_message(
        json.dumps(
            [
                2,
                "b",
                "RequestStartTransaction",
                {
                    "idToken": {"idToken": "T", "type": "ISO14443"},
                    "remoteStartId": 1,
                    "evseId": 1,
                    "chargingProfile": station_max,
                },
            ]
        )
    )
    assert ws201.sent[0][:2] == [3, "b"] and ws201.sent[0][2]["status"] == "Rejected"
    assert r201.stats.profiles_rejected == 1
    assert "not a TxProfile" in r201.stats.errors[0]


def test_every_model_message_has_a_201_request() -> None:
    """The 2.0.1 adapter's table covers every message the model says (status notifications
    are the adapter's own, as 2.0.1 folds some of them; a device's own requests, already in
    its version's terms, go through that device's adapter: the storage unit's)."""
    import typing

    from simulators.messages import DeviceRequest, Outgoing, StatusChanged
    from simulators.ocpp201_encoding import ENCODERS

    kinds = set(typing.get_args(Outgoing))
    assert set(ENCODERS) == kinds - {StatusChanged, DeviceRequest}


async def test_a_pending_password_takes_effect_once_any_answer_is_out() -> None:
    r = runner("2.0.1")
    ws = FakeConnection()
    cp = V201ChargePoint(r, ws)  # type: ignore[arg-type]
    r.password = "old-password-0123456"
    frame = [
        2,
        "1",
        "SetVariables",
        {
            "setVariableData": [
                {
                    "attributeValue": "new-password-0123456",
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                }
            ]
        },
    ]
    await cp.route_message(json.dumps(frame))
    assert ws.sent[0][2]["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert r.password == "new-password-0123456"
