"""Workplace charging days drawn to match the published statistics of the ACN-Data sites.

The ACN benchmark cannot download ACN-Data here, so it draws its days from a seeded model of
what has been published about the two workplace sites (Caltech's campus garage, open to the
public, and JPL's employee-only lot; 2019, level-2 EVSEs of 6.6 kW at 208 V): Z. J. Lee,
T. Li, S. H. Low, "ACN-Data: Analysis and Applications of an Open EV Charging Dataset",
e-Energy 2019, and the dataset's own description. The model is written from those
descriptions (arrival, stay and energy histograms; weekday against weekend), not fitted to
the data, and its targets are the figures below (`TARGETS`); `day_statistics` measures a
drawn day against them and a unit test holds a month of drawn days to them.

- **Arrivals** on weekdays peak in the morning, 8-9 am, with a spread of about an hour
  (commuters; most sessions), a smaller midday group (visitors, people back from meetings)
  and a few evening arrivals at the public site.
- **Stays** of commuters are a working day: median about 8 h, most 6-10 h, a long tail
  (lognormal). Midday visitors stay a few hours. Evening arrivals mostly stay overnight and
  leave the next morning, so a share of the day's sessions departs after midnight.
- **Energy** per session: median about 9 kWh with a long tail (lognormal; a tenth above
  about 20 kWh), never more than the stay allows at the EVSE's 32 A x 208 V (6.656 kW).
- **Weekends** see about a third of a weekday's sessions, arriving spread over the day and
  staying a few hours.

Each session goes to a station chosen at random among those free at its arrival (a drawn
session that finds none is not a session of the day, as in the data).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "PERIOD_MIN",
    "RATE_KW",
    "TARGETS",
    "Ev",
    "day_statistics",
    "draw_day",
    "generate_sessions",
]

PERIOD_MIN = 5
PERIODS_PER_HOUR = 60 // PERIOD_MIN
DAY_PERIODS = 24 * PERIODS_PER_HOUR
RATE_KW = 32 * 208 / 1000  # the sites' level-2 EVSEs: 32 A at 208 V


@dataclass(frozen=True)
class Ev:
    """One charging session: periods (5 min) from the day's midnight; ``departure`` may be
    past the day's last period (the EV stays overnight)."""

    session_id: str
    station_id: str
    arrival: int  # period
    departure: int
    energy_kwh: float


@dataclass(frozen=True)
class Group:
    """A kind of visit: its share of the day's sessions, arrival hour ~ N(mean, sd) within
    [earliest, latest], stay ~ lognormal(median, sigma) hours within [shortest, longest]."""

    share: float
    arrival_mean_h: float
    arrival_sd_h: float
    earliest_h: float
    latest_h: float
    stay_median_h: float
    stay_sigma: float
    shortest_h: float = 0.5
    longest_h: float = 16.0


#: Weekdays: commuters, midday visitors, evening arrivals who stay the night.
WEEKDAY = (
    Group(0.82, 8.4, 1.1, 5.0, 12.0, 8.3, 0.28),
    Group(0.12, 13.0, 1.8, 10.0, 17.5, 3.5, 0.55),
    Group(0.06, 18.8, 1.4, 16.0, 23.0, 12.0, 0.20),
)
#: Weekends: arrivals spread over the day, short stays, a few overnight.
WEEKEND = (
    Group(0.94, 12.5, 2.8, 6.0, 21.0, 3.0, 0.60),
    Group(0.06, 18.8, 1.4, 16.0, 23.0, 12.0, 0.20),
)
WEEKEND_SHARE = 0.33  # a weekend day's sessions against a weekday's
ENERGY_MEDIAN_KWH = 9.0
ENERGY_SIGMA = 0.62
ENERGY_MIN_KWH = 0.5


@dataclass(frozen=True)
class Target:
    low: float
    high: float
    what: str


#: The published figures a drawn weekday is held to (pooled over many days; one day of ~60
#: sessions scatters around them). Hours are local time, stays in hours, energies in kWh.
TARGETS: dict[str, Target] = {
    "arrival_peak_hour": Target(8.0, 9.0, "the hour with most arrivals starts at 8 or 9 am"),
    "arrival_median_h": Target(8.0, 9.5, "half the sessions have arrived by 8-9:30 am"),
    "morning_share": Target(0.70, 0.90, "share arriving 6-11 am"),
    "stay_median_h": Target(6.0, 10.0, "median stay 6-10 h"),
    "stay_p90_h": Target(10.0, 14.0, "a tenth stays longer than 10-14 h (the tail)"),
    "energy_median_kwh": Target(8.0, 10.0, "median energy 8-10 kWh"),
    "energy_p90_kwh": Target(17.0, 24.0, "a tenth above 17-24 kWh (the long tail)"),
    "overnight_share": Target(0.03, 0.10, "share departing after midnight"),
    "weekend_ratio": Target(0.2, 0.5, "a weekend day's sessions against a weekday's"),
}


def _within(draw: Callable[[float, float], float], a: float, b: float, lo: float,
            hi: float) -> float:  # fmt: skip
    """``draw(a, b)`` conditioned on [lo, hi] (redrawn; clipped after 20 misses)."""
    value = draw(a, b)
    for _ in range(20):
        if lo <= value <= hi:
            return value
        value = draw(a, b)
    return min(max(value, lo), hi)


def draw_day(n_weekday: int, seed: int, *, weekday: int = 1) -> list[tuple[int, int, float]]:
    """(arrival, departure, energy kWh) of one day's sessions, before stations: about
    ``n_weekday`` on a weekday (Monday 0 .. Friday 4), a third of that on a weekend day."""
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0-6, not {weekday}")
    rng = random.Random(seed)
    weekend = weekday >= 5
    groups = WEEKEND if weekend else WEEKDAY
    n = round(n_weekday * (WEEKEND_SHARE if weekend else 1.0))
    out = []
    for _ in range(n):
        u, acc = rng.random(), 0.0
        group = groups[-1]
        for g in groups:
            acc += g.share
            if u < acc:
                group = g
                break
        hour = _within(rng.gauss, group.arrival_mean_h, group.arrival_sd_h,
                       group.earliest_h, group.latest_h)  # fmt: skip
        stay = _within(rng.lognormvariate, math.log(group.stay_median_h), group.stay_sigma,
                       group.shortest_h, group.longest_h)  # fmt: skip
        arrival = int(hour * PERIODS_PER_HOUR)
        departure = arrival + max(1, round(stay * PERIODS_PER_HOUR))
        stay_h = (departure - arrival) / PERIODS_PER_HOUR
        energy = rng.lognormvariate(math.log(ENERGY_MEDIAN_KWH), ENERGY_SIGMA)
        energy = min(max(energy, ENERGY_MIN_KWH), RATE_KW * stay_h)
        out.append((arrival, departure, math.floor(energy * 1000) / 1000))  # kWh, to the Wh
    return out


def generate_sessions(stations: list[str], n_evs: int, seed: int, *,
                      weekday: int = 1) -> list[Ev]:  # fmt: skip
    """One seeded day on ``stations``: ``draw_day`` in arrival order, each session on a
    station picked at random among those free at its arrival (none free: dropped)."""
    rng = random.Random(seed ^ 0x5EED)
    drawn = draw_day(n_evs, seed, weekday=weekday)
    free_at = dict.fromkeys(stations, 0)
    out = []
    for i, (arrival, departure, energy) in sorted(enumerate(drawn), key=lambda x: (x[1][0], x[0])):
        free = [s for s in stations if free_at[s] <= arrival]
        if not free:
            continue
        station = rng.choice(free)
        free_at[station] = departure
        out.append(Ev(f"ev{i}", station, arrival, departure, energy))
    return out


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def day_statistics(evs: list[Ev]) -> dict[str, float]:
    """The figures of ``TARGETS`` (except the weekend ratio) measured on sessions."""
    if len(evs) < 2:
        raise ValueError("need at least two sessions")
    hours = [ev.arrival / PERIODS_PER_HOUR for ev in evs]
    stays = [(ev.departure - ev.arrival) / PERIODS_PER_HOUR for ev in evs]
    energies = [ev.energy_kwh for ev in evs]
    per_hour = [sum(1 for h in hours if int(h) == k) for k in range(24)]
    return {
        "arrival_peak_hour": float(per_hour.index(max(per_hour))),
        "arrival_median_h": statistics.median(hours),
        "morning_share": sum(1 for h in hours if 6.0 <= h < 11.0) / len(hours),
        "stay_median_h": statistics.median(stays),
        "stay_p90_h": _quantile(stays, 0.9),
        "energy_median_kwh": statistics.median(energies),
        "energy_p90_kwh": _quantile(energies, 0.9),
        "overnight_share": sum(1 for ev in evs if ev.departure > DAY_PERIODS) / len(evs),
    }
