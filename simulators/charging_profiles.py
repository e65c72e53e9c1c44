"""Charging profiles as the simulated stations receive them: parsed once, then version-free.

OCPP 1.6 and 2.0.1 charging profiles (camelCase wire form or the snake_case form the ``ocpp``
library hands to handlers) are parsed once into frozen dataclasses by :func:`parse_profile`,
which refuses a malformed or contradictory profile naming the field; after that no code of
the simulators' model knows an OCPP version. Which limit is in force, and when, is
:mod:`simulators.composite`.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

__all__ = [
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

_E = TypeVar("_E", bound=enum.Enum)


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


#: 2.1 operation modes a simulated station takes: ``LocalFrequency`` and
#: ``LocalLoadBalancing`` are followed as charging within the limit (the simulated station has
#: no grid frequency or local load of its own to follow); the others are refused.
OPERATION_MODES = (
    "ChargingOnly",
    "CentralSetpoint",
    "Idle",
    "LocalFrequency",
    "LocalLoadBalancing",
)


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_period_s: int
    limit: float
    """The charging limit (for ``CentralSetpoint``: the positive part of the setpoint, capped
    by the period's ``limit`` when given)."""
    number_phases: int | None = None
    operation_mode: str = "ChargingOnly"
    setpoint: float | None = None
    """2.1 ``CentralSetpoint``: the signed setpoint (negative: discharge), the phases summed,
    bounded by ``limit`` and ``dischargeLimit``; in the schedule's unit."""


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


def _signed(value: Any, field: str) -> float:
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(field, f"expected a number, got {value!r}")
    return float(value)


def _period(raw: Mapping[str, Any], where: str, start: int, phases: int | None) -> SchedulePeriod:
    """One period; 2.1's operation modes read here (1.6 and 2.0.1 periods have none)."""
    mode = raw.get("operation_mode") or "ChargingOnly"
    if mode not in OPERATION_MODES:
        raise ProfileError(f"{where}.operationMode", f"{mode!r} is not supported")
    raw_limit = raw.get("limit")
    limit = None if raw_limit is None else _number(raw_limit, f"{where}.limit")
    if mode == "Idle":
        return SchedulePeriod(start, 0.0, phases, mode, 0.0)
    if mode != "CentralSetpoint":
        if limit is None:
            raise ProfileError(f"{where}.limit", "is required")
        return SchedulePeriod(start, limit, phases, mode)
    setpoint = _signed(_require(raw, "setpoint", f"{where}.setpoint"), f"{where}.setpoint")
    for phase in ("l2", "l3"):
        value = raw.get(f"setpoint_{phase}")
        if value is not None:
            setpoint += _signed(value, f"{where}.setpoint_{phase.upper()}")
    if limit is not None:
        setpoint = min(setpoint, limit)
    raw_discharge = raw.get("discharge_limit")
    if raw_discharge is not None:
        discharge = _signed(raw_discharge, f"{where}.dischargeLimit")
        if discharge > 0:
            raise ProfileError(f"{where}.dischargeLimit", "must not be positive")
        setpoint = max(setpoint, discharge)
    return SchedulePeriod(start, max(0.0, setpoint), phases, mode, setpoint)


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
        periods.append(_period(raw, where, start, phases))
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
