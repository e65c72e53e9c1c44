"""Charging limits rendered as 1.6 charging profiles (pure function, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from csms.domain import ChargingLimit, ChargingRateUnit
from csms.ocpp import validation
from csms.ocpp.v16 import charging_profile


def test_station_max_profile_uses_the_16_name_and_rounds_limits() -> None:
    limit = ChargingLimit(
        "CP",
        0,
        ChargingRateUnit.AMPERE,
        ((0, 31.96, 3), (900, 10.04, None)),
        purpose="ChargingStationMaxProfile",
        stack_level=2,
        profile_id=4,
        start_at=datetime(2026, 3, 2, 6, 0, tzinfo=UTC),
        duration_s=3600,
        min_rate=6.01,
    )
    profile = charging_profile(limit)
    assert profile == {
        "chargingProfileId": 4,
        "stackLevel": 2,
        "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 32.0, "numberPhases": 3},
                {"startPeriod": 900, "limit": 10.0},
            ],
            "duration": 3600,
            "startSchedule": "2026-03-02T06:00:00.000Z",
            "minChargingRate": 6.0,
        },
    }
    validation.validate(
        "1.6",
        "SetChargingProfile",
        validation.CALL,
        {"connectorId": 0, "csChargingProfiles": profile},
    )


def test_tx_profile_names_the_transaction() -> None:
    limit = ChargingLimit("CP", 1, ChargingRateUnit.WATT, ((0, 7400.0, None),), transaction_id=12)
    profile = charging_profile(limit)
    assert (profile["chargingProfileKind"], profile["transactionId"]) == ("Relative", 12)
    assert "transactionId" not in charging_profile(limit, purpose="TxProfile")
