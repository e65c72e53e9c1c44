"""PV production for a simulated site: a clear-sky day with seeded clouds, or a CSV profile.

Both answer ``power_w(at)`` (AC W, never negative) for an aware datetime:

- :class:`ClearSkyPV`: a half sine between sunrise and sunset (hours of the day in UTC plus
  ``utc_offset_h``), its peak ``peak_w`` at solar noon halfway between; clouds are drawn per
  ``cloud_slot_s`` slot from ``seed`` and the slot number alone, so the same seed gives the
  same weather whatever is asked in whatever order: a slot is cloudy with probability
  ``cloud_fraction`` and then loses up to ``cloud_depth`` of its clear-sky power.
- :class:`CsvPV`: ``time,power_w`` rows (UTC ISO 8601, strictly increasing), linear between
  rows, 0 W outside the file's span; a bad row stops the load with the file, row and column.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from simulators.exceptions import InvalidParameter, ScenarioError
from simulators.quantities import aware, finite, fraction, integer, non_negative, positive

__all__ = ["ClearSkyPV", "CsvPV", "PVSource", "load_pv_csv"]


class PVSource(Protocol):
    def power_w(self, at: datetime) -> float: ...


@dataclass(frozen=True, slots=True)
class ClearSkyPV:
    pv_id: str
    peak_w: float
    sunrise_h: float = 6.0
    sunset_h: float = 18.0
    utc_offset_h: float = 0.0
    cloud_fraction: float = 0.3
    cloud_depth: float = 0.7
    cloud_slot_s: float = 300.0
    seed: int = 0

    def __post_init__(self) -> None:
        where = f"pv[{self.pv_id}]"
        non_negative(f"{where}.peak_w", self.peak_w)
        for name in ("sunrise_h", "sunset_h"):
            value = finite(f"{where}.{name}", getattr(self, name))
            if not 0.0 <= value <= 24.0:
                raise InvalidParameter(f"{where}.{name}", f"must be in 0..24, got {value:g}")
        if self.sunrise_h >= self.sunset_h:
            raise InvalidParameter(f"{where}.sunset_h", "is not after sunrise_h")
        offset = finite(f"{where}.utc_offset_h", self.utc_offset_h)
        if not -14.0 <= offset <= 14.0:
            raise InvalidParameter(f"{where}.utc_offset_h", f"must be in -14..14, got {offset:g}")
        fraction(f"{where}.cloud_fraction", self.cloud_fraction)
        fraction(f"{where}.cloud_depth", self.cloud_depth)
        positive(f"{where}.cloud_slot_s", self.cloud_slot_s)
        integer(f"{where}.seed", self.seed)

    def clear_sky_w(self, at: datetime) -> float:
        local = aware("at", at) + timedelta(hours=self.utc_offset_h)
        hour = local.hour + local.minute / 60.0 + (local.second + local.microsecond / 1e6) / 3600.0
        if not self.sunrise_h < hour < self.sunset_h:
            return 0.0
        phase = (hour - self.sunrise_h) / (self.sunset_h - self.sunrise_h)
        return self.peak_w * math.sin(math.pi * phase)

    def shade(self, at: datetime) -> float:
        """The fraction of clear-sky power that gets through the clouds at ``at``."""
        slot = math.floor(at.timestamp() / self.cloud_slot_s)
        draw = random.Random(f"{self.seed}:{self.pv_id}:{slot}")
        if draw.random() >= self.cloud_fraction:
            return 1.0
        return 1.0 - self.cloud_depth * draw.random()

    def power_w(self, at: datetime) -> float:
        clear = self.clear_sky_w(at)
        return 0.0 if clear == 0.0 else clear * self.shade(at)


@dataclass(frozen=True, slots=True)
class CsvPV:
    """A measured or forecast PV profile: ``(time, W)`` points, linear in between."""

    times: tuple[datetime, ...]
    powers_w: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.times) != len(self.powers_w) or not self.times:
            raise InvalidParameter("powers_w", "needs one power per time, at least one")
        for i, at in enumerate(self.times):
            aware(f"times[{i}]", at)
            non_negative(f"powers_w[{i}]", self.powers_w[i])
            if i and at <= self.times[i - 1]:
                raise InvalidParameter(f"times[{i}]", "must increase")

    def power_w(self, at: datetime) -> float:
        times = self.times
        if at < times[0] or at > times[-1]:
            return 0.0
        low, high = 0, len(times) - 1
        while high - low > 1:
            middle = (low + high) // 2
            if times[middle] <= at:
                low = middle
            else:
                high = middle
        if times[high] <= at:
            return self.powers_w[high]
        span = (times[high] - times[low]).total_seconds()
        weight = (at - times[low]).total_seconds() / span
        return self.powers_w[low] + weight * (self.powers_w[high] - self.powers_w[low])

    def energy_wh(self, start: datetime, end: datetime) -> float:
        """The energy produced from ``start`` to ``end``: exact on the linear pieces (0 W
        outside the profile's span, whatever the step)."""
        times = self.times
        total = 0.0
        for i in range(len(times) - 1):
            low, high = max(start, times[i]), min(end, times[i + 1])
            if low < high:
                hours = (high - low).total_seconds() / 3600.0
                total += (self.power_w(low) + self.power_w(high)) / 2.0 * hours
        return total


def load_pv_csv(path: str | Path) -> CsvPV:
    """Read ``time,power_w`` rows; refuse a bad one with the file, row (header is line 1)
    and column."""
    file = str(path)
    times: list[datetime] = []
    powers: list[float] = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"time", "power_w"} <= set(reader.fieldnames):
                raise ScenarioError("needs the columns time,power_w", file=file, row=1)
            for line, row in enumerate(reader, start=2):
                times.append(_time(row["time"], file, line))
                powers.append(_power(row["power_w"], file, line))
                if len(times) > 1 and times[-1] <= times[-2]:
                    raise ScenarioError(
                        "is not after the row before", file=file, row=line, field="time"
                    )
    except OSError as error:
        raise ScenarioError(f"cannot read: {error.strerror}", file=file) from error
    if not times:
        raise ScenarioError("has no rows", file=file)
    return CsvPV(tuple(times), tuple(powers))


def _time(text: str | None, file: str, line: int) -> datetime:
    try:
        at = datetime.fromisoformat((text or "").strip().replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(
            f"not an ISO 8601 time: {text!r}", file=file, row=line, field="time"
        ) from None
    if at.tzinfo is None:
        raise ScenarioError("needs a UTC offset (Z)", file=file, row=line, field="time")
    return at


def _power(text: str | None, file: str, line: int) -> float:
    try:
        value = float((text or "").strip())
    except ValueError:
        raise ScenarioError(
            f"not a number: {text!r}", file=file, row=line, field="power_w"
        ) from None
    if not math.isfinite(value) or value < 0.0:
        raise ScenarioError(
            f"must be a finite number of W, at least 0: {text!r}",
            file=file,
            row=line,
            field="power_w",
        )
    return value
