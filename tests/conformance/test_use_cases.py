"""Use cases of the Open Charge Alliance's published CSMS test-case lists, against the running
central system, each test parametrized with its published test-case id.

The station's side of each scenario is scripted frame by frame (the "tool" of the OCA test
cases); the checks are the test case's "Central System side" validations. The table of
cases, with which are implemented and pass, is in docs/conformance.md.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Future
from typing import Any

import pytest

from tests.conformance.harness import VALID_TAG, LiveCsms, RawStation

NOW = "2026-03-02T06:00:00.000Z"


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
    station = live.station("CASE-1.6", "1.6")
    try:
        boot = answered(
            station,
            "BootNotification",
            {"chargePointVendor": "Lab", "chargePointModel": "Conformance"},
        )
        assert boot["status"] == "Accepted" and boot["interval"] > 0
        for connector in (0, 1, 2):
            status16(station, connector, "Available")
        assert "currentTime" in answered(station, "Heartbeat", {})
    finally:
        station.close()


@pytest.mark.parametrize(("case", "plug_first"), [("TC_010_CSMS", True), ("TC_011_1_CSMS", False)])
def test_remote_start_16(live: LiveCsms, case: str, plug_first: bool) -> None:
    """Remote Start Charging Session (cable plugged in first / remote start first): the
    central system sends RemoteStartTransaction; Authorize.conf and StartTransaction.conf
    carry idTagInfo.status Accepted; the command completes with the transaction."""
    station = live.station("CASE-1.6", "1.6")
    try:
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
    finally:
        station.close()


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize("case", ["TC_B_01_CSMS"])
def test_cold_boot_accepted_2x(live: LiveCsms, case: str, version: str) -> None:
    """Cold Boot Charging Station - Accepted (use case B01): BootNotificationResponse status
    Accepted, then the station's StatusNotifications and Heartbeat are answered."""
    station = live.station(f"CASE-{version}", version)
    try:
        boot = answered(
            station,
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "Lab"}},
        )
        assert boot["status"] == "Accepted" and boot["interval"] > 0
        status = {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
        assert answered(station, "StatusNotification", status) == {}
        assert "currentTime" in answered(station, "Heartbeat", {})
    finally:
        station.close()


def boot_2x(station: RawStation) -> None:
    station.boot()


def id_token() -> dict[str, str]:
    return {"idToken": VALID_TAG, "type": "ISO14443"}


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize("case", ["TC_E_10_CSMS"])
def test_start_transaction_authorized_local(live: LiveCsms, case: str, version: str) -> None:
    """Start transaction options - Authorized - Local (E01 S3): AuthorizeResponse and the
    Started TransactionEventResponse both carry idTokenInfo.status Accepted."""
    station = live.station(f"CASE-{version}", version)
    try:
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
    finally:
        station.close()


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize("case", ["TC_E_09_CSMS"])
def test_start_transaction_ev_connected(live: LiveCsms, case: str, version: str) -> None:
    """Start transaction options - EVConnected (E01 S2): the connector's Occupied
    StatusNotification and NotifyEvent, then a Started TransactionEvent (CablePluggedIn,
    chargingState EVConnected), are all answered."""
    station = live.station(f"CASE-{version}", version)
    try:
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
    finally:
        station.close()


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize("case", ["TC_B_25_CSMS"])
def test_reset_evse_without_transaction(live: LiveCsms, case: str, version: str) -> None:
    """Reset EVSE - Without ongoing transaction (B11): the CSMS sends ResetRequest type
    OnIdle with the evseId; the station's Accepted is the command's result."""
    station = live.station(f"CASE-{version}", version)
    try:
        boot_2x(station)
        result = command(live, live.csms.commands.reset(f"CASE-{version}", hard=False, evse_id=1))
        request = answer_call(station, "Reset", {"status": "Accepted"})
        assert request == {"type": "OnIdle", "evseId": 1}
        assert result.result(10).status == "Accepted"
    finally:
        station.close()
