"""The site day benchmark's parts: the meter's books and checks, the world, the table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from benchmarks.site_day import MATRIX, parse_args, table
from benchmarks.site_day_books import DeviceTotals, SiteBooks, Stretch, checks
from benchmarks.site_day_causes import Probe, episodes, seconds_by_cause
from benchmarks.site_day_run import DayOptions, RunSpec, scenario
from benchmarks.site_day_world import (
    DAY,
    DayShape,
    cap_constraint,
    ev_scenario,
    forecast,
    make_site,
    swap_arrivals,
)

T0 = datetime(2026, 6, 3, 14, 0, tzinfo=UTC)


def _at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def _totals(**kw: float) -> DeviceTotals:
    values = {
        "ev_charged_wh": 0.0,
        "v2g_given_wh": 0.0,
        "storage_in_wh": 0.0,
        "storage_out_wh": 0.0,
        "storage_stored_wh": 0.0,
        "storage_losses_wh": 0.0,
        "rack_wh": 0.0,
    }
    values.update(kw)
    return DeviceTotals(
        **values,
        soc_bounds_pct={"U": (10.0, 90.0)},
        swaps=0,
        swaps_no_ready_pack=0,
        swaps_no_ready_pack_promised=0,
    )


def _day(samples: list[tuple[float, float, float]], *, soc: float = 50.0) -> SiteBooks:
    """(second, EV W, cap W) samples, each held to the next, on a price of 0.2 per kWh."""
    books = SiteBooks(tolerance_w=500.0, export_price=0.05)
    for s, ev_w, cap_w in samples:
        books.record(
            _at(s),
            devices_w={"ev": ev_w},
            pv_w=0.0,
            cap_w=cap_w,
            price_per_kwh=0.2,
            soc_pct={"U": soc},
        )
    return books


def test_the_books_hold_each_sample_to_the_next() -> None:
    books = _day([(0, 10_000, 20_000), (1800, 30_000, 20_000), (1830, 10_000, 20_000)])
    b = books.close(_at(3600))
    r = books.meter.registers
    # 10 kW for 1800 s, 30 kW for 30 s, 10 kW for 1770 s
    assert r.import_wh == pytest.approx(5000 + 250 + 10_000 * 1770 / 3600)
    assert b.import_peak_w == 30_000
    assert b.cost == pytest.approx(r.import_wh / 1000 * 0.2)
    assert b.seconds_over_cap == 30
    assert [(s.start, s.seconds, s.worst_w) for s in b.stretches] == [(_at(1800), 30, 10_000)]


def test_an_excess_within_the_tolerance_is_not_a_stretch_and_one_at_the_end_is_closed() -> None:
    books = _day([(0, 20_400, 20_000), (60, 21_000, 20_000)])
    b = books.close(_at(120))
    assert [(s.start, s.seconds) for s in b.stretches] == [(_at(60), 60)]
    assert b.seconds_over_cap == 60


def test_export_earns_the_export_price() -> None:
    books = SiteBooks(export_price=0.05)
    books.record(T0, devices_w={"ev": 0.0}, pv_w=10_000.0, cap_w=1e9, price_per_kwh=0.3)
    b = books.close(_at(3600))
    assert books.meter.registers.export_wh == pytest.approx(10_000)
    assert b.cost == pytest.approx(-0.5)


def test_checks_pass_a_held_cap_a_balanced_site_and_soc_in_bounds() -> None:
    books = _day([(0, 10_000, 20_000), (60, 30_000, 20_000), (90, 10_000, 20_000)])
    b = books.close(_at(3600))
    energy = books.meter.registers.import_wh
    ok = checks(b, books.meter, _totals(ev_charged_wh=energy), control_interval_s=30, sample_s=0)
    assert ok.passed and ok.longest_over_cap_s == 30 and ok.balance_error == 0.0


def test_checks_fail_a_long_excess_a_lost_kwh_and_a_soc_out_of_bounds() -> None:
    books = _day([(0, 10_000, 20_000), (60, 30_000, 20_000), (150, 10_000, 20_000)], soc=9.0)
    b = books.close(_at(3600))
    energy = books.meter.registers.import_wh
    c = checks(
        b, books.meter, _totals(ev_charged_wh=energy * 0.98), control_interval_s=30, sample_s=10
    )
    assert not c.cap_held and c.longest_over_cap_s == 90
    assert not c.energy_conserved and c.balance_error == pytest.approx(0.02)
    assert not c.soc_in_bounds
    assert not c.passed


def test_the_storage_books_must_balance_too() -> None:
    books = _day([(0, 0.0, 20_000)])
    b = books.close(_at(60))
    good = _totals(storage_in_wh=100.0, storage_stored_wh=90.0, storage_losses_wh=10.0)
    bad = _totals(storage_in_wh=100.0, storage_stored_wh=80.0, storage_losses_wh=10.0)
    grid = books.meter.registers.import_wh
    kw = {"control_interval_s": 30.0, "sample_s": 10.0}
    assert checks(b, books.meter, good, **kw).storage_balance_error == 0.0
    assert checks(b, books.meter, bad, **kw).storage_balance_error == pytest.approx(0.1)
    assert grid == 0.0


def test_the_world_cap_forecast_and_site() -> None:
    shape = DayShape()
    assert shape.cap_at(shape.cap_start - timedelta(seconds=1)) == 200_000.0
    assert shape.cap_at(shape.cap_start) == 120_000.0
    assert shape.cap_at(shape.cap_end) == 200_000.0
    assert cap_constraint(shape).max_import_w == 120_000.0
    arrivals = swap_arrivals(shape, DAY)
    assert arrivals == swap_arrivals(shape, DAY)  # seeded
    booked = forecast(shape, arrivals)
    walk_ins = len(arrivals) // shape.walk_in_every
    assert len(booked) == len(arrivals) - walk_ins
    with_units = make_site(shape, arrivals, storage=True)
    assert [u.station for u in with_units.storage] == ["BESS-1", "BESS-2"]
    assert len([e for _, e, _ in with_units.evses()]) == 30
    assert make_site(shape, arrivals, storage=False).storage == ()
    small = shape.scaled(0.5)
    assert (small.cap_w, small.rack_w, small.swap_spec().max_rack_power_w) == (60e3, 30e3, 30e3)


def test_the_fleet_is_seeded_and_a_short_run_keeps_who_is_there() -> None:
    shape = DayShape(stations=3)
    frame = ev_scenario(shape)
    assert len(frame) == 12 and frame.equals(ev_scenario(shape))
    short = scenario(DayOptions(shape=shape, start_h=13.0, hours=3.0))
    start, end = DAY + timedelta(hours=13), DAY + timedelta(hours=16)
    assert len(short) and all(
        a < end and d > start for a, d in zip(short["arrival"], short["departure"], strict=True)
    )


def test_the_table_names_the_failed_checks() -> None:
    row = {
        "run": "storage",
        "import_peak_kw": 1.0,
        "ev_energy_kwh": 2.0,
        "v2g_given_kwh": 0.0,
        "swaps": 1,
        "swaps_no_ready_pack": 0,
        "cost": 1.0,
        "seconds_over_cap": 0.0,
        "longest_over_cap_s": 0.0,
        "longest_over_cap_less_stall_s": 0.0,
        "balance_error_pct": 0.1,
        "passed": False,
        "limit_held": False,
        "cap_held": True,
        "energy_conserved": False,
        "soc_in_bounds": True,
        "swaps_served": True,
        "wall_s": 3.0,
    }
    text = table([row])
    assert "FAILED: energy_conserved" in text and text.splitlines()[0].split()[0] == "run"


def test_the_command_line_refuses_bad_sizes_and_unknown_runs() -> None:
    assert {r.name for r in MATRIX} == {"baseline", "storage", "v2g", "storage+v2g"}
    assert MATRIX[0] == RunSpec("baseline", storage_control=False, v2g=False)
    args = parse_args(["--stations", "3", "--runs", "storage"])
    assert args.stations == 3 and args.runs == "storage"
    for bad in (["--stations", "0"], ["--speed", "-1"], ["--start-h", "24"], ["--runs", "x"]):
        with pytest.raises(SystemExit):
            parse_args(bad)


def test_the_kill_runs_central_gets_the_same_day_and_clock() -> None:
    import json

    from benchmarks.site_day_csms import options_from
    from benchmarks.site_day_faults import FAILURE_RUNS, FAULTS, options_json

    opt = DayOptions(shape=DayShape(stations=3).scaled(0.3), start_h=13.5, hours=2.0)
    anchor = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    data = json.loads(options_json(FAILURE_RUNS[-1], opt, anchor=anchor))
    assert options_from(data["options"]) == opt
    assert RunSpec(**data["run"]) == FAILURE_RUNS[-1]
    assert datetime.fromisoformat(data["anchor"]) == anchor
    assert {r.failure for r in FAILURE_RUNS} == set(FAULTS)


def test_each_stretch_is_put_down_to_its_causes_and_its_stalls_counted() -> None:
    fall = T0
    stretches = [Stretch(_at(3), _at(13), 20_000.0), Stretch(_at(500), _at(540), 5_000.0)]
    probe = Probe(at=_at(3), net_w=140e3, cap_w=120e3, gap_s=5.0, ev_w=150e3, units_w=0.0)
    late = Probe(
        at=_at(500), net_w=125e3, cap_w=120e3, gap_s=5.0, ev_w=100e3, units_w=-50e3,
        ev_over_sent_w=0.0, unit_short_w=0.0, units_expired=0, step_age_s=45.0,
        expected_w=100e3, ceiling_w=120e3, ev_reduction_w=0.0,
    )  # fmt: skip
    gaps = [(_at(505), 5.0), (_at(530), 25.0), (_at(540), 5.0), (_at(600), 60.0)]
    found = episodes(
        stretches, [probe, late], gaps, falls=[fall], window_s=900.0, control_s=30.0, sample_s=5.0
    )
    assert [e["cause"] for e in found] == ["cap_step", "step_late"]
    assert found[0]["causes"] == ["cap_step", "window_edge"]
    assert found[1]["causes"] == ["step_late", "estimate_low"]
    assert [e["stalled_s"] for e in found] == [0.0, 20.0]  # the wait after its end not
    assert seconds_by_cause(found) == {"cap_step": 10.0, "step_late": 40.0}
    quiet = episodes([Stretch(_at(400), _at(410), 1e3)], [], falls=[fall], window_s=900.0,
                     control_s=30.0, sample_s=5.0)  # fmt: skip
    assert quiet[0]["causes"] == ["unexplained"]
