"""OCPP 2.1 charging profiles with V2X operation modes, read into a :class:`SetpointSchedule`.

What a simulated storage unit accepts (the ``ocpp`` library hands the handler the profile as
a snake_case dict; camelCase keys are read too):

- purpose ``TxDefaultProfile`` on EVSE 0 (every EVSE) or 1 (the unit has no transactions,
  so a ``TxProfile`` is refused, as are the other purposes);
- kind ``Absolute`` (``startSchedule``) or ``Relative`` (from receipt); not ``Recurring`` or
  ``Dynamic``;
- rate unit ``W`` (a storage unit is dispatched in power);
- every period in operation mode ``CentralSetpoint`` (``setpoint``, plus ``setpoint_L2`` and
  ``setpoint_L3`` when given per phase, bounded by ``limit`` and the negative
  ``dischargeLimit`` when given) or ``Idle`` (0 W); other modes (``ChargingOnly``, the
  default when absent, the frequency and local modes) are refused;
- ``validFrom`` / ``validTo`` narrow the schedule's window; ``duration`` ends it.

:func:`parse_limit_profile` reads a swap station's rack limit the same way: a
``ChargingStationMaxProfile`` or ``TxDefaultProfile`` on EVSE 0 in W, every period
``ChargingOnly`` with a ``limit`` of at least 0.

A refusal is :class:`ProfileRefused` with the 2.1 ``reasonCode`` (``UnsupportedParam``,
``InvalidSchedule``, ``InvalidValue``, ``TxNotFound``) and a sentence saying why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulators.exceptions import ProfileRefused
from simulators.setpoints import SetpointPeriod, SetpointSchedule

__all__ = ["SetpointProfile", "parse_limit_profile", "parse_setpoint_profile"]


@dataclass(frozen=True, slots=True)
class SetpointProfile:
    profile_id: int
    stack_level: int
    schedule: SetpointSchedule


def _get(raw: dict[str, Any], snake: str, camel: str | None = None) -> Any:
    if snake in raw:
        return raw[snake]
    return raw.get(camel) if camel else None


def _number(raw: dict[str, Any], snake: str, camel: str, where: str) -> float | None:
    value = _get(raw, snake, camel)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileRefused("InvalidValue", f"{where}.{camel} is not a finite number")
    return float(value)


def _time(raw: dict[str, Any], snake: str, camel: str) -> datetime | None:
    text = _get(raw, snake, camel)
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ProfileRefused("InvalidValue", f"{camel} is not a date-time: {text!r}") from None
    if at.tzinfo is None:
        raise ProfileRefused("InvalidValue", f"{camel} has no UTC offset")
    return at


def _setpoint(period: dict[str, Any], where: str) -> float:
    mode = _get(period, "operation_mode", "operationMode") or "ChargingOnly"
    if mode == "Idle":
        return 0.0
    if mode != "CentralSetpoint":
        raise ProfileRefused("UnsupportedParam", f"{where}: operation mode {mode} not supported")
    setpoint = _number(period, "setpoint", "setpoint", where)
    if setpoint is None:
        raise ProfileRefused("InvalidSchedule", f"{where}: CentralSetpoint without a setpoint")
    for phase in ("L2", "L3"):
        value = _number(period, f"setpoint_{phase.lower()}", f"setpoint_{phase}", where)
        setpoint += value or 0.0
    limit = _number(period, "limit", "limit", where)
    if limit is not None:
        setpoint = min(setpoint, limit)
    discharge_limit = _number(period, "discharge_limit", "dischargeLimit", where)
    if discharge_limit is not None:
        if discharge_limit > 0.0:
            raise ProfileRefused("InvalidValue", f"{where}.dischargeLimit must not be positive")
        setpoint = max(setpoint, discharge_limit)
    return setpoint


def _limit(period: dict[str, Any], where: str) -> float:
    mode = _get(period, "operation_mode", "operationMode") or "ChargingOnly"
    if mode != "ChargingOnly":
        raise ProfileRefused("UnsupportedParam", f"{where}: operation mode {mode} not supported")
    limit = _number(period, "limit", "limit", where)
    if limit is None or limit < 0.0:
        raise ProfileRefused("InvalidValue", f"{where}.limit must be given and not negative")
    return limit


def _periods(
    schedule: dict[str, Any], read: Callable[[dict[str, Any], str], float] = _setpoint
) -> list[SetpointPeriod]:
    raw_periods = _get(schedule, "charging_schedule_period", "chargingSchedulePeriod") or []
    periods: list[SetpointPeriod] = []
    for i, period in enumerate(raw_periods):
        where = f"chargingSchedulePeriod[{i}]"
        start = _number(period, "start_period", "startPeriod", where)
        if start is None or start < 0 or (periods and start <= periods[-1].start_s):
            raise ProfileRefused("InvalidSchedule", f"{where}.startPeriod out of order")
        periods.append(SetpointPeriod(start, read(period, where)))
    if not periods or periods[0].start_s != 0.0:
        raise ProfileRefused("InvalidSchedule", "the first period must start at 0")
    return periods


def _check_header(raw: dict[str, Any], evse_id: int) -> dict[str, Any]:
    purpose = _get(raw, "charging_profile_purpose", "chargingProfilePurpose")
    if purpose == "TxProfile":
        raise ProfileRefused("TxNotFound", "a storage unit runs no transaction; use TxDefault")
    if purpose != "TxDefaultProfile":
        raise ProfileRefused("UnsupportedParam", f"purpose {purpose} not supported")
    if evse_id not in (0, 1):
        raise ProfileRefused("UnknownEvse", f"EVSE {evse_id}: the unit has EVSE 1 only")
    return _schedule_in_w(raw, "a storage unit takes W")


def _schedule_in_w(raw: dict[str, Any], why_w: str) -> dict[str, Any]:
    kind = _get(raw, "charging_profile_kind", "chargingProfileKind")
    if kind not in ("Absolute", "Relative"):
        raise ProfileRefused("UnsupportedParam", f"kind {kind} not supported")
    schedules = _get(raw, "charging_schedule", "chargingSchedule") or []
    if not schedules:
        raise ProfileRefused("InvalidSchedule", "no charging schedule")
    schedule: dict[str, Any] = schedules[0]
    unit = _get(schedule, "charging_rate_unit", "chargingRateUnit")
    if unit != "W":
        raise ProfileRefused("UnsupportedParam", f"rate unit {unit}: {why_w}")
    return schedule


def parse_setpoint_profile(
    raw: dict[str, Any], *, evse_id: int, received_at: datetime
) -> SetpointProfile:
    """The profile as a schedule of setpoints, or :class:`ProfileRefused`."""
    return _profile(raw, _check_header(raw, evse_id), received_at, _setpoint)


def parse_limit_profile(
    raw: dict[str, Any], *, evse_id: int, received_at: datetime
) -> SetpointProfile:
    """A station-level power limit (a swap station's rack): ``ChargingStationMaxProfile`` or
    ``TxDefaultProfile`` on EVSE 0, in W, every period ``ChargingOnly`` (the default) with a
    ``limit`` of at least 0; the schedule's values are the limits. Otherwise
    :class:`ProfileRefused`."""
    purpose = _get(raw, "charging_profile_purpose", "chargingProfilePurpose")
    if purpose == "TxProfile":
        raise ProfileRefused("TxNotFound", "a swap station runs no transaction")
    if purpose not in ("ChargingStationMaxProfile", "TxDefaultProfile"):
        raise ProfileRefused("UnsupportedParam", f"purpose {purpose} not supported")
    if evse_id != 0:
        raise ProfileRefused("UnknownEvse", f"EVSE {evse_id}: the rack is limited on EVSE 0")
    return _profile(raw, _schedule_in_w(raw, "the rack is limited in W"), received_at, _limit)


def _profile(
    raw: dict[str, Any],
    schedule: dict[str, Any],
    received_at: datetime,
    read: Callable[[dict[str, Any], str], float],
) -> SetpointProfile:
    kind = _get(raw, "charging_profile_kind", "chargingProfileKind")
    start = _time(schedule, "start_schedule", "startSchedule")
    if kind == "Relative" or start is None:
        if kind == "Absolute":
            raise ProfileRefused("InvalidSchedule", "an Absolute schedule needs startSchedule")
        start = received_at
    periods = _periods(schedule, read)
    duration = _number(schedule, "duration", "duration", "chargingSchedule")
    end = None if duration is None else start + timedelta(seconds=duration)
    valid_to = _time(raw, "valid_to", "validTo")
    if valid_to is not None:
        end = valid_to if end is None else min(end, valid_to)
    valid_from = _time(raw, "valid_from", "validFrom")
    if valid_from is not None and valid_from > start:
        periods, start = _from(periods, start, valid_from), valid_from
    if end is not None and end <= start:
        raise ProfileRefused("InvalidSchedule", "the schedule ends before it starts")
    duration_s = None if end is None else (end - start).total_seconds()
    periods = [p for p in periods if duration_s is None or p.start_s < duration_s]
    profile_id = _get(raw, "id", "id")
    stack_level = _get(raw, "stack_level", "stackLevel")
    if not isinstance(profile_id, int) or not isinstance(stack_level, int):
        raise ProfileRefused("InvalidValue", "id and stackLevel must be integers")
    return SetpointProfile(
        profile_id, stack_level, SetpointSchedule(start, tuple(periods), duration_s)
    )


def _from(
    periods: list[SetpointPeriod], start: datetime, new_start: datetime
) -> list[SetpointPeriod]:
    """The periods re-based on ``new_start`` (later than ``start``): the one in force then
    starts at 0."""
    shift = (new_start - start).total_seconds()
    current = [p for p in periods if p.start_s <= shift][-1]
    later = [SetpointPeriod(p.start_s - shift, p.setpoint_w) for p in periods if p.start_s > shift]
    return [SetpointPeriod(0.0, current.setpoint_w), *later]
