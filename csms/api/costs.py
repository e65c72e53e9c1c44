"""The energy cost of a session: pure arithmetic over meter readings and a price function."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime

__all__ = ["energy_cost"]


def energy_cost(
    points: Sequence[tuple[datetime, float]], price_per_kwh_at: Callable[[datetime], float]
) -> float:
    """Cost of the energy between consecutive ``(time, register_wh)`` readings, each step
    priced at its midpoint. Readings are sorted by time; a register that goes backwards
    (a meter reset) contributes nothing for that step."""
    ordered = sorted(points, key=lambda p: p[0])
    total = 0.0
    for (t0, wh0), (t1, wh1) in itertools.pairwise(ordered):
        delta_wh = wh1 - wh0
        if delta_wh <= 0:
            continue
        mid = t0 + (t1 - t0) / 2
        total += delta_wh / 1000.0 * price_per_kwh_at(mid)
    return total
