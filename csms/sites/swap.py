"""A swap station's forecast as the moments swaps are expected.

``swaps_per_hour`` (24 values, site local hour of day) is a rate: the expected count C(t)
grows from 0 at local midnight by the hour's rate, and the k-th swap of the day is expected at
the first moment C(t) reaches k - 1 (the earliest moment it can be due: a readiness target is
better early than late). Explicit ``swap_times`` are local times of day, every day. Both are
merged, sorted, in UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from csms.sites.model import SwapStation

__all__ = ["forecast_swap_times"]


def _day_swaps(swap: SwapStation, day: date, tz: ZoneInfo) -> list[datetime]:
    out: list[datetime] = []
    count = 0.0
    for hour, rate in enumerate(swap.swaps_per_hour):
        begin = datetime.combine(day, time(hour), tz).astimezone(UTC)
        if rate > 0:
            k = math.ceil(count)
            while k < count + rate:
                out.append(begin + timedelta(hours=(k - count) / rate))
                k += 1
        count += rate
    out += [datetime.combine(day, moment, tz).astimezone(UTC) for moment in swap.swap_times]
    return out


def forecast_swap_times(
    swap: SwapStation, *, timezone: str, start: datetime, end: datetime
) -> tuple[datetime, ...]:
    """The swaps expected in ``[start, end)``, sorted (aware UTC)."""
    tz = ZoneInfo(timezone)
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    out: list[datetime] = []
    while day <= last:
        out += [t for t in _day_swaps(swap, day, tz) if start <= t < end]
        day += timedelta(days=1)
    return tuple(sorted(out))
