"""The ACN benchmark's session generator against the published workplace statistics."""

from __future__ import annotations

import itertools

import pytest

from benchmarks.acn_sessions import (
    DAY_PERIODS,
    RATE_KW,
    TARGETS,
    Ev,
    day_statistics,
    draw_day,
    generate_sessions,
)

BIG_SITE = [f"S{i}" for i in range(400)]  # room for every drawn session
CALTECH_SIZE = [f"CA-{i}" for i in range(54)]


def _month(stations: list[str], n: int) -> list[Ev]:
    """22 weekdays pooled (Monday-Friday in turn), seeds 100-121."""
    out: list[Ev] = []
    for d in range(22):
        out += generate_sessions(stations, n, 100 + d, weekday=d % 5)
    return out


def test_a_month_of_weekdays_matches_every_published_figure() -> None:
    stats = day_statistics(_month(BIG_SITE, 80))
    for name, value in stats.items():
        target = TARGETS[name]
        assert target.low <= value <= target.high, (name, value, target.what)
    assert stats["arrival_peak_hour"] == 8.0


def test_a_full_site_keeps_the_morning_peak_and_the_stays() -> None:
    # 100 drawn on 54 EVSEs: the late morning arrivals find the garage full and are not
    # sessions of the day; what remains still has the published shape
    month = _month(CALTECH_SIZE, 100)
    assert 50 * 22 < len(month) < 80 * 22
    stats = day_statistics(month)
    for name in ("arrival_peak_hour", "stay_median_h", "energy_median_kwh", "overnight_share"):
        target = TARGETS[name]
        assert target.low <= stats[name] <= target.high, (name, stats[name])


def test_sessions_are_physical_and_never_share_a_station() -> None:
    for ev in _month(CALTECH_SIZE, 100):
        assert 0 <= ev.arrival < DAY_PERIODS and ev.departure > ev.arrival
        stay_h = (ev.departure - ev.arrival) * 5 / 60
        assert 0.5 - 1e-9 <= ev.energy_kwh <= RATE_KW * stay_h + 1e-9
    visits: dict[str, list[Ev]] = {}
    for ev in generate_sessions(CALTECH_SIZE, 100, 7):
        visits.setdefault(ev.station_id, []).append(ev)
    for at_station in visits.values():
        at_station.sort(key=lambda e: e.arrival)
        for a, b in itertools.pairwise(at_station):
            assert a.departure <= b.arrival


def test_some_sessions_stay_past_midnight() -> None:
    overnight = [ev for ev in _month(BIG_SITE, 80) if ev.departure > DAY_PERIODS]
    # most arrived in the evening (after 3 pm); the rest are the commuters' long tail
    assert sum(ev.arrival >= 15 * 12 for ev in overnight) > 0.7 * len(overnight)
    assert all(ev.departure <= DAY_PERIODS + 14 * 12 for ev in overnight)  # gone by 2 pm


def test_weekends_are_quieter_and_later() -> None:
    weekday = [len(draw_day(100, seed, weekday=1)) for seed in range(5)]
    sunday = [draw_day(100, seed, weekday=6) for seed in range(5)]
    ratio = sum(len(d) for d in sunday) / sum(weekday)
    assert TARGETS["weekend_ratio"].low <= ratio <= TARGETS["weekend_ratio"].high
    drawn = [session for day in sunday for session in day]
    sunday_evs = [Ev(f"e{i}", "S", a, d, e) for i, (a, d, e) in enumerate(drawn)]
    assert day_statistics(sunday_evs)["stay_median_h"] < 5.0
    with pytest.raises(ValueError, match="weekday"):
        draw_day(10, 1, weekday=7)


def test_a_seed_is_one_day_and_another_seed_another() -> None:
    assert generate_sessions(CALTECH_SIZE, 100, 7) == generate_sessions(CALTECH_SIZE, 100, 7)
    assert generate_sessions(CALTECH_SIZE, 100, 7) != generate_sessions(CALTECH_SIZE, 100, 8)
