"""A setpoint schedule: what an OCPP 2.1 ``CentralSetpoint`` charging schedule asks of a
bidirectional device, as plain data.

Positive setpoints charge the device, negative ones discharge it to the site (decision 0901);
W and seconds. The schedule starts at ``start``; each period holds from its ``start_s``
(seconds after ``start``) until the next period's; after ``duration_s`` the schedule has
expired and the device falls back to Idle (0 W). Outside ``start .. start + duration_s`` no
setpoint is in force.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from simulators.exceptions import InvalidParameter
from simulators.quantities import aware, finite, non_negative, positive

__all__ = ["SetpointPeriod", "SetpointSchedule"]


@dataclass(frozen=True, slots=True)
class SetpointPeriod:
    start_s: float
    setpoint_w: float

    def __post_init__(self) -> None:
        non_negative("start_s", self.start_s)
        finite("setpoint_w", self.setpoint_w)


@dataclass(frozen=True, slots=True)
class SetpointSchedule:
    """Periods from ``start``; ``duration_s`` ``None`` holds the last period for ever."""

    start: datetime
    periods: tuple[SetpointPeriod, ...]
    duration_s: float | None = None

    def __post_init__(self) -> None:
        aware("start", self.start)
        if not self.periods:
            raise InvalidParameter("periods", "needs at least one period")
        if self.periods[0].start_s != 0.0:
            raise InvalidParameter("periods[0].start_s", "must be 0")
        for i in range(1, len(self.periods)):
            if self.periods[i].start_s <= self.periods[i - 1].start_s:
                raise InvalidParameter(f"periods[{i}].start_s", "must increase")
        if self.duration_s is not None:
            positive("duration_s", self.duration_s)
            if self.periods[-1].start_s >= self.duration_s:
                raise InvalidParameter("duration_s", "ends before the last period starts")

    @classmethod
    def constant(
        cls, start: datetime, setpoint_w: float, *, duration_s: float | None = None
    ) -> SetpointSchedule:
        return cls(start, (SetpointPeriod(0.0, setpoint_w),), duration_s)

    @property
    def end(self) -> datetime | None:
        if self.duration_s is None:
            return None
        return self.start + timedelta(seconds=self.duration_s)

    def setpoint_at(self, at: datetime) -> float | None:
        """The setpoint in force at ``at``; ``None`` before the start or once expired."""
        end = self.end
        if at < self.start or (end is not None and at >= end):
            return None
        current = self.periods[0].setpoint_w
        for period in self.periods[1:]:
            if at < self.start + timedelta(seconds=period.start_s):
                break
            current = period.setpoint_w
        return current

    def next_change(self, at: datetime) -> datetime | None:
        """The first instant after ``at`` at which the setpoint in force changes."""
        edges = [self.start + timedelta(seconds=period.start_s) for period in self.periods]
        end = self.end
        if end is not None:
            edges.append(end)
        return next((edge for edge in edges if edge > at), None)
