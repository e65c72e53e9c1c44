"""DER controls, version-neutral: what a grid operator sets on a unit's inverter and what
the unit reports back (OCPP 2.1 DER control, after IEEE 1547 / IEC 61850-7-520).

A control has a type (``VoltVar``, ``LimitMaxDischarge``, ...), an id, a priority, whether
it is the unit's default, and one *setting* whose shape the type decides: a curve of points,
an enter-service window, a fixed power factor, a fixed var, a frequency droop, gradients or a
maximum discharge. The setting is kept as plain JSON data (snake_case keys, numbers finite);
the 2.1 adapter translates it to and from the version's fields.

Pure: no I/O.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "SETTING_KEYS",
    "SETTING_OF",
    "DerAlarm",
    "DerControl",
    "DerControlRecord",
    "DerControlType",
    "DerStartStop",
    "InvalidDerControl",
    "check_setting",
    "non_finite_fields",
]


class DerControlType(enum.StrEnum):
    ENTER_SERVICE = "EnterService"
    FREQ_DROOP = "FreqDroop"
    FREQ_WATT = "FreqWatt"
    FIXED_PF_ABSORB = "FixedPFAbsorb"
    FIXED_PF_INJECT = "FixedPFInject"
    FIXED_VAR = "FixedVar"
    GRADIENTS = "Gradients"
    HF_MUST_TRIP = "HFMustTrip"
    HF_MAY_TRIP = "HFMayTrip"
    HV_MUST_TRIP = "HVMustTrip"
    HV_MOM_CESS = "HVMomCess"
    HV_MAY_TRIP = "HVMayTrip"
    LIMIT_MAX_DISCHARGE = "LimitMaxDischarge"
    LF_MUST_TRIP = "LFMustTrip"
    LV_MUST_TRIP = "LVMustTrip"
    LV_MOM_CESS = "LVMomCess"
    LV_MAY_TRIP = "LVMayTrip"
    POWER_MONITORING_MUST_TRIP = "PowerMonitoringMustTrip"
    VOLT_VAR = "VoltVar"
    VOLT_WATT = "VoltWatt"
    WATT_PF = "WattPF"
    WATT_VAR = "WattVar"


_T = DerControlType
#: The setting each control type carries; every type not named here is a curve.
SETTING_OF: dict[DerControlType, str] = {
    **{t: "curve" for t in DerControlType},
    _T.ENTER_SERVICE: "enter_service",
    _T.FIXED_PF_ABSORB: "fixed_pf_absorb",
    _T.FIXED_PF_INJECT: "fixed_pf_inject",
    _T.FIXED_VAR: "fixed_var",
    _T.FREQ_DROOP: "freq_droop",
    _T.GRADIENTS: "gradient",
    _T.LIMIT_MAX_DISCHARGE: "limit_max_discharge",
}


_TIMED = ("start_time", "duration")
#: Each setting's keys: (required, optional).
SETTING_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    kind: (frozenset(("priority", *required)), frozenset(optional))
    for kind, required, optional in (
        (
            "curve",
            ("y_unit", "curve_data"),
            ("hysteresis", "reactive_power_params", "voltage_params", "response_time", *_TIMED),
        ),
        (
            "enter_service",
            ("high_voltage", "low_voltage", "high_freq", "low_freq"),
            ("delay", "random_delay", "ramp_rate"),
        ),
        ("fixed_pf_absorb", ("displacement", "excitation"), _TIMED),
        ("fixed_pf_inject", ("displacement", "excitation"), _TIMED),
        ("fixed_var", ("setpoint", "unit"), _TIMED),
        (
            "freq_droop",
            ("over_freq", "under_freq", "over_droop", "under_droop", "response_time"),
            _TIMED,
        ),
        ("gradient", ("gradient", "soft_gradient"), ()),
        (
            "limit_max_discharge",
            (),
            ("pct_max_discharge_power", "power_monitoring_must_trip", *_TIMED),
        ),
    )
}


class InvalidDerControl(ValueError):
    """A control whose setting does not fit its type, or holds a number that is not
    finite; ``field`` names the place."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class DerControl:
    """One control as set on (or reported by) a unit."""

    control_id: str
    control_type: DerControlType
    is_default: bool
    #: the setting's parameters (snake_case keys; ``priority`` among them)
    setting: Mapping[str, Any]
    superseded: bool = False

    @property
    def priority(self) -> int:
        return int(self.setting.get("priority", 0))

    @property
    def setting_kind(self) -> str:
        return SETTING_OF[self.control_type]


@dataclass(frozen=True, slots=True)
class DerControlRecord:
    """A control as the central system keeps it for a station.

    ``source``: ``"set"`` (the station accepted our SetDERControl) or ``"reported"`` (the
    station listed it in a ReportDERControl). ``started``: what NotifyDERStartStop last
    said (None: nothing yet). A control is *in force* until cleared or superseded."""

    station_id: str
    control: DerControl
    source: str
    recorded_at: datetime
    started: bool | None = None
    started_changed_at: datetime | None = None
    cleared_at: datetime | None = None

    @property
    def in_force(self) -> bool:
        return self.cleared_at is None and not self.control.superseded


@dataclass(frozen=True, slots=True)
class DerAlarm:
    """NotifyDERAlarm: a grid event the unit's DER function reacted to (or its end)."""

    station_id: str
    control_type: DerControlType
    at: datetime
    grid_event_fault: str | None = None
    alarm_ended: bool = False
    extra_info: str | None = None


@dataclass(frozen=True, slots=True)
class DerStartStop:
    """NotifyDERStartStop: a control started or stopped acting; ``superseded_ids`` are
    controls it replaced."""

    station_id: str
    control_id: str
    started: bool
    at: datetime
    superseded_ids: tuple[str, ...] = field(default_factory=tuple)


def non_finite_fields(data: Any, path: str = "") -> list[str]:
    """Where ``data`` holds a number that is NaN or infinite (dotted paths)."""
    if isinstance(data, float) and not math.isfinite(data):
        return [path or "<value>"]
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            found += non_finite_fields(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            found += non_finite_fields(value, f"{path}[{i}]")
    return found


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_window(kind: str, setting: Mapping[str, Any]) -> None:
    """A timed setting's ``start_time`` is a date-time with its offset, its ``duration``
    a number of seconds of 0 or more."""
    start = setting.get("start_time")
    if start is not None:
        try:
            parsed = start if isinstance(start, datetime) else datetime.fromisoformat(start)
        except (TypeError, ValueError):
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise InvalidDerControl(f"{kind}.start_time", "must be a date-time with its offset")
    duration = setting.get("duration")
    if duration is not None and (not _number(duration) or duration < 0):
        raise InvalidDerControl(f"{kind}.duration", "must be a number of seconds, 0 or more")


def check_setting(control: DerControl) -> DerControl:
    """``control`` if its setting is fit to keep and send: the keys of its kind (the
    required ones present, no others), a priority of 0 or more, every number finite, a
    start time with its offset and a duration of 0 or more, a discharge share in 0..100 %,
    a curve with 1..10 points; else :class:`InvalidDerControl`."""
    kind = control.setting_kind
    setting = control.setting
    required, optional = SETTING_KEYS[kind]
    missing = sorted(required - setting.keys())
    if missing:
        raise InvalidDerControl(f"{kind}.{missing[0]}", "field required")
    extra = sorted(setting.keys() - required - optional)
    if extra:
        raise InvalidDerControl(f"{kind}.{extra[0]}", f"not a field of {kind}")
    bad = non_finite_fields(setting)
    if bad:
        raise InvalidDerControl(f"{kind}.{bad[0]}", "must be a finite number")
    priority = setting["priority"]
    integral = isinstance(priority, int) or (isinstance(priority, float) and priority.is_integer())
    if isinstance(priority, bool) or not integral or not 0 <= priority < 2**31:
        raise InvalidDerControl(f"{kind}.priority", "must be an integer of 0 or more")
    _check_window(kind, setting)
    pct = setting.get("pct_max_discharge_power")
    if pct is not None and (not _number(pct) or not 0 <= pct <= 100):
        raise InvalidDerControl(f"{kind}.pct_max_discharge_power", "must be a number in 0..100")
    if kind == "curve":
        points = setting.get("curve_data")
        if not isinstance(points, list | tuple) or not 1 <= len(points) <= 10:
            raise InvalidDerControl(f"{kind}.curve_data", "must hold 1 to 10 points")
    return control
