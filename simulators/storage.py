"""A stationary storage unit: a pure battery model that obeys a setpoint schedule.

``unit.advance(dt_s) -> StorageReport`` moves the unit's own virtual clock forward and says
what it did. Sign convention as in OCPP 2.1 ``CentralSetpoint`` (decision 0901): power into
the unit (charging) is positive, out of it (discharging to the site) negative, measured at
its AC terminals. Units: W, Wh, s, degrees Celsius.

Per sub-step (``step_s``, cut at every schedule edge) the unit

1. takes the setpoint in force (0 W, ``Idle``, without one or once it has expired), clamped
   to its rating (a period beyond the rating is counted when the schedule is set);
2. moves its power towards it by at most ``ramp_w_per_s``; an over-temperature alarm trips
   it to 0 W at once and holds it there until the temperature falls below the clear level;
3. stops at its SoC bounds: the last sub-step before a bound is shortened in power so the
   SoC lands on it;
4. converts: charging stores ``P * charge_efficiency``, discharging draws
   ``|P| / discharge_efficiency`` from the cells; then self-discharge takes
   ``self_discharge_per_day`` of the stored energy per day (exponential decay);
5. heats towards ``ambient_c + temperature_rise_at_rated_c * |P| / rating`` with the
   thermal time constant (first order, exact over the sub-step).

Every Wh is accounted: ``energy_in_wh - energy_out_wh == delta SoC + conversion_losses_wh
+ self_discharge_wh`` to rounding (the tests hold it to 1e-9 relative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from simulators.exceptions import InvalidParameter
from simulators.quantities import aware, finite, fraction, non_negative, positive
from simulators.setpoints import SetpointSchedule

__all__ = ["AlarmEvent", "Clamp", "StorageReport", "StorageSpec", "StorageUnit"]

_DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class StorageSpec:
    """What a storage unit is; states of charge as fractions of ``capacity_wh``."""

    unit_id: str
    capacity_wh: float
    max_charge_w: float
    max_discharge_w: float
    initial_soc: float = 0.5
    min_soc: float = 0.1
    max_soc: float = 0.9
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    self_discharge_per_day: float = 0.001
    ramp_w_per_s: float | None = None
    """Largest change of power per second; ``None``: the unit steps at once."""
    ambient_c: float = 25.0
    initial_temperature_c: float | None = None
    temperature_rise_at_rated_c: float = 15.0
    """Steady temperature above ambient at the larger of the two power ratings."""
    thermal_time_constant_s: float = 1800.0
    alarm_temperature_c: float = 45.0
    alarm_clear_temperature_c: float = 40.0
    step_s: float = 1.0

    def __post_init__(self) -> None:
        where = f"storage[{self.unit_id}]"
        positive(f"{where}.capacity_wh", self.capacity_wh)
        non_negative(f"{where}.max_charge_w", self.max_charge_w)
        non_negative(f"{where}.max_discharge_w", self.max_discharge_w)
        for name in ("initial_soc", "min_soc", "max_soc", "self_discharge_per_day"):
            fraction(f"{where}.{name}", getattr(self, name))
        if self.min_soc > self.max_soc:
            raise InvalidParameter(f"{where}.min_soc", "is above max_soc")
        fraction(f"{where}.charge_efficiency", self.charge_efficiency, allow_zero=False)
        fraction(f"{where}.discharge_efficiency", self.discharge_efficiency, allow_zero=False)
        if self.ramp_w_per_s is not None:
            positive(f"{where}.ramp_w_per_s", self.ramp_w_per_s)
        finite(f"{where}.ambient_c", self.ambient_c)
        if self.initial_temperature_c is not None:
            finite(f"{where}.initial_temperature_c", self.initial_temperature_c)
        non_negative(f"{where}.temperature_rise_at_rated_c", self.temperature_rise_at_rated_c)
        positive(f"{where}.thermal_time_constant_s", self.thermal_time_constant_s)
        finite(f"{where}.alarm_temperature_c", self.alarm_temperature_c)
        finite(f"{where}.alarm_clear_temperature_c", self.alarm_clear_temperature_c)
        if not self.ambient_c < self.alarm_clear_temperature_c < self.alarm_temperature_c:
            raise InvalidParameter(
                f"{where}.alarm_clear_temperature_c",
                "must lie between ambient_c and alarm_temperature_c (else the alarm never clears)",
            )
        positive(f"{where}.step_s", self.step_s)

    @property
    def rated_w(self) -> float:
        return max(self.max_charge_w, self.max_discharge_w)

    @property
    def min_soc_wh(self) -> float:
        return self.min_soc * self.capacity_wh

    @property
    def max_soc_wh(self) -> float:
        return self.max_soc * self.capacity_wh


@dataclass(frozen=True, slots=True)
class Clamp:
    """A schedule period beyond the unit's rating, and what the unit does instead."""

    start_s: float
    requested_w: float
    applied_w: float


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """The over-temperature alarm raised (``active``) or cleared at ``at``."""

    at: datetime
    active: bool
    temperature_c: float


@dataclass(frozen=True, slots=True)
class StorageReport:
    """What the unit did from ``start`` to ``end`` and where it stands at ``end``."""

    start: datetime
    end: datetime
    power_w: float
    setpoint_w: float
    mode: str
    """``CentralSetpoint`` while a schedule is in force, else ``Idle``."""
    energy_in_wh: float
    energy_out_wh: float
    conversion_losses_wh: float
    self_discharge_wh: float
    soc_wh: float
    soc_pct: float
    temperature_c: float
    alarm: bool
    alarm_events: tuple[AlarmEvent, ...]

    @property
    def losses_wh(self) -> float:
        return self.conversion_losses_wh + self.self_discharge_wh


@dataclass(slots=True)
class _Totals:
    energy_in_wh: float = 0.0
    energy_out_wh: float = 0.0
    conversion_losses_wh: float = 0.0
    self_discharge_wh: float = 0.0
    alarm_events: list[AlarmEvent] = field(default_factory=list)


class StorageUnit:
    """A storage unit's state around a :class:`StorageSpec`, on its own virtual clock."""

    def __init__(self, spec: StorageSpec, *, start: datetime) -> None:
        self.spec = spec
        self.now = aware("start", start)
        self.soc_wh = spec.initial_soc * spec.capacity_wh
        self.power_w = 0.0
        temperature = spec.initial_temperature_c
        self.temperature_c = spec.ambient_c if temperature is None else temperature
        self.ambient_c = spec.ambient_c
        self.alarm = self.temperature_c > spec.alarm_temperature_c
        self.schedule: SetpointSchedule | None = None
        #: schedule periods beyond the rating, over the unit's life
        self.clamped_setpoints = 0
        #: schedules that ran out while the unit was following them
        self.schedules_expired = 0
        self.totals = _Totals()

    @property
    def soc_pct(self) -> float:
        return 100.0 * self.soc_wh / self.spec.capacity_wh

    def set_schedule(self, schedule: SetpointSchedule | None) -> tuple[Clamp, ...]:
        """Follow ``schedule`` from now on (``None``: Idle); return the periods it clamps."""
        self.schedule = schedule
        if schedule is None:
            return ()
        clamps = tuple(
            Clamp(period.start_s, period.setpoint_w, self._clamp(period.setpoint_w))
            for period in schedule.periods
            if self._clamp(period.setpoint_w) != period.setpoint_w
        )
        self.clamped_setpoints += len(clamps)
        return clamps

    def set_ambient(self, ambient_c: float) -> None:
        self.ambient_c = finite("ambient_c", ambient_c)

    def setpoint_w(self, at: datetime) -> float | None:
        """The clamped setpoint in force at ``at``, ``None`` when Idle."""
        if self.schedule is None:
            return None
        requested = self.schedule.setpoint_at(at)
        return None if requested is None else self._clamp(requested)

    def advance(self, dt_s: float) -> StorageReport:
        """Run for ``dt_s`` seconds of virtual time; report what the unit did."""
        duration = non_negative("dt_s", dt_s)
        start, end = self.now, self.now + timedelta(seconds=duration)
        before = (
            self.totals.energy_in_wh,
            self.totals.energy_out_wh,
            self.totals.conversion_losses_wh,
            self.totals.self_discharge_wh,
            len(self.totals.alarm_events),
        )
        was_following = self.setpoint_w(start) is not None
        step = timedelta(seconds=self.spec.step_s)
        while self.now < end:
            following = self.setpoint_w(self.now) is not None
            if was_following and not following:
                self.schedules_expired += 1
            was_following = following
            edge = None if self.schedule is None else self.schedule.next_change(self.now)
            until = min(self.now + step, end) if edge is None else min(self.now + step, end, edge)
            self._substep(self.now, (until - self.now).total_seconds())
            self.now = until
        if was_following and self.setpoint_w(end) is None:
            self.schedules_expired += 1
        setpoint = self.setpoint_w(end)
        totals = self.totals
        return StorageReport(
            start=start,
            end=end,
            power_w=self.power_w,
            setpoint_w=0.0 if setpoint is None else setpoint,
            mode="Idle" if setpoint is None else "CentralSetpoint",
            energy_in_wh=totals.energy_in_wh - before[0],
            energy_out_wh=totals.energy_out_wh - before[1],
            conversion_losses_wh=totals.conversion_losses_wh - before[2],
            self_discharge_wh=totals.self_discharge_wh - before[3],
            soc_wh=self.soc_wh,
            soc_pct=self.soc_pct,
            temperature_c=self.temperature_c,
            alarm=self.alarm,
            alarm_events=tuple(totals.alarm_events[before[4] :]),
        )

    def _clamp(self, setpoint_w: float) -> float:
        return min(self.spec.max_charge_w, max(-self.spec.max_discharge_w, setpoint_w))

    def _power(self, at: datetime, dt_s: float) -> float:
        """The power over the next ``dt_s``: setpoint, alarm, ramp, then SoC bounds."""
        spec = self.spec
        if self.alarm:
            return 0.0
        setpoint = self.setpoint_w(at)
        target = 0.0 if setpoint is None else setpoint
        power = target
        if spec.ramp_w_per_s is not None:
            swing = spec.ramp_w_per_s * dt_s
            power = min(self.power_w + swing, max(self.power_w - swing, target))
        hours = dt_s / 3600.0
        if power > 0.0:
            room_wh = max(0.0, spec.max_soc_wh - self.soc_wh)
            power = min(power, room_wh / (spec.charge_efficiency * hours))
        elif power < 0.0:
            available_wh = max(0.0, self.soc_wh - spec.min_soc_wh)
            power = max(power, -available_wh * spec.discharge_efficiency / hours)
        return power

    def _substep(self, at: datetime, dt_s: float) -> None:
        if dt_s <= 0.0:
            return
        spec, totals = self.spec, self.totals
        power = self._power(at, dt_s)
        energy_wh = abs(power) * dt_s / 3600.0
        if power > 0.0:
            stored = energy_wh * spec.charge_efficiency
            totals.energy_in_wh += energy_wh
            totals.conversion_losses_wh += energy_wh - stored
            self.soc_wh += stored
        elif power < 0.0:
            drawn = energy_wh / spec.discharge_efficiency
            totals.energy_out_wh += energy_wh
            totals.conversion_losses_wh += drawn - energy_wh
            self.soc_wh -= drawn
        decay = self.soc_wh * -math.expm1(-spec.self_discharge_per_day * dt_s / _DAY_S)
        totals.self_discharge_wh += decay
        self.soc_wh -= decay
        self.power_w = power
        self._heat(power, dt_s, at + timedelta(seconds=dt_s))

    def _heat(self, power_w: float, dt_s: float, at: datetime) -> None:
        spec = self.spec
        load = abs(power_w) / spec.rated_w if spec.rated_w > 0.0 else 0.0
        steady = self.ambient_c + spec.temperature_rise_at_rated_c * load
        decay = math.exp(-dt_s / spec.thermal_time_constant_s)
        self.temperature_c = steady + (self.temperature_c - steady) * decay
        if not self.alarm and self.temperature_c > spec.alarm_temperature_c:
            self.alarm = True
            self.power_w = 0.0
            self.totals.alarm_events.append(AlarmEvent(at, True, self.temperature_c))
        elif self.alarm and self.temperature_c < spec.alarm_clear_temperature_c:
            self.alarm = False
            self.totals.alarm_events.append(AlarmEvent(at, False, self.temperature_c))
