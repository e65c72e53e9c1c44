"""Plans as OCPP SetChargingProfile payloads, checked against the ocpp library's schemas."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.messages import Call, validate_payload

from optimizer import (
    InvalidProblem,
    LimitNode,
    Phase,
    safe_evse_limits_w,
    solve,
    to_charging_profiles,
    to_fallback_profiles,
)
from tests.unit.optimizer.helpers import evse, problem, session


def _problem() -> Any:
    return problem(
        nodes=(LimitNode("grid", max_import_w=7000.0),),
        evses=(
            evse("E1", ocpp_evse_id=1),
            evse("E2", ocpp_evse_id=2, phase=Phase.L2, max_current_a=32.0),
        ),
        sessions=(session("S1", "E1", hours=1, energy_wh=5000.0, transaction_id="42"),),
    )


async def _validate(version: str, payload: dict[str, Any]) -> None:
    await validate_payload(
        Call(unique_id="1", action="SetChargingProfile", payload=payload), version
    )


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("unit", ["A", "W"])
async def test_tx_profiles_follow_the_plan_and_pass_the_schema(version: str, unit: str) -> None:
    p = _problem()
    plan = solve(p)
    requests = to_charging_profiles(plan, p, ocpp_version=version, unit=unit)  # type: ignore[arg-type]
    assert [(r.station_id, r.evse_id, r.purpose) for r in requests] == [("CS1", 1, "TxProfile")]
    payload = requests[0].payload
    await _validate(version, payload)
    profile = payload["csChargingProfiles"] if version == "1.6" else payload["chargingProfile"]
    schedule = profile["chargingSchedule"]
    if version == "2.0.1":
        assert payload["evseId"] == 1 and profile["transactionId"] == "42"
        schedule = schedule[0]
    else:
        assert payload["connectorId"] == 1 and profile["transactionId"] == 42
    assert schedule["startSchedule"] == "2026-01-05T00:00:00Z"
    assert schedule["duration"] == 3600
    # plan: 7000, 7000, 6000, 0 W on a 3-phase 230 V EVSE
    expected = [7000.0, 6000.0, 0.0] if unit == "W" else [10.1, 8.6, 0.0]
    assert [x["limit"] for x in schedule["chargingSchedulePeriod"]] == expected
    assert [x["startPeriod"] for x in schedule["chargingSchedulePeriod"]] == [0, 1800, 2700]
    assert {x["numberPhases"] for x in schedule["chargingSchedulePeriod"]} == {3}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("unit", ["A", "W"])
async def test_fallback_profiles_are_safe_and_valid(version: str, unit: str) -> None:
    p = _problem()
    requests = to_fallback_profiles(p, ocpp_version=version, unit=unit)  # type: ignore[arg-type]
    station_max = "ChargePointMaxProfile" if version == "1.6" else "ChargingStationMaxProfile"
    assert [(r.evse_id, r.purpose) for r in requests] == [
        (1, "TxDefaultProfile"),
        (2, "TxDefaultProfile"),
        (0, station_max),
    ]
    for request in requests:
        await _validate(version, request.payload)
    # both EVSEs at full power would draw 11,040 + 7,360 W; the 7 kW connection scales
    # both by 7000 / 18400
    safe = safe_evse_limits_w(p)
    assert safe["E1"] == pytest.approx(11040.0 * 7000.0 / 18400.0)
    assert safe["E2"] == pytest.approx(7360.0 * 7000.0 / 18400.0)
    assert safe["E1"] + safe["E2"] == pytest.approx(7000.0)


def test_unknown_version_is_rejected() -> None:
    p = _problem()
    with pytest.raises(InvalidProblem) as info:
        to_charging_profiles(solve(p), p, ocpp_version="1.5")  # type: ignore[arg-type]
    assert info.value.field == "ocpp_version"
