from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulators.charging_profiles import (
    ChargingProfile,
    ProfileError,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
    parse_profile,
)
from simulators.composite import CompositePeriod, composite_schedule, limit_at, next_change

DAY = datetime(2026, 3, 5, tzinfo=UTC)


def at(hour: int, minute: int = 0, *, day: int = 0) -> datetime:
    return DAY + timedelta(days=day, hours=hour, minutes=minute)


def profile16(
    *,
    pid: int = 1,
    level: int = 0,
    purpose: str = "TxDefaultProfile",
    kind: str = "Absolute",
    unit: str = "A",
    periods: list[tuple[int, float]] | None = None,
    start: datetime | None = DAY,
    duration_s: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": s, "limit": limit} for s, limit in (periods or [(0, 32)])
        ],
    }
    if start is not None:
        schedule["startSchedule"] = start.isoformat()
    if duration_s is not None:
        schedule["duration"] = duration_s
    return {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
        **extra,
    }


def test_parses_ocpp16_camel_case() -> None:
    p = parse_profile(
        profile16(
            purpose="ChargePointMaxProfile",
            level=2,
            periods=[(0, 16), (600, 8.5)],
            duration_s=3600,
            validTo="2026-03-06T00:00:00Z",
        )
    )
    assert p.id == 1
    assert p.stack_level == 2
    assert p.purpose is ProfilePurpose.STATION_MAX
    assert p.kind is ProfileKind.ABSOLUTE
    assert p.schedule.unit is RateUnit.A
    assert p.schedule.periods == (SchedulePeriod(0, 16.0), SchedulePeriod(600, 8.5))
    assert p.schedule.duration_s == 3600
    assert p.schedule.start_schedule == DAY
    assert p.valid_to == datetime(2026, 3, 6, tzinfo=UTC)


def test_parses_ocpp201_snake_case_from_the_ocpp_library() -> None:
    p = parse_profile(
        {
            "id": 7,
            "stack_level": 1,
            "charging_profile_purpose": "TxProfile",
            "charging_profile_kind": "Relative",
            "transaction_id": "tx-1",
            "charging_schedule": [
                {
                    "id": 1,
                    "charging_rate_unit": "W",
                    "charging_schedule_period": [
                        {"start_period": 0, "limit": 7400, "number_phases": 1}
                    ],
                    "min_charging_rate": 1400,
                }
            ],
        }
    )
    assert p.id == 7
    assert p.purpose is ProfilePurpose.TX
    assert p.kind is ProfileKind.RELATIVE
    assert p.transaction_id == "tx-1"
    assert p.schedule.periods == (SchedulePeriod(0, 7400.0, 1),)
    assert p.schedule.min_charging_rate == 1400.0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"chargingProfilePurpose": "Cheapest"}, "chargingProfilePurpose"),
        ({"stackLevel": -1}, "stackLevel"),
        ({"chargingProfileKind": "Recurring"}, "recurrencyKind"),
        ({"validFrom": "2026-03-05T10:00:00Z", "validTo": "2026-03-05T09:00:00Z"}, "validTo"),
        ({"validFrom": "yesterday"}, "validFrom"),
        ({"transactionId": 5}, "transactionId"),
    ],
)
def test_rejects_bad_profiles_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ProfileError) as err:
        parse_profile({**profile16(), **change})
    assert err.value.field == field


@pytest.mark.parametrize(
    ("periods", "field"),
    [
        ([(60, 16)], "chargingSchedule.chargingSchedulePeriod[0].startPeriod"),
        ([(0, 16), (0, 8)], "chargingSchedule.chargingSchedulePeriod[1].startPeriod"),
        ([(0, -1)], "chargingSchedule.chargingSchedulePeriod[0].limit"),
    ],
)
def test_rejects_contradictory_periods(periods: list[tuple[int, float]], field: str) -> None:
    with pytest.raises(ProfileError) as err:
        parse_profile(profile16(periods=periods))
    assert err.value.field == field


def test_absolute_without_start_starts_when_received() -> None:
    with pytest.raises(ProfileError):
        parse_profile(profile16(start=None))
    p = parse_profile(profile16(start=None), received_at=at(9))
    assert p.schedule.start_schedule == at(9)


def test_higher_stack_level_wins_inside_its_validity_window() -> None:
    base = parse_profile(profile16(pid=1, level=0, periods=[(0, 32)]))
    peak = parse_profile(
        profile16(
            pid=2,
            level=1,
            periods=[(0, 16)],
            validFrom=at(10).isoformat(),
            validTo=at(12).isoformat(),
        )
    )
    profiles = [base, peak]
    assert limit_at(profiles, at(9), unit=RateUnit.A) is not None
    assert limit_at(profiles, at(9), unit=RateUnit.A).limit == 32  # type: ignore[union-attr]
    assert limit_at(profiles, at(10, 30), unit=RateUnit.A).limit == 16  # type: ignore[union-attr]
    assert limit_at(profiles, at(12), unit=RateUnit.A).limit == 32  # type: ignore[union-attr]


def test_tx_profile_overrides_tx_default_and_station_max_caps_it() -> None:
    default = parse_profile(profile16(pid=1, level=5, periods=[(0, 10)]))
    tx = parse_profile(profile16(pid=2, level=0, purpose="TxProfile", periods=[(0, 32)]))
    station_max = parse_profile(
        profile16(pid=3, purpose="ChargePointMaxProfile", unit="W", periods=[(0, 11000)])
    )
    only_default = limit_at([default], at(9), unit=RateUnit.A)
    assert only_default is not None and only_default.limit == 10
    # 32 A x 230 V x 3 = 22080 W, capped at 11000 W = 11000 / 690 A per phase.
    capped = limit_at([default, tx, station_max], at(9), unit=RateUnit.A)
    assert capped is not None
    assert capped.limit == pytest.approx(11000 / 690)
    watts = limit_at([default, tx, station_max], at(9), unit=RateUnit.W)
    assert watts is not None and watts.limit == pytest.approx(11000.0)


def test_number_phases_and_voltage_convert_amps_to_watts() -> None:
    raw = profile16(periods=[(0, 16)])
    raw["chargingSchedule"]["chargingSchedulePeriod"][0]["numberPhases"] = 1
    p = parse_profile(raw)
    found = limit_at([p], at(9), unit=RateUnit.W, voltage_v=230.0)
    assert found is not None
    assert found.limit == pytest.approx(3680.0)
    assert found.number_phases == 1
    # Without numberPhases the caller's default (3) applies: 16 x 230 x 3.
    three = limit_at([parse_profile(profile16(periods=[(0, 16)]))], at(9), unit=RateUnit.W)
    assert three is not None and three.limit == pytest.approx(11040.0)


def test_limit_tells_the_unit_it_was_set_in() -> None:
    amps = parse_profile(profile16(pid=1, purpose="ChargePointMaxProfile", periods=[(0, 16)]))
    watts = parse_profile(
        profile16(pid=2, purpose="ChargePointMaxProfile", unit="W", periods=[(0, 5000)])
    )
    found = limit_at([amps], at(9), unit=RateUnit.W)
    assert found is not None and found.source_unit is RateUnit.A
    # The tighter of the two sets it: 5000 W < 16 A x 230 V x 3 = 11040 W.
    found = limit_at([amps, watts], at(9), unit=RateUnit.A)
    assert found is not None and found.source_unit is RateUnit.W
    assert found.limit == pytest.approx(5000 / 690)


def test_relative_profile_runs_from_the_transaction_start() -> None:
    p = parse_profile(
        profile16(kind="Relative", start=None, periods=[(0, 16), (3600, 8)], duration_s=7200)
    )
    assert limit_at([p], at(10, 30), unit=RateUnit.A) is None  # no transaction
    got = [
        limit_at([p], t, unit=RateUnit.A, tx_start=at(10))
        for t in (at(10, 30), at(11, 30), at(12, 30))
    ]
    assert [g.limit if g else None for g in got] == [16, 8, None]


def test_daily_recurring_profile_repeats_and_ends_with_its_duration() -> None:
    p = parse_profile(
        profile16(
            kind="Recurring",
            recurrencyKind="Daily",
            unit="W",
            start=datetime(2026, 1, 1, 18, tzinfo=UTC),
            periods=[(0, 6000), (6 * 3600, 11000)],
            duration_s=12 * 3600,
        )
    )
    assert p.recurrency is RecurrencyKind.DAILY

    def value(t: datetime) -> float | None:
        found = limit_at([p], t)
        return None if found is None else found.limit

    assert value(at(19)) == 6000  # 1 h into the 18:00 recurrence
    assert value(at(1, day=1)) == 11000  # 7 h in
    assert value(at(7, day=1)) is None  # 13 h in: past the 12 h duration
    assert value(at(17, day=1)) is None
    assert value(datetime(2025, 12, 31, 19, tzinfo=UTC)) is None  # before the first one


def test_weekly_recurring_profile() -> None:
    # 2026-03-02 is a Monday; Mondays 08:00-10:00 limited to 8 A.
    p = parse_profile(
        profile16(
            kind="Recurring",
            recurrencyKind="Weekly",
            start=datetime(2026, 3, 2, 8, tzinfo=UTC),
            periods=[(0, 8)],
            duration_s=7200,
        )
    )
    monday = datetime(2026, 3, 16, 9, tzinfo=UTC)
    assert limit_at([p], monday, unit=RateUnit.A) is not None
    assert limit_at([p], monday + timedelta(days=1), unit=RateUnit.A) is None


def test_lower_stack_level_takes_over_when_the_higher_schedule_ends() -> None:
    base = parse_profile(profile16(pid=1, level=0, periods=[(0, 32)]))
    boost = parse_profile(profile16(pid=2, level=3, periods=[(0, 6)], start=at(8), duration_s=1800))
    got = limit_at([base, boost], at(8, 10), unit=RateUnit.A)
    assert got is not None and got.limit == 6
    got = limit_at([base, boost], at(8, 30), unit=RateUnit.A)
    assert got is not None and got.limit == 32


def test_composite_schedule_of_stacked_profiles_hand_computed() -> None:
    station_max = parse_profile(
        profile16(pid=1, purpose="ChargePointMaxProfile", unit="W", periods=[(0, 11000)])
    )
    default = parse_profile(
        profile16(
            pid=2, start=at(8), periods=[(0, 32), (3600, 10), (7200, 20)], duration_s=3 * 3600
        )
    )
    # 32 A = 22080 W -> 11000; 10 A = 6900 W; 20 A = 13800 W -> 11000; after 3 h max only.
    watts = composite_schedule([station_max, default], start=at(8), duration_s=4 * 3600)
    assert watts.unit is RateUnit.W
    assert watts.periods == (
        CompositePeriod(0, 11000.0, 3),
        CompositePeriod(3600, 6900.0, 3),
        CompositePeriod(7200, 11000.0, 3),
    )
    amps = composite_schedule(
        [station_max, default], start=at(8, 30), duration_s=3600, unit=RateUnit.A
    )
    assert amps.periods == (CompositePeriod(0, 15.942, 3), CompositePeriod(1800, 10.0, 3))


def test_composite_schedule_fills_gaps_with_the_default_limit() -> None:
    p = parse_profile(profile16(start=at(9), periods=[(0, 16)], duration_s=3600))
    sched = composite_schedule(
        [p], start=at(8), duration_s=3 * 3600, unit=RateUnit.A, default_limit=32.0
    )
    assert sched.periods == (
        CompositePeriod(0, 32.0, 3),
        CompositePeriod(3600, 16.0, 3),
        CompositePeriod(7200, 32.0, 3),
    )
    assert composite_schedule([p], start=at(8), duration_s=600).periods == ()


def test_next_change_finds_the_next_period_boundary() -> None:
    p = parse_profile(profile16(start=at(9), periods=[(0, 16), (1800, 8)], duration_s=3600))
    assert next_change([p], at(8)) == at(9)
    assert next_change([p], at(9)) == at(9, 30)
    assert next_change([p], at(9, 30)) == at(10)
    assert next_change([p], at(10)) is None


def test_min_charging_rate_is_reported_with_the_limit() -> None:
    raw = profile16(periods=[(0, 6)])
    raw["chargingSchedule"]["minChargingRate"] = 6.0
    found = limit_at([parse_profile(raw)], at(9), unit=RateUnit.A)
    assert found is not None and found.min_charging_rate == 6.0


def test_profiles_are_frozen() -> None:
    p = parse_profile(profile16())
    assert isinstance(p, ChargingProfile)
    with pytest.raises(AttributeError):
        p.stack_level = 3  # type: ignore[misc]


def test_module_api() -> None:
    import simulators.charging_profiles as cp
    import simulators.composite as composite

    assert sorted(cp.__all__) == sorted(
        [
            "OPERATION_MODES",
            "ChargingProfile",
            "ChargingSchedule",
            "ProfileError",
            "ProfileKind",
            "ProfilePurpose",
            "RateUnit",
            "RecurrencyKind",
            "SchedulePeriod",
            "parse_profile",
        ]
    )
    assert sorted(composite.__all__) == sorted(
        [
            "CompositePeriod",
            "CompositeSchedule",
            "Limit",
            "composite_schedule",
            "limit_at",
            "next_change",
            "setpoint_at",
            "to_unit",
        ]
    )


def test_decimal_limits_as_the_ocpp_library_parses_16_payloads_are_numbers() -> None:
    from decimal import Decimal

    data = profile16(periods=[(0, Decimal("16.0")), (300, Decimal("10.5"))])  # type: ignore[list-item]
    data["chargingSchedule"]["minChargingRate"] = Decimal("6.0")
    p = parse_profile(data)
    assert [period.limit for period in p.schedule.periods] == [16.0, 10.5]
    assert all(type(period.limit) is float for period in p.schedule.periods)
    assert p.schedule.min_charging_rate == 6.0
    with pytest.raises(ProfileError, match="expected a number"):
        parse_profile(profile16(periods=[(0, Decimal("NaN"))]))  # type: ignore[list-item]
