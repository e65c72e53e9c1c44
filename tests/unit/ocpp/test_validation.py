"""The compiled OCPP schemas: a sampled value's measurand and unit are not held to OCPP's
enumerations (decision 0506); every other enumeration is."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.exceptions import FormatViolationError, OccurrenceConstraintViolationError, OCPPError

from csms.ocpp.validation import CALL, validate


def _meter_16(sample: dict[str, Any]) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2026-03-02T06:00:00Z", "sampledValue": [sample]}],
    }


def _meter_201(sample: dict[str, Any]) -> dict[str, Any]:
    return {
        "evseId": 1,
        "meterValue": [{"timestamp": "2026-03-02T06:00:00Z", "sampledValue": [sample]}],
    }


@pytest.mark.parametrize(
    ("version", "payload"),
    [
        ("1.6", _meter_16({"value": "1", "measurand": "Power.Imaginary"})),
        ("1.6", _meter_16({"value": "1", "measurand": "power.active.import", "unit": "kw"})),
        ("2.0.1", _meter_201({"value": 1, "measurand": "Power.Imaginary"})),
        ("2.1", _meter_201({"value": 1, "measurand": "Power.Imaginary"})),
    ],
)
def test_any_measurand_and_unit_string_passes(version: str, payload: dict[str, Any]) -> None:
    validate(version, "MeterValues", CALL, payload)


@pytest.mark.parametrize(
    ("version", "payload"),
    [
        ("1.6", _meter_16({"value": "1", "measurand": 7})),  # still a string
        ("1.6", _meter_16({"value": "1", "phase": "L4"})),  # other enumerations hold
        ("1.6", _meter_16({"value": "1", "context": "Whenever"})),
        ("2.0.1", _meter_201({"value": 1, "measurand": "x" * 51, "location": "Roof"})),
        ("2.0.1", _meter_201({"value": "1"})),  # 2.0.1 values are numbers
        ("2.1", _meter_201({"value": "1"})),
    ],
)
def test_everything_else_is_still_checked(version: str, payload: dict[str, Any]) -> None:
    with pytest.raises(OCPPError):
        validate(version, "MeterValues", CALL, payload)


def test_status_enumerations_are_still_enforced() -> None:
    with pytest.raises(OCPPError):
        validate(
            "1.6",
            "StatusNotification",
            CALL,
            {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"},
        )


def test_each_version_is_checked_against_its_own_schemas() -> None:
    # V2X parameters are 2.1's: a 2.0.1 station may not send them, a 2.1 station may.
    needs = {
        "evseId": 1,
        "chargingNeeds": {
            "requestedEnergyTransfer": "DC",
            "v2xChargingParameters": {"maxChargePower": 50_000},
        },
    }
    validate("2.1", "NotifyEVChargingNeeds", CALL, needs)
    with pytest.raises(FormatViolationError):
        validate("2.0.1", "NotifyEVChargingNeeds", CALL, needs)
    # 2.1 still checks: a TransactionEvent without its seqNo is refused.
    with pytest.raises(OccurrenceConstraintViolationError):
        validate(
            "2.1",
            "TransactionEvent",
            CALL,
            {
                "eventType": "Started",
                "timestamp": "2026-01-01T00:00:00Z",
                "triggerReason": "Authorized",
                "transactionInfo": {"transactionId": "t"},
            },
        )
