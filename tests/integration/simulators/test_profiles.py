"""Profile compliance: meter values never exceed the limit in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargegrid.clock import VirtualClock
from simulators.charging_profiles import RateUnit, parse_profile
from simulators.composite import limit_at
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import ev_at, parse_time, running, station_runner

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)


def _schedule(begin: datetime, unit: str, periods: list[tuple[int, float]]) -> dict[str, Any]:
    return {
        "start_schedule": begin.isoformat(),
        "charging_rate_unit": unit,
        "charging_schedule_period": [{"start_period": s, "limit": v} for s, v in periods],
    }


def _samples(meter_values: list[dict[str, Any]]) -> list[tuple[datetime, list[float], float]]:
    out = []
    for mv in meter_values:
        currents = [
            float(v["value"]) for v in mv["sampledValue"] if v["measurand"] == "Current.Import"
        ]
        power = next(
            float(v["value"]) for v in mv["sampledValue"] if v["measurand"] == "Power.Active.Import"
        )
        out.append((parse_time(mv["timestamp"]), currents, power))
    return out


def _check(
    samples: list[tuple[datetime, list[float], float]], profiles: list[tuple[datetime, Any]]
) -> int:
    """Check each sample against the profiles the station had accepted by its time (a
    profile is in force from its Accepted answer at the latest; before that the station
    rightly follows the ones it has)."""
    checked = 0
    for at, currents, power in samples:
        installed = [p for since, p in profiles if since <= at]
        if len(installed) < len(profiles):
            continue
        amps = limit_at(installed, at, unit=RateUnit.A)
        watts = limit_at(installed, at, unit=RateUnit.W)
        if amps is None or watts is None:
            continue
        assert max(currents) <= amps.limit + 1e-6, (at, currents, amps)
        assert power <= watts.limit + 1e-6, (at, power, watts)
        checked += 1
    return checked


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_meter_values_never_exceed_the_limit_in_force(
    central: FakeCentral, version: str
) -> None:
    url = await central.start()
    # Slow enough that the two SetChargingProfile round trips take a few simulated seconds
    # even on a loaded machine; the check below does not depend on how many.
    clock = VirtualClock(start=START, speed=300)
    ev = ev_at(START, 1, 25, max_ac_power_w=22_000)
    runner = station_runner(url, clock, version=version, sessions=[(1, ev)])
    async with running(runner):
        await central.wait_for(
            lambda: bool(central.of("MeterValues") or central.of("TransactionEvent")), 30
        )
        begin = (clock.now() + timedelta(seconds=60)).replace(microsecond=0)
        tx_default = _schedule(begin, "A", [(0, 16), (300, 10), (600, 24)])
        station_max = _schedule(begin, "W", [(0, 9000)])
        answered: list[datetime] = []

        async def install(request: Any) -> Any:
            answer = await central.call("SIM-0001", request)
            answered.append(clock.now())
            return answer

        if version == "1.6":
            answers = [
                await install(
                    call16.SetChargingProfile(
                        connector_id=1,
                        cs_charging_profiles={
                            "charging_profile_id": 1,
                            "stack_level": 0,
                            "charging_profile_purpose": "TxDefaultProfile",
                            "charging_profile_kind": "Absolute",
                            "charging_schedule": tx_default,
                        },
                    ),
                ),
                await install(
                    call16.SetChargingProfile(
                        connector_id=0,
                        cs_charging_profiles={
                            "charging_profile_id": 2,
                            "stack_level": 0,
                            "charging_profile_purpose": "ChargePointMaxProfile",
                            "charging_profile_kind": "Absolute",
                            "charging_schedule": station_max,
                        },
                    ),
                ),
            ]
            composite = await central.call(
                "SIM-0001",
                call16.GetCompositeSchedule(connector_id=1, duration=900, charging_rate_unit="A"),
            )
            periods = composite.charging_schedule["charging_schedule_period"]
        else:
            answers = [
                await install(
                    call201.SetChargingProfile(
                        evse_id=1,
                        charging_profile={
                            "id": 1,
                            "stack_level": 0,
                            "charging_profile_purpose": "TxDefaultProfile",
                            "charging_profile_kind": "Absolute",
                            "charging_schedule": [{"id": 1, **tx_default}],
                        },
                    ),
                ),
                await install(
                    call201.SetChargingProfile(
                        evse_id=0,
                        charging_profile={
                            "id": 2,
                            "stack_level": 0,
                            "charging_profile_purpose": "ChargingStationMaxProfile",
                            "charging_profile_kind": "Absolute",
                            "charging_schedule": [{"id": 2, **station_max}],
                        },
                    ),
                ),
            ]
            composite = await central.call(
                "SIM-0001",
                call201.GetCompositeSchedule(duration=900, evse_id=1, charging_rate_unit="A"),
            )
            periods = composite.schedule["charging_schedule_period"]
        assert [a.status for a in answers] == ["Accepted", "Accepted"]
        # 16 A x 230 V x 3 = 11040 W capped at 9000 W = 13.043 A (sent as 13.0: the schema
        # wants multiples of 0.1); then 10 A; then 24 A capped again.
        assert [p["limit"] for p in periods][-3:] == [13.0, 10.0, 13.0]
        await central.wait_for(lambda: clock.now() > begin + timedelta(minutes=14), 60)
    if version == "1.6":
        values = [mv for p in central.of("MeterValues") for mv in p["meterValue"]]
    else:
        values = [
            mv
            for p in central.of("TransactionEvent")
            for mv in p.get("meterValue", [])
            if any(v["measurand"] == "Current.Import" for v in mv["sampledValue"])
        ]
    profiles = [
        parse_profile(
            {
                "id": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": tx_default,
            }
        ),
        parse_profile(
            {
                "id": 2,
                "stackLevel": 0,
                "chargingProfilePurpose": "ChargingStationMaxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": station_max,
            }
        ),
    ]
    samples = _samples(values)
    assert _check(samples, list(zip(answered, profiles, strict=True))) >= 12
    # The limit binds: at 10 A the EV (22 kW) draws the full 10 A per phase.
    in_10a = [
        c
        for t, c, _ in samples
        if begin + timedelta(seconds=330) <= t < begin + timedelta(seconds=600)
    ]
    assert in_10a and all(min(c) >= 9.99 for c in in_10a)
    before = [c for t, c, _ in samples if t < begin]
    assert all(max(c) > 31 for c in before)  # unlimited: 22 kW is 31.88 A per phase
