"""Charging profiles and the composite schedule: which limit is in force, and when.

A pure module shared by the simulated stations and the central system. OCPP 1.6 and 2.0.1
charging profiles (camelCase wire form or the snake_case form the ``ocpp`` library hands to
handlers) are parsed once into frozen dataclasses by :func:`parse_profile`; after that no
function here knows an OCPP version.

How the limit in force at an instant is found (:func:`limit_at`):

1. A profile *applies* at ``t`` when ``valid_from <= t < valid_to`` and its schedule has a
   period at ``t``: the schedule has started (Absolute: ``start_schedule``; Relative: the
   transaction start; Recurring: the latest daily/weekly recurrence of ``start_schedule``),
   ``t`` is before the end of its ``duration_s`` and at or after its first period.
2. Within each purpose the applying profile with the highest stack level wins (a tie goes to
   the profile given later, e.g. the connector-specific one after the station-wide one).
3. A TxProfile that applies overrides the TxDefaultProfile; the station-wide maximum
   (ChargePointMaxProfile / ChargingStationMaxProfile) and external constraints cap it.
4. Limits in A and W are compared in W: ``W = A * voltage_v * number_phases`` (number of
   phases from the period, else the caller's default). The result is given in the unit
   asked for, with the phase count of the limit that binds.

:func:`composite_schedule` evaluates that rule at every instant where any input can change
(period starts, schedule ends, validity bounds, recurrences) and merges equal neighbours.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

__all__ = [
    "ChargingProfile",
    "ChargingSchedule",
    "CompositePeriod",
    "CompositeSchedule",
    "Limit",
    "ProfileError",
    "ProfileKind",
    "ProfilePurpose",
    "RateUnit",
    "RecurrencyKind",
    "SchedulePeriod",
    "composite_schedule",
    "limit_at",
    "next_change",
    "parse_profile",
    "to_unit",
]

_E = TypeVar("_E", bound=enum.Enum)
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)


class ProfileError(ValueError):
    """A charging profile that is malformed or contradictory; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ProfilePurpose(enum.Enum):
    STATION_MAX = "ChargingStationMaxProfile"  # 1.6: ChargePointMaxProfile
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"
    EXTERNAL = "ChargingStationExternalConstraints"


class ProfileKind(enum.Enum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class RecurrencyKind(enum.Enum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(enum.Enum):
    A = "A"
    W = "W"


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_period_s: int
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    duration_s: int | None = None
    start_schedule: datetime | None = None
    min_charging_rate: float | None = None


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: ProfilePurpose
    kind: ProfileKind
    schedule: ChargingSchedule
    recurrency: RecurrencyKind | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class Limit:
    """A limit in force: ``limit`` in ``unit``, drawn over ``number_phases`` phases.
    ``source_unit`` is the unit of the schedule that set it: a limit set in A caps the current
    on every phase, one set in W the total power."""

    limit: float
    unit: RateUnit
    number_phases: int
    min_charging_rate: float | None = None
    source_unit: RateUnit | None = None


@dataclass(frozen=True, slots=True)
class CompositePeriod:
    start_period_s: int
    limit: float
    number_phases: int


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    start: datetime
    duration_s: int
    unit: RateUnit
    periods: tuple[CompositePeriod, ...]


# --- parsing -------------------------------------------------------------------------------


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def _snake_keys(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {_snake(str(k)): _snake_keys(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_snake_keys(v) for v in data]
    return data


def _datetime(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ProfileError(field, f"not an ISO 8601 date and time: {value!r}") from exc
    else:
        raise ProfileError(field, f"expected a date and time, got {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _int(value: Any, field: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ProfileError(field, f"expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ProfileError(field, f"must be at least {minimum}, got {value!r}")
    return int(value)


def _number(value: Any, field: str) -> float:
    # The ocpp library hands 1.6 payloads over with decimals parsed as Decimal.
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(field, f"expected a number, got {value!r}")
    if value < 0:
        raise ProfileError(field, f"must not be negative, got {value!r}")
    return float(value)


def _enum(cls: type[_E], value: Any, field: str) -> _E:
    try:
        return cls(value)
    except ValueError as exc:
        allowed = ", ".join(str(m.value) for m in cls)
        raise ProfileError(field, f"{value!r} is not one of {allowed}") from exc


def _require(data: Mapping[str, Any], key: str, field: str) -> Any:
    if data.get(key) is None:
        raise ProfileError(field, "is required")
    return data[key]


def _parse_schedule(data: Any, field: str) -> ChargingSchedule:
    if not isinstance(data, Mapping):
        raise ProfileError(field, "expected an object")
    unit = _enum(
        RateUnit,
        _require(data, "charging_rate_unit", f"{field}.chargingRateUnit"),
        f"{field}.chargingRateUnit",
    )
    raw_periods = _require(data, "charging_schedule_period", f"{field}.chargingSchedulePeriod")
    if not isinstance(raw_periods, list) or not raw_periods:
        raise ProfileError(f"{field}.chargingSchedulePeriod", "needs at least one period")
    periods: list[SchedulePeriod] = []
    for i, raw in enumerate(raw_periods):
        where = f"{field}.chargingSchedulePeriod[{i}]"
        if not isinstance(raw, Mapping):
            raise ProfileError(where, "expected an object")
        start = _int(
            _require(raw, "start_period", f"{where}.startPeriod"), f"{where}.startPeriod", minimum=0
        )
        if periods and start <= periods[-1].start_period_s:
            raise ProfileError(f"{where}.startPeriod", "periods must start in increasing order")
        if not periods and start != 0:
            raise ProfileError(f"{where}.startPeriod", "the first period must start at 0")
        phases = raw.get("number_phases")
        if phases is not None:
            phases = _int(phases, f"{where}.numberPhases", minimum=1)
            if phases > 3:
                raise ProfileError(f"{where}.numberPhases", f"must be 1 to 3, got {phases}")
        limit = _number(_require(raw, "limit", f"{where}.limit"), f"{where}.limit")
        periods.append(SchedulePeriod(start_period_s=start, limit=limit, number_phases=phases))
    duration = data.get("duration")
    min_rate = data.get("min_charging_rate")
    return ChargingSchedule(
        unit=unit,
        periods=tuple(periods),
        duration_s=None if duration is None else _int(duration, f"{field}.duration", minimum=0),
        start_schedule=_datetime(data.get("start_schedule"), f"{field}.startSchedule"),
        min_charging_rate=None
        if min_rate is None
        else _number(min_rate, f"{field}.minChargingRate"),
    )


def parse_profile(
    data: Mapping[str, Any], *, received_at: datetime | None = None
) -> ChargingProfile:
    """Parse an OCPP 1.6 or 2.0.1 charging profile (camelCase or snake_case keys).

    ``received_at`` stands in for a missing ``startSchedule`` of an Absolute profile (a
    station starts such a schedule when it receives it). Raises :class:`ProfileError`.
    """
    if not isinstance(data, Mapping):
        raise ProfileError("csChargingProfiles", "expected an object")
    d = _snake_keys(data)
    raw_id = d.get("charging_profile_id", d.get("id"))
    if raw_id is None:
        raise ProfileError("chargingProfileId", "is required")
    profile_id = _int(raw_id, "chargingProfileId")
    stack_level = _int(_require(d, "stack_level", "stackLevel"), "stackLevel", minimum=0)
    raw_purpose = _require(d, "charging_profile_purpose", "chargingProfilePurpose")
    if raw_purpose == "ChargePointMaxProfile":
        raw_purpose = ProfilePurpose.STATION_MAX.value
    purpose = _enum(ProfilePurpose, raw_purpose, "chargingProfilePurpose")
    kind = _enum(
        ProfileKind,
        _require(d, "charging_profile_kind", "chargingProfileKind"),
        "chargingProfileKind",
    )
    raw_rec = d.get("recurrency_kind")
    recurrency = None if raw_rec is None else _enum(RecurrencyKind, raw_rec, "recurrencyKind")
    raw_schedule = _require(d, "charging_schedule", "chargingSchedule")
    if isinstance(raw_schedule, list):  # 2.0.1: one to three schedules; the first is used
        if not raw_schedule:
            raise ProfileError("chargingSchedule", "needs at least one schedule")
        raw_schedule = raw_schedule[0]
        field = "chargingSchedule[0]"
    else:
        field = "chargingSchedule"
    schedule = _parse_schedule(raw_schedule, field)
    valid_from = _datetime(d.get("valid_from"), "validFrom")
    valid_to = _datetime(d.get("valid_to"), "validTo")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise ProfileError("validTo", "must be after validFrom")
    if kind is ProfileKind.RECURRING:
        if recurrency is None:
            raise ProfileError("recurrencyKind", "is required for a Recurring profile")
        if schedule.start_schedule is None:
            raise ProfileError(f"{field}.startSchedule", "is required for a Recurring profile")
    if kind is ProfileKind.ABSOLUTE and schedule.start_schedule is None:
        if received_at is None:
            raise ProfileError(f"{field}.startSchedule", "is required for an Absolute profile")
        schedule = ChargingSchedule(
            unit=schedule.unit,
            periods=schedule.periods,
            duration_s=schedule.duration_s,
            start_schedule=_datetime(received_at, "receivedAt"),
            min_charging_rate=schedule.min_charging_rate,
        )
    if purpose is not ProfilePurpose.TX and d.get("transaction_id") is not None:
        raise ProfileError(
            "transactionId", f"only a TxProfile names a transaction, not {raw_purpose}"
        )
    raw_tx = d.get("transaction_id")
    return ChargingProfile(
        id=profile_id,
        stack_level=stack_level,
        purpose=purpose,
        kind=kind,
        schedule=schedule,
        recurrency=recurrency,
        valid_from=valid_from,
        valid_to=valid_to,
        transaction_id=None if raw_tx is None else str(raw_tx),
    )


# --- evaluation ----------------------------------------------------------------------------


def _schedule_start(
    profile: ChargingProfile, at: datetime, tx_start: datetime | None
) -> datetime | None:
    start = profile.schedule.start_schedule
    if profile.kind is ProfileKind.RELATIVE:
        return tx_start
    if profile.kind is ProfileKind.RECURRING:
        assert start is not None
        if at < start:
            return None
        every = _DAY if profile.recurrency is RecurrencyKind.DAILY else _WEEK
        return start + every * ((at - start) // every)
    return start


def _period_at(
    profile: ChargingProfile, at: datetime, tx_start: datetime | None
) -> SchedulePeriod | None:
    if profile.valid_from is not None and at < profile.valid_from:
        return None
    if profile.valid_to is not None and at >= profile.valid_to:
        return None
    start = _schedule_start(profile, at, tx_start)
    if start is None or at < start:
        return None
    offset = (at - start).total_seconds()
    schedule = profile.schedule
    if schedule.duration_s is not None and offset >= schedule.duration_s:
        return None
    found: SchedulePeriod | None = None
    for period in schedule.periods:
        if period.start_period_s <= offset:
            found = period
        else:
            break
    return found


def to_unit(
    limit: float,
    *,
    from_unit: RateUnit,
    to: RateUnit,
    number_phases: int,
    voltage_v: float,
) -> float:
    """Convert a per-phase current limit to power or back (``W = A * V * phases``)."""
    if from_unit is to:
        return limit
    if from_unit is RateUnit.A:
        return limit * voltage_v * number_phases
    return limit / (voltage_v * number_phases)


def _winner(
    profiles: Iterable[ChargingProfile],
    at: datetime,
    tx_start: datetime | None,
) -> tuple[ChargingProfile, SchedulePeriod] | None:
    best: tuple[ChargingProfile, SchedulePeriod] | None = None
    for profile in profiles:
        period = _period_at(profile, at, tx_start)
        if period is not None and (best is None or profile.stack_level >= best[0].stack_level):
            best = (profile, period)
    return best


def limit_at(
    profiles: Sequence[ChargingProfile],
    at: datetime,
    *,
    unit: RateUnit = RateUnit.W,
    voltage_v: float = 230.0,
    phases: int = 3,
    tx_start: datetime | None = None,
) -> Limit | None:
    """The limit in force at ``at`` from ``profiles``, or ``None`` when none applies.

    ``profiles`` are the ones that concern the connector and transaction being asked about
    (the caller filters by connector/EVSE and transaction id). ``phases`` is the phase count
    for periods without ``numberPhases``; ``tx_start`` anchors Relative profiles.
    """
    by_purpose: dict[ProfilePurpose, list[ChargingProfile]] = {p: [] for p in ProfilePurpose}
    for profile in profiles:
        by_purpose[profile.purpose].append(profile)
    chosen: list[tuple[ChargingProfile, SchedulePeriod]] = []
    tx = _winner(by_purpose[ProfilePurpose.TX], at, tx_start)
    if tx is None:
        tx = _winner(by_purpose[ProfilePurpose.TX_DEFAULT], at, tx_start)
    for found in (
        tx,
        _winner(by_purpose[ProfilePurpose.STATION_MAX], at, tx_start),
        _winner(by_purpose[ProfilePurpose.EXTERNAL], at, tx_start),
    ):
        if found is not None:
            chosen.append(found)
    if not chosen:
        return None
    best: tuple[float, Limit] | None = None
    for profile, period in chosen:
        n = period.number_phases or phases
        watts = to_unit(
            period.limit,
            from_unit=profile.schedule.unit,
            to=RateUnit.W,
            number_phases=n,
            voltage_v=voltage_v,
        )
        if best is None or watts < best[0]:
            value = to_unit(
                watts, from_unit=RateUnit.W, to=unit, number_phases=n, voltage_v=voltage_v
            )
            min_rate = profile.schedule.min_charging_rate
            if min_rate is not None:
                min_rate = to_unit(
                    min_rate,
                    from_unit=profile.schedule.unit,
                    to=unit,
                    number_phases=n,
                    voltage_v=voltage_v,
                )
            best = (
                watts,
                Limit(
                    limit=value,
                    unit=unit,
                    number_phases=n,
                    min_charging_rate=min_rate,
                    source_unit=profile.schedule.unit,
                ),
            )
    assert best is not None
    return best[1]


def _breakpoints(
    profile: ChargingProfile, start: datetime, end: datetime, tx_start: datetime | None
) -> list[datetime]:
    points = [t for t in (profile.valid_from, profile.valid_to) if t is not None]
    schedule = profile.schedule
    offsets = [p.start_period_s for p in schedule.periods]
    if schedule.duration_s is not None:
        offsets.append(schedule.duration_s)
    if profile.kind is ProfileKind.RECURRING:
        assert schedule.start_schedule is not None
        every = _DAY if profile.recurrency is RecurrencyKind.DAILY else _WEEK
        first = _schedule_start(profile, start, tx_start) or schedule.start_schedule
        origin = first
        while origin < end:
            points.append(origin)
            points.extend(origin + timedelta(seconds=o) for o in offsets)
            origin += every
    else:
        origin_or_none = _schedule_start(profile, start, tx_start)
        if origin_or_none is not None:
            points.extend(origin_or_none + timedelta(seconds=o) for o in offsets)
    return [t for t in points if start < t < end]


def _change_points(
    profiles: Sequence[ChargingProfile], start: datetime, end: datetime, tx_start: datetime | None
) -> list[datetime]:
    points = {start}
    for profile in profiles:
        points.update(_breakpoints(profile, start, end, tx_start))
    return sorted(points)


def composite_schedule(
    profiles: Sequence[ChargingProfile],
    *,
    start: datetime,
    duration_s: int,
    unit: RateUnit = RateUnit.W,
    voltage_v: float = 230.0,
    phases: int = 3,
    tx_start: datetime | None = None,
    default_limit: float | None = None,
) -> CompositeSchedule:
    """The limit in force over ``[start, start + duration_s)`` as merged periods.

    Where no profile applies the period carries ``default_limit`` (e.g. the connector
    rating, in ``unit``); without one such stretches are left out.
    """
    end = start + timedelta(seconds=duration_s)
    periods: list[CompositePeriod] = []
    for t in _change_points(profiles, start, end, tx_start):
        found = limit_at(
            profiles, t, unit=unit, voltage_v=voltage_v, phases=phases, tx_start=tx_start
        )
        if found is not None:
            value, n = round(found.limit, 3), found.number_phases
        elif default_limit is not None:
            value, n = default_limit, phases
        else:
            continue
        offset = math.floor((t - start).total_seconds())
        if periods and periods[-1].limit == value and periods[-1].number_phases == n:
            continue
        periods.append(CompositePeriod(start_period_s=offset, limit=value, number_phases=n))
    return CompositeSchedule(start=start, duration_s=duration_s, unit=unit, periods=tuple(periods))


def next_change(
    profiles: Sequence[ChargingProfile],
    after: datetime,
    *,
    horizon_s: float = 86_400.0,
    tx_start: datetime | None = None,
) -> datetime | None:
    """The first instant after ``after`` (within the horizon) where the inputs may change."""
    end = after + timedelta(seconds=horizon_s)
    points = _change_points(profiles, after, end, tx_start)
    later = [t for t in points if t > after]
    return later[0] if later else None
