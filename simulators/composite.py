"""The composite schedule of a simulated station: which limit is in force, and when.

Pure functions of the profiles :func:`simulators.charging_profiles.parse_profile` made; no
OCPP version is known here. (The central system does not compute composite schedules: it
asks the station, GetCompositeSchedule; decision 0306.)

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

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from simulators.charging_profiles import (
    ChargingProfile,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
)

__all__ = [
    "CompositePeriod",
    "CompositeSchedule",
    "Limit",
    "composite_schedule",
    "limit_at",
    "next_change",
    "setpoint_at",
    "to_unit",
]

_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)


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


def setpoint_at(
    profiles: Sequence[ChargingProfile],
    at: datetime,
    *,
    voltage_v: float = 230.0,
    phases: int = 3,
    tx_start: datetime | None = None,
) -> float | None:
    """The 2.1 ``CentralSetpoint`` in force at ``at`` (W, negative: discharge) from the
    transaction's profile (TxProfile, else TxDefaultProfile), or ``None`` when that period is
    in another operation mode or no profile applies."""
    tx_profiles = [p for p in profiles if p.purpose is ProfilePurpose.TX]
    found = _winner(tx_profiles, at, tx_start)
    if found is None:
        defaults = [p for p in profiles if p.purpose is ProfilePurpose.TX_DEFAULT]
        found = _winner(defaults, at, tx_start)
    if found is None or found[1].operation_mode != "CentralSetpoint":
        return None
    profile, period = found
    if period.setpoint is None:
        return None
    return to_unit(
        period.setpoint,
        from_unit=profile.schedule.unit,
        to=RateUnit.W,
        number_phases=period.number_phases or phases,
        voltage_v=voltage_v,
    )


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
