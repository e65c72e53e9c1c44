"""The demo's day as data and arithmetic: local times to instants, the sun, the visits in
the sites' local time, the site files matching the fleets."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta

import pytest

import csms.demo
from csms.demo import DEFAULT_DAY, DemoCap, day_start, load_demo_site, pv_power_w
from csms.demo.day import cap_window
from csms.demo.runner import DemoProgress, SiteStatus, _scenario

SUMMER = date(2026, 6, 1)  # Berlin on UTC+2
WINTER = date(2026, 12, 1)  # UTC+1


def test_public_api() -> None:
    assert sorted(csms.demo.__all__) == sorted(
        [
            "DEFAULT_DAY",
            "Demo",
            "DemoCap",
            "DemoDay",
            "DemoError",
            "DemoProgress",
            "DemoSite",
            "PortInUse",
            "SiteMeter",
            "SiteStatus",
            "World",
            "check_ports",
            "day_start",
            "load_demo_site",
            "pv_power_w",
        ]
    )


def test_the_day_starts_at_six_local() -> None:
    assert day_start(DEFAULT_DAY, SUMMER) == datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
    assert day_start(DEFAULT_DAY, WINTER) == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def test_cap_windows_in_local_time_and_across_midnight() -> None:
    start = day_start(DEFAULT_DAY, SUMMER)
    morning = DemoCap("workplace", "grid", time(9, 30), time(12, 30), 25_000.0)
    assert cap_window(DEFAULT_DAY, morning, start) == (
        datetime(2026, 6, 1, 7, 30, tzinfo=UTC),
        datetime(2026, 6, 1, 10, 30, tzinfo=UTC),
    )
    night = DemoCap("depot", "grid", time(22, 0), time(2, 0), 40_000.0)
    # last night's window ended at 02:00, before the day starts: tonight's, into tomorrow
    assert cap_window(DEFAULT_DAY, night, start) == (
        datetime(2026, 6, 1, 20, 0, tzinfo=UTC),
        datetime(2026, 6, 2, 0, 0, tzinfo=UTC),
    )
    # a day that starts at 01:00 is inside last night's window
    early = datetime(2026, 5, 31, 23, 0, tzinfo=UTC)
    assert cap_window(DEFAULT_DAY, night, early)[1] == datetime(2026, 6, 1, 0, 0, tzinfo=UTC)


def test_the_sun() -> None:
    zone = DEFAULT_DAY.zone
    at = lambda h, m=0: datetime.combine(SUMMER, time(h, m), tzinfo=zone)  # noqa: E731
    assert pv_power_w(40_000.0, at(3), zone=zone) == 0.0
    assert pv_power_w(40_000.0, at(21), zone=zone) == 0.0
    day = [pv_power_w(40_000.0, at(h, m), zone=zone) for h in range(6, 20) for m in (0, 30)]
    assert all(0.0 <= w <= 40_000.0 * 0.85 for w in day)
    assert max(day) > 40_000.0 * 0.8 * 0.85  # a clear spell near noon
    # the same seed, the same weather; another seed, other clouds somewhere in the day
    assert day == [pv_power_w(40_000.0, at(h, m), zone=zone) for h in range(6, 20) for m in (0, 30)]
    assert day != [
        pv_power_w(40_000.0, at(h, m), zone=zone, seed=7) for h in range(6, 20) for m in (0, 30)
    ]


@pytest.mark.parametrize("on", [SUMMER, WINTER])
def test_visits_happen_at_the_scenarios_local_hours(on: date) -> None:
    day = DEFAULT_DAY
    start = day_start(day, on)
    depot, workplace = day.sites
    cars = _scenario(workplace, start, day)
    arrivals = [a.tz_convert(day.timezone) for a in cars["arrival"]]
    # workplace cars arrive in the morning (06:30 to 11:00 local) and leave by 20:00
    assert all(time(6, 0) <= a.time() <= time(11, 0) for a in arrivals)
    assert all(d.tz_convert(day.timezone).time() <= time(20, 0) for d in cars["departure"])
    assert list(cars["id_tag"]) == [f"EMP{i:05d}" for i in range(1, len(cars) + 1)]
    assert set(cars["station_id"]) <= {f"WORK-{i:04d}" for i in range(1, 9)}
    vans = _scenario(depot, start, day)
    assert all(a.tz_convert(day.timezone).time() >= time(16, 0) for a in vans["arrival"])
    assert all(t.startswith("VAN") for t in vans["id_tag"])
    end = start + timedelta(hours=day.hours)
    assert (vans["arrival"] < end).all() and len(vans) == depot.stations * depot.connectors


def test_the_site_files_match_the_fleets() -> None:
    for spec in DEFAULT_DAY.sites:
        site = load_demo_site(spec.file)
        ids = [s.id for s in site.stations]
        assert ids == [f"{spec.prefix}-{i:04d}" for i in range(1, spec.stations + 1)]
        assert all(len(s.evses) == spec.connectors for s in site.stations)
        assert all(e.max_current_a == spec.max_current_a for s in site.stations for e in s.evses)
        assert site.pv and site.timezone == DEFAULT_DAY.timezone
        assert any(f.token_prefix == spec.token_prefix for f in site.fleets)
    assert {c.site_id for c in DEFAULT_DAY.caps} == {"depot", "workplace"}


def test_the_progress_line() -> None:
    line = DemoProgress(
        at=datetime(2026, 6, 1, 9, 45, tzinfo=DEFAULT_DAY.zone),
        stations=14,
        online=13,
        charging=5,
        sessions_done=2,
        sessions_total=20,
        tx_profiles=4,
        sites=(
            SiteStatus("depot", 0.0, 100_000.0, False),
            SiteStatus("workplace", 24_600.0, 25_000.0, True),
        ),
    ).line()
    assert line == (
        "Mon 09:45 | stations 13/14 online | sessions 5 charging, 2/20 done | "
        "TxProfiles at 4 | depot 0.0/100 kW | workplace 24.6/25 kW (cap)"
    )


def test_a_shorter_day() -> None:
    short = dataclasses.replace(DEFAULT_DAY, hours=3.0)
    vans = _scenario(short.sites[0], day_start(short, SUMMER), short)
    assert vans.empty  # the vans come in the evening
