"""Use cases of the Open Charge Alliance's published CSMS test-case lists, against the running
central system, each test parametrized with its published test-case id.

The station's side of each scenario is scripted frame by frame (the "tool" of the OCA test
cases); the checks are the test case's "Central System side" validations. The table of
cases, with which are implemented and pass, is in docs/conformance.md.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from csms.domain import ChargingLimit, ChargingRateUnit
from csms.exceptions import CommandRejected
from tests.conformance.harness import VALID_TAG, LiveCsms, RawStation

NOW = "2026-03-02T06:00:00.000Z"
_STAMPS = itertools.count(1)


def fresh_time() -> str:
    """A timestamp no earlier step used: a 1.6 StartTransaction with the same connector,
    idTag, meterStart and timestamp is a resend of the same start (answered with its
    transaction), so every scripted session starts at its own second."""
    at = datetime(2026, 3, 2, 7, tzinfo=UTC) + timedelta(seconds=next(_STAMPS))
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def answered(station: RawStation, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    answer = station.call(action, payload)
    assert answer[0] == 3, f"{action}: {answer!r}"
    result: dict[str, Any] = answer[2]
    return result


def status16(station: RawStation, connector_id: int, status: str) -> None:
    payload = {"connectorId": connector_id, "errorCode": "NoError", "status": status}
    assert answered(station, "StatusNotification", payload) == {}


def command(live: LiveCsms, coro: Any) -> Future[Any]:
    """Start a central-system command without waiting for it (the station answers it)."""
    return asyncio.run_coroutine_threadsafe(coro, live.loop)


def answer_call(station: RawStation, action: str, result: dict[str, Any]) -> dict[str, Any]:
    """Receive the central system's CALL ``action`` and answer it with ``result``."""
    frame = station.recv()
    assert frame[0] == 2 and frame[2] == action, frame
    station.send(json.dumps([3, frame[1], result]))
    payload: dict[str, Any] = frame[3]
    return payload


@pytest.mark.parametrize("case", ["TC_001_CSMS"])
def test_cold_boot_charge_point_16(live: LiveCsms, case: str) -> None:
    """Cold Boot Charge Point: BootNotification.conf Accepted, StatusNotification per
    connector and connector 0, Heartbeat."""
    with live.station("CASE-1.6", "1.6") as station:
        boot = answered(
            station,
            "BootNotification",
            {"chargePointVendor": "Lab", "chargePointModel": "Conformance"},
        )
        assert boot["status"] == "Accepted" and boot["interval"] > 0
        for connector in (0, 1, 2):
            status16(station, connector, "Available")
        assert "currentTime" in answered(station, "Heartbeat", {})


@pytest.mark.parametrize(("case", "plug_first"), [("TC_010_CSMS", True), ("TC_011_1_CSMS", False)])
def test_remote_start_16(live: LiveCsms, case: str, plug_first: bool) -> None:
    """Remote Start Charging Session (cable plugged in first / remote start first): the
    central system sends RemoteStartTransaction; Authorize.conf and StartTransaction.conf
    carry idTagInfo.status Accepted; the command completes with the transaction."""
    with live.station("CASE-1.6", "1.6") as station:
        station.boot()
        if plug_first:
            status16(station, 1, "Preparing")
        started = command(
            live, live.csms.commands.remote_start("CASE-1.6", id_token=VALID_TAG, evse_id=1)
        )
        request = answer_call(station, "RemoteStartTransaction", {"status": "Accepted"})
        assert request["idTag"] == VALID_TAG and request["connectorId"] == 1
        auth = answered(station, "Authorize", {"idTag": VALID_TAG})
        assert auth["idTagInfo"]["status"] == "Accepted"
        if not plug_first:
            status16(station, 1, "Preparing")
        start = answered(
            station,
            "StartTransaction",
            {"connectorId": 1, "idTag": VALID_TAG, "meterStart": 1000, "timestamp": NOW},
        )
        assert start["idTagInfo"]["status"] == "Accepted"
        status16(station, 1, "Charging")
        tx = started.result(10)
        assert tx.id == start["transactionId"]
        stop = answered(
            station,
            "StopTransaction",
            {"transactionId": start["transactionId"], "meterStop": 2000, "timestamp": NOW},
        )
        assert stop == {} or stop["idTagInfo"]["status"] == "Accepted"


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize("case", ["TC_B_01_CSMS"])
def test_cold_boot_accepted_2x(live: LiveCsms, case: str, version: str) -> None:
    """Cold Boot Charging Station - Accepted (use case B01): BootNotificationResponse status
    Accepted, then the station's StatusNotifications and Heartbeat are answered."""
    with live.station(f"CASE-{version}", version) as station:
        boot = answered(
            station,
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "Lab"}},
        )
        assert boot["status"] == "Accepted" and boot["interval"] > 0
        status = {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
        assert answered(station, "StatusNotification", status) == {}
        assert "currentTime" in answered(station, "Heartbeat", {})


def boot_2x(station: RawStation) -> None:
    station.boot()


def id_token() -> dict[str, str]:
    return {"idToken": VALID_TAG, "type": "ISO14443"}


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize("case", ["TC_E_10_CSMS"])
def test_start_transaction_authorized_local(live: LiveCsms, case: str, version: str) -> None:
    """Start transaction options - Authorized - Local (E01 S3): AuthorizeResponse and the
    Started TransactionEventResponse both carry idTokenInfo.status Accepted."""
    with live.station(f"CASE-{version}", version) as station:
        boot_2x(station)
        auth = answered(station, "Authorize", {"idToken": id_token()})
        assert auth["idTokenInfo"]["status"] == "Accepted"
        event = {
            "eventType": "Started",
            "timestamp": NOW,
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": f"{case}-{version}"},
            "idToken": id_token(),
            "evse": {"id": 1, "connectorId": 1},
        }
        started = answered(station, "TransactionEvent", event)
        assert started["idTokenInfo"]["status"] == "Accepted"
        ended = {
            **event,
            "eventType": "Ended",
            "triggerReason": "StopAuthorized",
            "seqNo": 1,
            "transactionInfo": {"transactionId": f"{case}-{version}", "stoppedReason": "Local"},
        }
        answered(station, "TransactionEvent", ended)


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize("case", ["TC_E_09_CSMS"])
def test_start_transaction_ev_connected(live: LiveCsms, case: str, version: str) -> None:
    """Start transaction options - EVConnected (E01 S2): the connector's Occupied
    StatusNotification and NotifyEvent, then a Started TransactionEvent (CablePluggedIn,
    chargingState EVConnected), are all answered."""
    with live.station(f"CASE-{version}", version) as station:
        boot_2x(station)
        status = {"timestamp": NOW, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
        assert answered(station, "StatusNotification", status) == {}
        notify = {
            "generatedAt": NOW,
            "seqNo": 0,
            "eventData": [
                {
                    "eventId": 1,
                    "timestamp": NOW,
                    "trigger": "Delta",
                    "actualValue": "Occupied",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "variable": {"name": "AvailabilityState"},
                }
            ],
        }
        assert answered(station, "NotifyEvent", notify) == {}
        event = {
            "eventType": "Started",
            "timestamp": NOW,
            "triggerReason": "CablePluggedIn",
            "seqNo": 0,
            "transactionInfo": {
                "transactionId": f"{case}-{version}",
                "chargingState": "EVConnected",
            },
            "evse": {"id": 1, "connectorId": 1},
        }
        answered(station, "TransactionEvent", event)


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize("case", ["TC_B_25_CSMS"])
def test_reset_evse_without_transaction(live: LiveCsms, case: str, version: str) -> None:
    """Reset EVSE - Without ongoing transaction (B11): the CSMS sends ResetRequest type
    OnIdle with the evseId; the station's Accepted is the command's result."""
    with live.station(f"CASE-{version}", version) as station:
        boot_2x(station)
        result = command(live, live.csms.commands.reset(f"CASE-{version}", hard=False, evse_id=1))
        request = answer_call(station, "Reset", {"status": "Accepted"})
        assert request == {"type": "OnIdle", "evseId": 1}
        assert result.result(10).status == "Accepted"


# -- 1.6: the Central System drives the station ------------------------------------------


def charging_16(station: RawStation) -> int:
    """Reusable state Charging: booted, authorized, transaction started, status Charging;
    returns the transactionId the central system gave."""
    station.boot()
    status16(station, 1, "Preparing")
    assert answered(station, "Authorize", {"idTag": VALID_TAG})["idTagInfo"]["status"] == (
        "Accepted"
    )
    start = answered(
        station,
        "StartTransaction",
        {"connectorId": 1, "idTag": VALID_TAG, "meterStart": 0, "timestamp": fresh_time()},
    )
    assert start["idTagInfo"]["status"] == "Accepted"
    status16(station, 1, "Charging")
    tx_id: int = start["transactionId"]
    return tx_id


def stop_16(station: RawStation, tx_id: int, reason: str = "Local") -> None:
    stop = {"transactionId": tx_id, "meterStop": 500, "timestamp": fresh_time(), "reason": reason}
    answered(station, "StopTransaction", stop)
    status16(station, 1, "Finishing")
    status16(station, 1, "Available")


@pytest.mark.parametrize("case", ["TC_004_1_CSMS"])
def test_regular_session_identification_first_16(live: LiveCsms, case: str) -> None:
    """Regular Charging Session - Identification First (reusable state Charging): the idTag
    is presented before the cable; Authorize.conf and StartTransaction.conf carry
    Accepted, and the central system holds the transaction open until it stops."""
    with live.station("CASE-1.6", "1.6") as station:
        station.boot()
        auth = answered(station, "Authorize", {"idTag": VALID_TAG})
        assert auth["idTagInfo"]["status"] == "Accepted"
        status16(station, 1, "Preparing")
        start = answered(
            station,
            "StartTransaction",
            {"connectorId": 1, "idTag": VALID_TAG, "meterStart": 0, "timestamp": fresh_time()},
        )
        assert start["idTagInfo"]["status"] == "Accepted"
        status16(station, 1, "Charging")
        tx = live.run(live.csms.central.store.get_transaction(start["transactionId"]))
        assert tx is not None and tx.active and tx.id_token == VALID_TAG
        stop_16(station, start["transactionId"])
        tx = live.run(live.csms.central.store.get_transaction(start["transactionId"]))
        assert tx is not None and not tx.active


@pytest.mark.parametrize("case", ["TC_012_CSMS"])
def test_remote_stop_16(live: LiveCsms, case: str) -> None:
    """Remote Stop Charging Session: RemoteStopTransaction for the running transaction; the
    station's StopTransaction (reason Remote) closes it in the central system."""
    with live.station("CASE-1.6", "1.6") as station:
        tx_id = charging_16(station)
        result = command(live, live.csms.commands.remote_stop("CASE-1.6", transaction_id=tx_id))
        request = answer_call(station, "RemoteStopTransaction", {"status": "Accepted"})
        assert request == {"transactionId": tx_id}
        assert result.result(10).status == "Accepted"
        stop_16(station, tx_id, reason="Remote")
        tx = live.run(live.csms.central.store.get_transaction(tx_id))
        assert tx is not None and not tx.active and tx.stop_reason == "Remote"


@pytest.mark.parametrize("case", ["TC_028_CSMS"])
def test_remote_stop_rejected_16(live: LiveCsms, case: str) -> None:
    """Remote Stop Transaction - Rejected: the station answers RemoteStopTransaction with
    Rejected; the command reports the rejection and the transaction stays open. (The
    central system refuses by itself to send an id it does not know, so the tool rejects
    the id of the running transaction.)"""
    with live.station("CASE-1.6", "1.6") as station:
        tx_id = charging_16(station)
        result = command(live, live.csms.commands.remote_stop("CASE-1.6", transaction_id=tx_id))
        answer_call(station, "RemoteStopTransaction", {"status": "Rejected"})
        with pytest.raises(CommandRejected) as refused:
            result.result(10)
        assert refused.value.status == "Rejected"
        tx = live.run(live.csms.central.store.get_transaction(tx_id))
        assert tx is not None and tx.active
        stop_16(station, tx_id)


@pytest.mark.parametrize("case", ["TC_017_1_CSMS"])
def test_unlock_connector_16(live: LiveCsms, case: str) -> None:
    """Unlock connector - no charging session running (Not fixed cable): UnlockConnector
    for the connector; the station's Unlocked is the command's result."""
    with live.station("CASE-1.6", "1.6") as station:
        station.boot()
        result = command(live, live.csms.commands.unlock_connector("CASE-1.6", evse_id=1))
        assert answer_call(station, "UnlockConnector", {"status": "Unlocked"}) == {"connectorId": 1}
        assert result.result(10).status == "Unlocked"


def limit_16(station_id: str, purpose: str, **kw: Any) -> ChargingLimit:
    return ChargingLimit(
        station_id=station_id,
        evse_id=kw.pop("evse_id", 1),
        unit=ChargingRateUnit.AMPERE,
        schedule=((0, 16.0, None), (600, 10.0, None)),
        purpose=purpose,
        **kw,
    )


@pytest.mark.parametrize("case", ["TC_057_CSMS"])
def test_tx_profile_16(live: LiveCsms, case: str) -> None:
    """Central Smart Charging - TxProfile: SetChargingProfile for the running transaction
    (connectorId, purpose TxProfile, its transactionId, no recurrencyKind; Relative, so no
    startSchedule)."""
    with live.station("CASE-1.6", "1.6") as station:
        tx_id = charging_16(station)
        limit = limit_16("CASE-1.6", "TxProfile", transaction_id=tx_id, profile_id=57)
        result = command(live, live.csms.commands.set_charging_profile(limit))
        request = answer_call(station, "SetChargingProfile", {"status": "Accepted"})
        profile = request["csChargingProfiles"]
        assert request["connectorId"] == 1
        assert profile["chargingProfilePurpose"] == "TxProfile"
        assert profile["transactionId"] == tx_id
        assert "recurrencyKind" not in profile
        assert profile["chargingProfileKind"] == "Relative"
        assert "startSchedule" not in profile["chargingSchedule"]
        periods = profile["chargingSchedule"]["chargingSchedulePeriod"]
        assert [(p["startPeriod"], p["limit"]) for p in periods] == [(0, 16.0), (600, 10.0)]
        assert result.result(10).status == "Accepted"
        stop_16(station, tx_id)


@pytest.mark.parametrize("case", ["TC_059_CSMS"])
def test_remote_start_with_profile_16(live: LiveCsms, case: str) -> None:
    """Remote Start Transaction with Charging Profile: RemoteStartTransaction carries a
    TxProfile without transactionId (there is none yet); the transaction then starts."""
    with live.station("CASE-1.6", "1.6") as station:
        station.boot()
        status16(station, 1, "Preparing")
        limit = limit_16("CASE-1.6", "TxProfile", profile_id=59)
        started = command(
            live,
            live.csms.commands.remote_start("CASE-1.6", id_token=VALID_TAG, evse_id=1, limit=limit),
        )
        request = answer_call(station, "RemoteStartTransaction", {"status": "Accepted"})
        profile = request["chargingProfile"]
        assert request["idTag"] == VALID_TAG and request["connectorId"] == 1
        assert profile["chargingProfilePurpose"] == "TxProfile"
        assert "transactionId" not in profile
        assert profile["chargingProfileId"] == 59
        start = answered(
            station,
            "StartTransaction",
            {"connectorId": 1, "idTag": VALID_TAG, "meterStart": 0, "timestamp": fresh_time()},
        )
        assert start["idTagInfo"]["status"] == "Accepted"
        assert started.result(10).id == start["transactionId"]
        status16(station, 1, "Charging")
        stop_16(station, start["transactionId"])


@pytest.mark.parametrize("case", ["TC_066_CSMS"])
def test_get_composite_schedule_16(live: LiveCsms, case: str) -> None:
    """Get Composite Schedule: GetCompositeSchedule with connectorId, duration and
    chargingRateUnit; the central system reads the returned schedule."""
    with live.station("CASE-1.6", "1.6") as station:
        station.boot()
        result = command(
            live,
            live.csms.commands.get_composite_schedule(
                "CASE-1.6", evse_id=1, duration_s=900, unit=ChargingRateUnit.AMPERE
            ),
        )
        answer = {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": NOW,
            "chargingSchedule": {
                "duration": 900,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0},
                    {"startPeriod": 300, "limit": 8.0, "numberPhases": 3},
                ],
            },
        }
        request = answer_call(station, "GetCompositeSchedule", answer)
        assert request == {"connectorId": 1, "duration": 900, "chargingRateUnit": "A"}
        schedule = result.result(10)
        assert schedule is not None
        assert schedule.evse_id == 1 and schedule.unit is ChargingRateUnit.AMPERE
        assert schedule.duration_s == 900
        assert schedule.periods == ((0, 16.0, None), (300, 8.0, 3))


@pytest.mark.parametrize("case", ["TC_067_CSMS"])
def test_clear_charging_profile_16(live: LiveCsms, case: str) -> None:
    """Clear Charging Profile: three profiles set (the first a ChargePointMaxProfile on
    connector 0 without transactionId), then cleared by id, by criteria, and all."""
    with live.station("CASE-1.6", "1.6") as station:
        tx_id = charging_16(station)
        limits = [
            limit_16("CASE-1.6", "ChargePointMaxProfile", evse_id=0, profile_id=1, stack_level=1),
            limit_16("CASE-1.6", "TxDefaultProfile", profile_id=2, stack_level=1),
            limit_16("CASE-1.6", "TxProfile", profile_id=3, transaction_id=tx_id),
        ]
        for limit in limits:
            result = command(live, live.csms.commands.set_charging_profile(limit))
            request = answer_call(station, "SetChargingProfile", {"status": "Accepted"})
            assert request["connectorId"] == limit.evse_id
            profile = request["csChargingProfiles"]
            assert profile["chargingProfileId"] == limit.profile_id
            assert profile["stackLevel"] == limit.stack_level
            assert profile.get("transactionId") == limit.transaction_id
            assert result.result(10).status == "Accepted"
        clears: list[tuple[dict[str, Any], dict[str, Any]]] = [
            ({"profile_id": 2}, {"id": 2}),
            (
                {"evse_id": 0, "purpose": "ChargePointMaxProfile", "stack_level": 1},
                {
                    "connectorId": 0,
                    "chargingProfilePurpose": "ChargePointMaxProfile",
                    "stackLevel": 1,
                },
            ),
            ({}, {}),
        ]
        for kwargs, expected in clears:
            result = command(live, live.csms.commands.clear_charging_profile("CASE-1.6", **kwargs))
            assert answer_call(station, "ClearChargingProfile", {"status": "Accepted"}) == (
                expected
            )
            assert result.result(10).status == "Accepted"
        stop_16(station, tx_id)


# -- 2.0.1 (also run on 2.1): the CSMS drives the station ----------------------------------

VERSIONS_2X = ["2.0.1", "2.1"]


class Session2x:
    """One scripted 2.0.1 transaction: its id and the seqNo of its next event."""

    def __init__(self, station: RawStation, tx_id: str) -> None:
        self.station = station
        self.tx_id = tx_id
        self.seq_no = 0

    def event(
        self,
        event_type: str,
        trigger: str,
        *,
        info: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        payload = {
            "eventType": event_type,
            "timestamp": NOW,
            "triggerReason": trigger,
            "seqNo": self.seq_no,
            "transactionInfo": {"transactionId": self.tx_id, **(info or {})},
            "evse": {"id": 1, "connectorId": 1},
            **extra,
        }
        self.seq_no += 1
        return answered(self.station, "TransactionEvent", payload)


def status_2x(station: RawStation, status: str) -> None:
    payload = {"timestamp": NOW, "connectorStatus": status, "evseId": 1, "connectorId": 1}
    assert answered(station, "StatusNotification", payload) == {}


def availability_event(station: RawStation, state: str) -> None:
    notify = {
        "generatedAt": NOW,
        "seqNo": 0,
        "eventData": [
            {
                "eventId": 1,
                "timestamp": NOW,
                "trigger": "Delta",
                "actualValue": state,
                "eventNotificationType": "HardWiredNotification",
                "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                "variable": {"name": "AvailabilityState"},
            }
        ],
    }
    assert answered(station, "NotifyEvent", notify) == {}


def energy_transfer_started(station: RawStation, tx_id: str) -> Session2x:
    """Reusable state EnergyTransferStarted: plugged in, authorized, charging."""
    boot_2x(station)
    status_2x(station, "Occupied")
    session = Session2x(station, tx_id)
    session.event("Started", "CablePluggedIn", info={"chargingState": "EVConnected"})
    auth = session.event(
        "Updated", "Authorized", info={"chargingState": "EVConnected"}, idToken=id_token()
    )
    assert auth["idTokenInfo"]["status"] == "Accepted"
    session.event("Updated", "ChargingStateChanged", info={"chargingState": "Charging"})
    return session


def stored_tx(live: LiveCsms, station_id: str, tx_id: str) -> Any:
    tx = live.run(live.csms.central.store.find_transaction(station_id, tx_id))
    assert tx is not None, f"transaction {tx_id} not stored"
    return tx


def boot_after_reset(station: RawStation) -> None:
    boot = answered(
        station,
        "BootNotification",
        {"reason": "RemoteReset", "chargingStation": {"model": "M", "vendorName": "Lab"}},
    )
    assert boot["status"] == "Accepted"
    status_2x(station, "Available")
    availability_event(station, "Available")


def set_registration(live: LiveCsms, station_id: str, status: str) -> None:
    """The operator's decision (``chargegrid station accept|reject``, the API's PATCH)."""
    import dataclasses

    from csms.domain import RegistrationStatus

    async def put() -> None:
        record = await live.csms.store.get_station(station_id)
        assert record is not None
        await live.csms.store.put_station(
            dataclasses.replace(record, registration=RegistrationStatus(status))
        )

    live.run(put())


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_B_02_CSMS"])
def test_cold_boot_pending(live: LiveCsms, case: str, version: str) -> None:
    """Cold Boot Charging Station - Pending (B02; B02.FR.01, B02.FR.06). Prerequisite: the
    CSMS is configured to first answer Pending: here the registered station's registration
    is Pending (``chargegrid station add --pending``, or the API). BootNotification ->
    Pending with an interval; the connection stays open and the CSMS may read the station meanwhile
    (GetVariables, B02.FR.01); once the operator accepts the station, the next
    BootNotification -> Accepted, and the connector state is answered."""
    sid = f"PENDING-{version}"
    set_registration(live, sid, "Pending")
    station = live.station(sid, version)
    boot = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "Lab"}}
    try:
        first = answered(station, "BootNotification", boot)
        assert first["status"] == "Pending" and first["interval"] > 0
        items = [("OCPPCommCtrlr", "NetworkConfigurationPriority")]
        result = command(live, live.csms.commands.get_variables(sid, items))
        request = answer_call(
            station,
            "GetVariables",
            {
                "getVariableResult": [
                    {
                        "attributeStatus": "Accepted",
                        "attributeValue": "1",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "NetworkConfigurationPriority"},
                    }
                ]
            },
        )
        assert request["getVariableData"][0]["variable"] == {"name": "NetworkConfigurationPriority"}
        assert [r.value for r in result.result(10)] == ["1"]
        set_registration(live, sid, "Accepted")
        second = answered(station, "BootNotification", boot)
        assert second["status"] == "Accepted" and second["interval"] > 0
        status_2x(station, "Available")
        availability_event(station, "Available")
        assert live.csms.commands.is_online(sid)
    finally:
        station.close()


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize(
    ("case", "registration"), [("TC_B_30_CSMS", "Pending"), ("TC_B_30_CSMS", "Rejected")]
)
def test_cold_boot_not_accepted_security_error(
    live: LiveCsms, case: str, registration: str, version: str
) -> None:
    """Cold Boot Charging Station - Pending/Rejected - SecurityError (B02.FR.09,
    B03.FR.07): after a Pending or Rejected BootNotificationResponse, the station's
    StatusNotification is answered CALLERROR SecurityError."""
    sid = f"PENDING-{version}"
    set_registration(live, sid, registration)
    station = live.station(sid, version)
    boot = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "Lab"}}
    try:
        assert answered(station, "BootNotification", boot)["status"] == registration
        status = {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
        answer = station.call("StatusNotification", status)
        assert answer[0] == 4 and answer[2] == "SecurityError", answer
    finally:
        station.close()
        set_registration(live, sid, "Accepted")


@pytest.mark.parametrize("version", VERSIONS_2X)
def test_pending_station_may_send_what_it_was_asked_for(live: LiveCsms, version: str) -> None:
    """B02.FR.09's exception: while Pending, a message a TriggerMessage asked for, and the
    NotifyReport of a GetBaseReport, are answered as usual; anything else stays refused."""
    sid = f"PENDING-{version}"
    set_registration(live, sid, "Pending")
    station = live.station(sid, version)
    boot = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "Lab"}}
    status = {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    try:
        assert answered(station, "BootNotification", boot)["status"] == "Pending"
        assert station.call("Heartbeat", {})[2] == "SecurityError"
        result = command(
            live, live.csms.commands.trigger_message(sid, message="StatusNotification")
        )
        answer_call(station, "TriggerMessage", {"status": "Accepted"})
        assert result.result(10).status == "Accepted"
        assert answered(station, "StatusNotification", status) == {}
        result = command(
            live,
            live.csms.commands.get_base_report(sid, request_id=7, report_base="SummaryInventory"),
        )
        answer_call(station, "GetBaseReport", {"status": "Accepted"})
        assert result.result(10).status == "Accepted"
        report = {"requestId": 7, "generatedAt": NOW, "seqNo": 0, "tbc": False}
        assert answered(station, "NotifyReport", report) == {}
        assert station.call("Heartbeat", {})[2] == "SecurityError"  # not asked for
        # a new boot starts over: nothing is invited any more
        assert answered(station, "BootNotification", boot)["status"] == "Pending"
        assert station.call("StatusNotification", status)[2] == "SecurityError"
    finally:
        station.close()
        set_registration(live, sid, "Accepted")


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_B_20_CSMS"])
def test_reset_station_on_idle(live: LiveCsms, case: str, version: str) -> None:
    """Reset Charging Station - Without ongoing transaction - OnIdle: ResetRequest type
    OnIdle (no evseId); after the reboot the BootNotification is Accepted."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        boot_2x(station)
        result = command(live, live.csms.commands.reset(sid, hard=False))
        assert answer_call(station, "Reset", {"status": "Accepted"}) == {"type": "OnIdle"}
        assert result.result(10).status == "Accepted"
        boot_after_reset(station)


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize(("case", "evse_id"), [("TC_B_22_CSMS", None), ("TC_B_27_CSMS", 1)])
def test_reset_immediate_with_transaction(
    live: LiveCsms, case: str, evse_id: int | None, version: str
) -> None:
    """Reset Charging Station / EVSE - With Ongoing Transaction - Immediate: ResetRequest
    type Immediate (with the evseId for the EVSE); the Ended TransactionEvent
    (ResetCommand, ImmediateReset, no idToken) closes the transaction; the station reboots
    (TC_B_22) and its BootNotification is Accepted."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        session = energy_transfer_started(station, f"{case}-{version}")
        result = command(live, live.csms.commands.reset(sid, hard=True, evse_id=evse_id))
        request = answer_call(station, "Reset", {"status": "Accepted"})
        expected: dict[str, Any] = {"type": "Immediate"}
        if evse_id is not None:
            expected["evseId"] = evse_id
        assert request == expected
        assert result.result(10).status == "Accepted"
        session.event(
            "Ended",
            "ResetCommand",
            info={"chargingState": "EVConnected", "stoppedReason": "ImmediateReset"},
        )
        tx = stored_tx(live, sid, session.tx_id)
        assert not tx.active and tx.stop_reason == "ImmediateReset"
        if evse_id is None:
            boot_after_reset(station)


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_E_04_CSMS"])
def test_local_start_authorization_first(live: LiveCsms, case: str, version: str) -> None:
    """Local start transaction - Authorization first - Success (E03): Authorize, then the
    transaction starts on plug-in with the idToken and goes to Charging."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        boot_2x(station)
        auth = answered(station, "Authorize", {"idToken": id_token()})
        assert auth["idTokenInfo"]["status"] == "Accepted"
        session = Session2x(station, f"{case}-{version}")
        started = session.event(
            "Started", "Authorized", info={"chargingState": "Idle"}, idToken=id_token()
        )
        assert started["idTokenInfo"]["status"] == "Accepted"
        status_2x(station, "Occupied")
        session.event("Updated", "CablePluggedIn", info={"chargingState": "EVConnected"})
        session.event("Updated", "ChargingStateChanged", info={"chargingState": "Charging"})
        tx = stored_tx(live, sid, session.tx_id)
        assert tx.active and tx.id_token == VALID_TAG and tx.charging_state == "Charging"
        session.event("Ended", "StopAuthorized", info={"stoppedReason": "Local"})


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_E_07_CSMS"])
def test_stop_local(live: LiveCsms, case: str, version: str) -> None:
    """Stop transaction options - PowerPathClosed - Local stop: an Ended TransactionEvent
    (StopAuthorized, stoppedReason Local) is answered and ends the transaction."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        session = energy_transfer_started(station, f"{case}-{version}")
        session.event("Ended", "StopAuthorized", info={"stoppedReason": "Local"})
        tx = stored_tx(live, sid, session.tx_id)
        assert not tx.active and tx.stop_reason == "Local"


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_E_21_CSMS"])
def test_stop_remote(live: LiveCsms, case: str, version: str) -> None:
    """Stop transaction options - StopAuthorized - Remote (E06 S3, F03): the CSMS sends
    RequestStopTransaction with the station's transactionId; the Ended event (RemoteStop,
    stoppedReason Remote) ends the transaction."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        session = energy_transfer_started(station, f"{case}-{version}")
        tx = stored_tx(live, sid, session.tx_id)
        result = command(live, live.csms.commands.remote_stop(sid, transaction_id=tx.id))
        request = answer_call(station, "RequestStopTransaction", {"status": "Accepted"})
        assert request == {"transactionId": session.tx_id}
        assert result.result(10).status == "Accepted"
        session.event("Ended", "RemoteStop", info={"stoppedReason": "Remote"})
        tx = stored_tx(live, sid, session.tx_id)
        assert not tx.active and tx.stop_reason == "Remote"


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_F_01_CSMS"])
def test_remote_start_cable_first(live: LiveCsms, case: str, version: str) -> None:
    """Remote start transaction - Cable plugin first (F01): the transaction started on
    plug-in; RequestStartTransaction carries the configured idToken; the station answers
    with its transactionId and an Updated event (RemoteStart, the remoteStartId); the
    command completes with that transaction."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        boot_2x(station)
        status_2x(station, "Occupied")
        session = Session2x(station, f"{case}-{version}")
        session.event("Started", "CablePluggedIn", info={"chargingState": "EVConnected"})
        started = command(live, live.csms.commands.remote_start(sid, id_token=VALID_TAG))
        request = answer_call(
            station,
            "RequestStartTransaction",
            {"status": "Accepted", "transactionId": session.tx_id},
        )
        assert request["idToken"] == id_token()
        remote_start_id = request["remoteStartId"]
        event = session.event(
            "Updated",
            "RemoteStart",
            info={"chargingState": "EVConnected", "remoteStartId": remote_start_id},
            idToken=id_token(),
        )
        assert event["idTokenInfo"]["status"] == "Accepted"
        session.event("Updated", "ChargingStateChanged", info={"chargingState": "Charging"})
        tx = started.result(10)
        assert tx.station_tx_id == session.tx_id and tx.remote_start_id == remote_start_id
        session.event("Ended", "StopAuthorized", info={"stoppedReason": "Local"})


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_F_02_CSMS"])
def test_remote_start_first(live: LiveCsms, case: str, version: str) -> None:
    """Remote start transaction - Remote start first - AuthorizeRemoteStart is true (F02):
    RequestStartTransaction answered without transactionId; the station authorizes the
    idToken, then starts (RemoteStart, the remoteStartId); the command completes."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        boot_2x(station)
        started = command(live, live.csms.commands.remote_start(sid, id_token=VALID_TAG))
        request = answer_call(station, "RequestStartTransaction", {"status": "Accepted"})
        assert request["idToken"] == id_token()
        auth = answered(station, "Authorize", {"idToken": id_token()})
        assert auth["idTokenInfo"]["status"] == "Accepted"
        session = Session2x(station, f"{case}-{version}")
        event = session.event(
            "Started",
            "RemoteStart",
            info={"chargingState": "Idle", "remoteStartId": request["remoteStartId"]},
            idToken=id_token(),
        )
        assert event["idTokenInfo"]["status"] == "Accepted"
        status_2x(station, "Occupied")
        session.event("Updated", "CablePluggedIn", info={"chargingState": "Charging"})
        tx = started.result(10)
        assert tx.station_tx_id == session.tx_id
        session.event("Ended", "StopAuthorized", info={"stoppedReason": "Local"})


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize(
    ("case", "operative", "state"),
    [("TC_G_05_CSMS", False, "Unavailable"), ("TC_G_06_CSMS", True, "Available")],
)
def test_change_availability_station(
    live: LiveCsms, case: str, operative: bool, state: str, version: str
) -> None:
    """Change Availability Charging Station - Operative to inoperative / Inoperative to
    operative (G04): ChangeAvailabilityRequest with the operationalStatus and no evse; the
    station's connector status and AvailabilityState event are answered."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        boot_2x(station)
        result = command(live, live.csms.commands.change_availability(sid, operative=operative))
        request = answer_call(station, "ChangeAvailability", {"status": "Accepted"})
        assert request == {"operationalStatus": "Operative" if operative else "Inoperative"}
        assert result.result(10).status == "Accepted"
        status_2x(station, state)
        availability_event(station, state)


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_P_03_CSMS"])
def test_receive_custom_data(live: LiveCsms, case: str, version: str) -> None:
    """CustomData - Receive custom data: a StatusNotification and a TransactionEvent with
    customData (also in transactionInfo) are answered."""
    sid = f"CASE-{version}"
    station = live.station(sid, version)
    custom = {"vendorId": "org.example.lab", "note": "conformance"}
    try:
        boot_2x(station)
        status = {
            "timestamp": NOW,
            "connectorStatus": "Occupied",
            "evseId": 1,
            "connectorId": 1,
            "customData": custom,
        }
        assert answered(station, "StatusNotification", status) == {}
        session = Session2x(station, f"{case}-{version}")
        session.event(
            "Started",
            "CablePluggedIn",
            info={"chargingState": "EVConnected", "customData": custom},
            customData=custom,
        )
        assert stored_tx(live, sid, session.tx_id).active
        session.event("Ended", "EVCommunicationLost", info={"stoppedReason": "EVDisconnected"})
    finally:
        station.close()


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_E_03_CSMS"])
def test_local_start_cable_first(live: LiveCsms, case: str, version: str) -> None:
    """Local start transaction - Cable plugin first - Success (E02): EV connected (the
    transaction starts on plug-in), then Authorized (the idToken is Accepted, in the
    AuthorizeResponse and the TransactionEventResponse), then Charging."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        boot_2x(station)
        status_2x(station, "Occupied")
        session = Session2x(station, f"{case}-{version}")
        session.event("Started", "CablePluggedIn", info={"chargingState": "EVConnected"})
        auth = answered(station, "Authorize", {"idToken": id_token()})
        assert auth["idTokenInfo"]["status"] == "Accepted"
        event = session.event(
            "Updated", "Authorized", info={"chargingState": "EVConnected"}, idToken=id_token()
        )
        assert event["idTokenInfo"]["status"] == "Accepted"
        session.event("Updated", "ChargingStateChanged", info={"chargingState": "Charging"})
        tx = stored_tx(live, sid, session.tx_id)
        assert tx.active and tx.id_token == VALID_TAG and tx.charging_state == "Charging"
        session.event("Ended", "StopAuthorized", info={"stoppedReason": "Local"})


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_E_08_CSMS"])
def test_stop_energy_transfer_stopped(live: LiveCsms, case: str, version: str) -> None:
    """Stop transaction options - EnergyTransfer stopped - StopAuthorized: from the state
    StopAuthorized, an Ended event (ChargingStateChanged, EVConnected, Local) ends it."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        session = energy_transfer_started(station, f"{case}-{version}")
        stop = session.event(
            "Updated", "StopAuthorized", info={"chargingState": "EVConnected"}, idToken=id_token()
        )
        assert stop["idTokenInfo"]["status"] == "Accepted"
        session.event(
            "Ended",
            "ChargingStateChanged",
            info={"chargingState": "EVConnected", "stoppedReason": "Local"},
        )
        tx = stored_tx(live, sid, session.tx_id)
        assert not tx.active and tx.stop_reason == "Local"


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_B_21_CSMS"])
def test_reset_on_idle_with_transaction(live: LiveCsms, case: str, version: str) -> None:
    """Reset Charging Station - With Ongoing Transaction - OnIdle (B12): ResetRequest type
    OnIdle answered Scheduled (the command's result); the transaction then stops
    (StopAuthorized, then Ended EVCommunicationLost / EVDisconnected) and the station
    reboots."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        session = energy_transfer_started(station, f"{case}-{version}")
        result = command(live, live.csms.commands.reset(sid, hard=False))
        assert answer_call(station, "Reset", {"status": "Scheduled"}) == {"type": "OnIdle"}
        assert result.result(10).status == "Scheduled"
        session.event(
            "Updated", "StopAuthorized", info={"chargingState": "EVConnected"}, idToken=id_token()
        )
        session.event(
            "Ended",
            "EVCommunicationLost",
            info={"chargingState": "Idle", "stoppedReason": "EVDisconnected"},
        )
        tx = stored_tx(live, sid, session.tx_id)
        assert not tx.active and tx.stop_reason == "EVDisconnected"
        boot_after_reset(station)


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_G_14_CSMS"])
def test_change_availability_with_transaction(live: LiveCsms, case: str, version: str) -> None:
    """Change Availability Charging Station - With ongoing transaction (G04): the station
    answers Scheduled (the command's result), reports its free connector Unavailable, ends
    the transaction, and reports the connector it used Unavailable too."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        session = energy_transfer_started(station, f"{case}-{version}")
        result = command(live, live.csms.commands.change_availability(sid, operative=False))
        request = answer_call(station, "ChangeAvailability", {"status": "Scheduled"})
        assert request == {"operationalStatus": "Inoperative"}
        assert result.result(10).status == "Scheduled"
        free = {"timestamp": NOW, "connectorStatus": "Unavailable", "evseId": 2, "connectorId": 1}
        assert answered(station, "StatusNotification", free) == {}
        session.event(
            "Updated", "StopAuthorized", info={"chargingState": "EVConnected"}, idToken=id_token()
        )
        session.event(
            "Ended",
            "EVCommunicationLost",
            info={"chargingState": "Idle", "stoppedReason": "EVDisconnected"},
        )
        status_2x(station, "Unavailable")
        assert not stored_tx(live, sid, session.tx_id).active


# -- 1.6: core profile, remote trigger, vendor messages -----------------------------------


@pytest.mark.parametrize("case", ["TC_007_CSMS"])
def test_start_with_cached_id_16(live: LiveCsms, case: str) -> None:
    """Regular Start Charging Session - Cached Id: the station starts from its cache (no
    Authorize.req first); StartTransaction.conf carries idTagInfo.status Accepted."""
    with live.station("CASE-1.6", "1.6") as station:
        station.boot()
        status16(station, 1, "Preparing")
        start = answered(
            station,
            "StartTransaction",
            {"connectorId": 1, "idTag": VALID_TAG, "meterStart": 0, "timestamp": fresh_time()},
        )
        assert start["idTagInfo"]["status"] == "Accepted"
        status16(station, 1, "Charging")
        stop_16(station, start["transactionId"])


@pytest.mark.parametrize("case", ["TC_019_1_CSMS"])
def test_retrieve_all_configuration_16(live: LiveCsms, case: str) -> None:
    """Retrieve all configuration keys: GetConfiguration without keys; the central system
    reads every key of the answer (readonly flag and value) and the unknown ones."""
    with live.station("CASE-1.6", "1.6") as station:
        station.boot()
        result = command(live, live.csms.commands.get_configuration("CASE-1.6"))
        answer = {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
                {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core"},
            ]
        }
        assert answer_call(station, "GetConfiguration", answer) == {}
        keys = {(v.variable, v.value, v.readonly) for v in result.result(10)}
        assert keys == {
            ("HeartbeatInterval", "300", False),
            ("NumberOfConnectors", "2", True),
            ("SupportedFeatureProfiles", "Core", True),
        }


@pytest.mark.parametrize("case", ["TC_021_CSMS"])
def test_change_configuration_16(live: LiveCsms, case: str) -> None:
    """Change/set Configuration: ChangeConfiguration with key MeterValueSampleInterval and
    value 60 (the case's values); Accepted is the command's result."""
    with live.station("CASE-1.6", "1.6") as station:
        station.boot()
        result = command(
            live,
            live.csms.commands.change_configuration("CASE-1.6", "MeterValueSampleInterval", "60"),
        )
        request = answer_call(station, "ChangeConfiguration", {"status": "Accepted"})
        assert request == {"key": "MeterValueSampleInterval", "value": "60"}
        assert result.result(10).status == "Accepted"


@pytest.mark.parametrize("case", ["TC_054_CSMS"])
def test_trigger_message_16(live: LiveCsms, case: str) -> None:
    """Trigger Message: TriggerMessage for MeterValues, Heartbeat, StatusNotification,
    DiagnosticsStatusNotification and FirmwareStatusNotification, each Accepted and the
    triggered message answered."""
    station = live.station("CASE-1.6", "1.6")
    triggered: list[tuple[str, dict[str, Any]]] = [
        (
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [
                    {
                        "timestamp": fresh_time(),
                        "sampledValue": [{"value": "1200", "unit": "Wh"}],
                    }
                ],
            },
        ),
        ("Heartbeat", {}),
        ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        ("DiagnosticsStatusNotification", {"status": "Idle"}),
        ("FirmwareStatusNotification", {"status": "Idle"}),
    ]
    try:
        station.boot()
        for message, payload in triggered:
            result = command(
                live,
                live.csms.commands.trigger_message("CASE-1.6", message=message, evse_id=1),
            )
            request = answer_call(station, "TriggerMessage", {"status": "Accepted"})
            assert request == {"requestedMessage": message, "connectorId": 1}
            assert result.result(10).status == "Accepted"
            answered(station, message, payload)
    finally:
        station.close()


@pytest.mark.parametrize(("case", "version"), [("TC_061_CSMS", "1.6"), ("TC_C_37_CSMS", "2.0.1")])
def test_clear_cache(live: LiveCsms, case: str, version: str) -> None:
    """Clear Authorization Data in Authorization Cache (1.6 TC_061, 2.0.1 TC_C_37 -
    Accepted): ClearCache; Accepted is the command's result."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        station.boot()
        result = command(live, live.csms.commands.clear_cache(sid))
        assert answer_call(station, "ClearCache", {"status": "Accepted"}) == {}
        assert result.result(10).status == "Accepted"


@pytest.mark.parametrize(
    ("case", "version"),
    [("TC_064_CSMS", "1.6"), ("TC_P_02_CSMS", "2.0.1"), ("TC_P_02_CSMS", "2.1")],
)
def test_data_transfer_to_central_system(live: LiveCsms, case: str, version: str) -> None:
    """Data Transfer to a Central System (1.6), Data Transfer to the CSMS - Rejected /
    Unknown VendorId / Unknown MessageId (2.0.1 P01): a DataTransfer with a vendorId the
    central system does not support is answered Rejected, UnknownMessageId or
    UnknownVendorId."""
    with live.station(f"CASE-{version}", version) as station:
        station.boot()
        payload = {"vendorId": "org.example.unknown", "messageId": "Probe", "data": "x"}
        answer = answered(station, "DataTransfer", payload)
        assert answer["status"] in {"Rejected", "UnknownMessageId", "UnknownVendorId"}


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_F_12_CSMS"])
def test_trigger_meter_values_all_evse(live: LiveCsms, case: str, version: str) -> None:
    """Trigger message - MeterValues - All EVSE (F06): TriggerMessageRequest with
    requestedMessage MeterValues and no evse; the triggered MeterValues (context Trigger)
    are answered."""
    sid = f"CASE-{version}"
    with live.station(sid, version) as station:
        boot_2x(station)
        result = command(live, live.csms.commands.trigger_message(sid, message="MeterValues"))
        request = answer_call(station, "TriggerMessage", {"status": "Accepted"})
        assert request == {"requestedMessage": "MeterValues"}
        assert result.result(10).status == "Accepted"
        meter = {
            "evseId": 1,
            "meterValue": [
                {
                    "timestamp": NOW,
                    "sampledValue": [
                        {
                            "value": 4321.0,
                            "context": "Trigger",
                            "measurand": "Energy.Active.Import.Register",
                        }
                    ],
                }
            ],
        }
        assert answered(station, "MeterValues", meter) == {}


# -- security, firmware and logs (2.0.1 test cases A, L, N) ---------------------------------


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize(("case", "accept"), [("TC_A_09_CSMS", True), ("TC_A_10_CSMS", False)])
def test_update_basic_auth_password(live: LiveCsms, case: str, accept: bool, version: str) -> None:
    """Update Charging Station Password for HTTP Basic Authentication - Accepted / Rejected
    (A01): SetVariablesRequest SecurityCtrlr.BasicAuthPassword with a new password of 16-40
    characters. Accepted: the station reconnects with the new password, which is let in,
    and the old one is refused from then on. Rejected: the station keeps its password."""
    from websockets.exceptions import InvalidStatus

    from tests.conformance.harness import PASSWORD, open_station

    sid = f"SECURITY-{version}"
    with live.station(sid, version) as station:
        station.boot()
        result = command(live, live.csms.credentials.rotate_password(sid))
        request = answer_call(
            station,
            "SetVariables",
            {
                "setVariableResult": [
                    {
                        "attributeStatus": "Accepted" if accept else "Rejected",
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    }
                ]
            },
        )
        (data,) = request["setVariableData"]
        assert (data["component"], data["variable"]) == (
            {"name": "SecurityCtrlr"},
            {"name": "BasicAuthPassword"},
        )
        new_password = data["attributeValue"]
        assert 16 <= len(new_password) <= 40 and new_password != PASSWORD
        assert result.result(10).accepted is accept
    if not accept:
        again = open_station(live.csms.port, sid, version)
        again.boot()
        again.close()
        return
    again = open_station(live.csms.port, sid, version, password=new_password)
    try:
        again.boot()
    finally:
        again.close()
    with pytest.raises(InvalidStatus) as refused:
        open_station(live.csms.port, sid, version).close()
    assert refused.value.response.status_code == 401
    # put the conformance password back for the other cases
    live.run(_set_password(live, sid, PASSWORD))


async def _set_password(live: LiveCsms, station_id: str, password: str) -> None:
    import dataclasses

    from csms.core.passwords import hash_password

    record = await live.csms.store.get_station(station_id)
    assert record is not None
    await live.csms.store.put_station(
        dataclasses.replace(record, password_hash=hash_password(password))
    )


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize(
    ("case", "log_type", "answer"),
    [
        ("TC_N_25_CSMS", "DiagnosticsLog", "Accepted"),
        ("TC_N_35_CSMS", "SecurityLog", "Accepted"),
        ("TC_N_34_CSMS", "DiagnosticsLog", "Rejected"),
    ],
)
def test_retrieve_log(live: LiveCsms, case: str, log_type: str, answer: str, version: str) -> None:
    """Retrieve Log Information - Diagnostics Log / Security Log - Success, and - Rejected
    (N01): GetLogRequest with the logType, a requestId and log.remoteLocation; on Accepted
    the station's LogStatusNotifications (Uploading, Uploaded) with that requestId are
    answered; a Rejected answer is reported as such."""
    sid = f"SECURITY-{version}"
    with live.station(sid, version) as station:
        station.boot()
        result = command(
            live,
            live.csms.maintenance.get_log(
                sid, log_type=log_type, remote_location="https://logs.example/upload"
            ),
        )
        reply: dict[str, Any] = {"status": answer}
        if answer == "Accepted":
            reply["filename"] = f"{log_type}.zip"
        request = answer_call(station, "GetLog", reply)
        assert request["logType"] == log_type
        assert request["log"] == {"remoteLocation": "https://logs.example/upload"}
        done = result.result(10)
        assert (done.request_id, done.status) == (request["requestId"], answer)
        if answer == "Accepted":
            for status in ("Uploading", "Uploaded"):
                note = {"status": status, "requestId": request["requestId"]}
                assert answered(station, "LogStatusNotification", note) == {}


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("case", ["TC_L_01_CSMS"])
def test_secure_firmware_update(live: LiveCsms, case: str, version: str, tmp_path: Any) -> None:
    """Secure Firmware Update - Installation successful (L01): UpdateFirmwareRequest with
    location, retrieveDateTime, signingCertificate and signature; the station's
    FirmwareStatusNotifications through Installed (with the requestId), its
    SecurityEventNotification FirmwareUpdated and the BootNotification after the reboot
    (reason FirmwareUpdate) are answered."""
    from tests.fixtures.pki import Pki

    signer = Pki(tmp_path / "pki").ca.cert_file.read_text()
    sid = f"SECURITY-{version}"
    with live.station(sid, version) as station:
        station.boot()
        result = command(
            live,
            live.csms.maintenance.update_firmware(
                sid,
                location="https://firmware.example/cs-2.0.bin",
                retrieve_at=datetime.now(UTC),
                signing_certificate=signer,
                signature="c2lnbmF0dXJl",
            ),
        )
        request = answer_call(station, "UpdateFirmware", {"status": "Accepted"})
        firmware = request["firmware"]
        assert firmware["location"] == "https://firmware.example/cs-2.0.bin"
        assert (firmware["signingCertificate"], firmware["signature"]) == (signer, "c2lnbmF0dXJl")
        assert result.result(10).status == "Accepted"
        request_id = request["requestId"]
        for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing"):
            note = {"status": status, "requestId": request_id}
            assert answered(station, "FirmwareStatusNotification", note) == {}
        event = {"type": "FirmwareUpdated", "timestamp": fresh_time()}
        assert answered(station, "SecurityEventNotification", event) == {}
        boot = {"reason": "FirmwareUpdate", "chargingStation": {"model": "M", "vendorName": "Lab"}}
        assert answered(station, "BootNotification", boot)["status"] == "Accepted"
        note = {"status": "Installed", "requestId": request_id}
        assert answered(station, "FirmwareStatusNotification", note) == {}
