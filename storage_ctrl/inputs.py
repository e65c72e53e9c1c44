"""What the storage control law reads: unit ratings, live readings, the plan now, the limits.

Every number is a finite float in range or the constructor raises :class:`InvalidInput`
naming the field, so a bad value is refused where it enters and never reaches a setpoint.
Sign convention everywhere: power into the unit (charging) is positive, out of it
(discharging to the site) negative, as in an OCPP 2.1 ``CentralSetpoint`` schedule; site
power is net import at the grid connection (export negative). Units: W, Wh, s, UTC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from storage_ctrl.exceptions import InvalidInput

__all__ = [
    "ControlSettings",
    "Measurements",
    "PlanNow",
    "SiteLimits",
    "UnitRating",
    "UnitReading",
]


def _finite(name: str, value: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidInput(name, f"must be a finite number, got {value!r}")


def _at_least(name: str, value: float, low: float) -> None:
    _finite(name, value)
    if value < low:
        raise InvalidInput(name, f"must be at least {low:g}, got {value:g}")


def _efficiency(name: str, value: float) -> None:
    _finite(name, value)
    if not 0.0 < value <= 1.0:
        raise InvalidInput(name, f"must be in (0, 1], got {value:g}")


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None:
        raise InvalidInput(name, "must be timezone-aware (UTC)")


@dataclass(frozen=True)
class UnitRating:
    """What a storage unit can do, from the site file (``[[storage]]``) or its own report."""

    unit_id: str
    capacity_wh: float
    max_charge_w: float
    max_discharge_w: float
    min_soc_wh: float = 0.0
    max_soc_wh: float | None = None
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    ramp_w_per_s: float | None = None
    """Largest change of power per second; ``None`` when the unit can step at once."""

    def __post_init__(self) -> None:
        where = f"units[{self.unit_id}]"
        _at_least(f"{where}.capacity_wh", self.capacity_wh, 0.0)
        if self.capacity_wh == 0.0:
            raise InvalidInput(f"{where}.capacity_wh", "must be positive")
        _at_least(f"{where}.max_charge_w", self.max_charge_w, 0.0)
        _at_least(f"{where}.max_discharge_w", self.max_discharge_w, 0.0)
        _at_least(f"{where}.min_soc_wh", self.min_soc_wh, 0.0)
        if self.max_soc_wh is not None:
            _at_least(f"{where}.max_soc_wh", self.max_soc_wh, 0.0)
        if self.upper_soc_wh > self.capacity_wh:
            raise InvalidInput(f"{where}.max_soc_wh", "is above capacity_wh")
        if self.min_soc_wh > self.upper_soc_wh:
            raise InvalidInput(f"{where}.min_soc_wh", "is above max_soc_wh")
        _efficiency(f"{where}.charge_efficiency", self.charge_efficiency)
        _efficiency(f"{where}.discharge_efficiency", self.discharge_efficiency)
        if self.ramp_w_per_s is not None:
            _at_least(f"{where}.ramp_w_per_s", self.ramp_w_per_s, 0.0)

    @property
    def upper_soc_wh(self) -> float:
        """The highest state of charge the unit may be charged to."""
        return self.capacity_wh if self.max_soc_wh is None else self.max_soc_wh


@dataclass(frozen=True)
class UnitReading:
    """The latest report of one unit (MeterValues / NotifyEvent, or a site reading)."""

    unit_id: str
    soc_wh: float
    power_w: float
    measured_at: datetime
    alarm: bool = False

    def __post_init__(self) -> None:
        where = f"units[{self.unit_id}]"
        _at_least(f"{where}.soc_wh", self.soc_wh, 0.0)
        _finite(f"{where}.power_w", self.power_w)
        _aware(f"{where}.measured_at", self.measured_at)

    @classmethod
    def from_percent(
        cls,
        unit_id: str,
        *,
        soc_pct: float,
        capacity_wh: float,
        power_w: float,
        measured_at: datetime,
        alarm: bool = False,
    ) -> UnitReading:
        """A reading whose state of charge arrives in percent (OCPP ``SoC``): 0..100 or refused."""
        _finite(f"units[{unit_id}].soc_pct", soc_pct)
        if not 0.0 <= soc_pct <= 100.0:
            raise InvalidInput(f"units[{unit_id}].soc_pct", f"must be in 0..100, got {soc_pct:g}")
        return cls(
            unit_id,
            soc_wh=capacity_wh * soc_pct / 100.0,
            power_w=power_w,
            measured_at=measured_at,
            alarm=alarm,
        )


@dataclass(frozen=True)
class Measurements:
    """The site meter and the units' latest readings."""

    site_import_w: float
    """Net power at the grid connection now (import positive, export negative)."""
    site_measured_at: datetime
    units: Mapping[str, UnitReading] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _finite("site_import_w", self.site_import_w)
        _aware("site_measured_at", self.site_measured_at)
        for unit_id, reading in self.units.items():
            if reading.unit_id != unit_id:
                raise InvalidInput(f"units[{unit_id}]", f"holds a reading of {reading.unit_id}")


@dataclass(frozen=True)
class PlanNow:
    """What the plan asks of the storage for the period in force."""

    setpoints_w: Mapping[str, float] = field(default_factory=dict)
    """Planned power per unit; a unit the plan does not name is planned at 0 (idle)."""
    reserve_wh: Mapping[str, float] = field(default_factory=dict)
    """Energy per unit kept above its minimum for the next planned peak: following the plan
    never discharges into it; only holding the import limit in force may."""
    absorb_surplus: bool = False
    """Export is worth less than storing it: charge from any surplus, not only from surplus
    beyond the export limit."""

    def __post_init__(self) -> None:
        for unit_id, value in self.setpoints_w.items():
            _finite(f"plan.setpoints_w[{unit_id}]", value)
        for unit_id, value in self.reserve_wh.items():
            _at_least(f"plan.reserve_wh[{unit_id}]", value, 0.0)


@dataclass(frozen=True)
class SiteLimits:
    """The limits in force now at the grid connection (the tightest of grid cap, demand
    response and contractual peak), as the central system resolves them."""

    import_limit_w: float
    export_limit_w: float = math.inf
    """Largest export allowed (a positive number of W); infinite when export is not limited."""

    def __post_init__(self) -> None:
        _finite("import_limit_w", self.import_limit_w)
        if not math.isinf(self.export_limit_w):
            _at_least("export_limit_w", self.export_limit_w, 0.0)
        elif self.export_limit_w < 0:
            raise InvalidInput("export_limit_w", "must be non-negative")
        if self.import_limit_w < -self.export_limit_w:
            raise InvalidInput("import_limit_w", "is below the export limit's floor")


@dataclass(frozen=True)
class ControlSettings:
    """How the law runs: its interval, when a reading is too old, the margin under a limit."""

    interval_s: float = 5.0
    stale_after_s: float = 15.0
    margin_w: float = 0.0
    """Kept free under the import limit (meter noise, load steps within an interval)."""

    def __post_init__(self) -> None:
        _at_least("interval_s", self.interval_s, 0.0)
        if self.interval_s == 0.0:
            raise InvalidInput("interval_s", "must be positive")
        _at_least("stale_after_s", self.stale_after_s, 0.0)
        _at_least("margin_w", self.margin_w, 0.0)
