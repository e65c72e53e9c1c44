"""The ACN benchmark's own parts: the offline bound over sessions that cross midnight, the
central system's row."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pydantic import ValidationError

from benchmarks.acn_sessions import DAY_PERIODS, Ev
from benchmarks.planner_acn import (
    Scenario,
    arrival_scale,
    bound_periods,
    csms_settings,
    offline_bound,
    place_expected,
)
from csms.planning.config import PlanningSettings


def test_the_offline_bound_plans_past_midnight() -> None:
    # 22:00 to 02:00 the next day, 20 kWh: 4 h at 32 A x 208 V (26.6 kWh) can deliver it
    # all; a bound cut at midnight could give only 13.3 kWh (66.6 %).
    evs = [Ev("late", "CA-303", 22 * 12, (24 + 2) * 12, 20.0)]
    assert bound_periods(evs) == 26 * 12 > DAY_PERIODS
    bound = offline_bound(Scenario("night", cap_kw=150.0), evs)
    assert bound["status"] == "optimal"
    assert bound["energy_pct"] == pytest.approx(100.0, abs=0.01)


def test_the_csms_row_plans_with_the_central_systems_settings() -> None:
    settings = csms_settings(120.0, ["scarcity_tiebreak=on"])
    assert settings.planner_config() == replace(
        PlanningSettings().planner_config(), time_limit_s=120.0, scarcity_tiebreak="on"
    )
    assert csms_settings(5.0, []).planner_config() == replace(
        PlanningSettings().planner_config(), time_limit_s=5.0
    )
    variant = csms_settings(5.0, ["laxity_tiebreak=true"], "scarcity_tiebreak=gated,backend=pyomo")
    assert variant.planner_config() == replace(
        PlanningSettings().planner_config(),
        time_limit_s=5.0,
        laxity_tiebreak=True,
        scarcity_tiebreak="gated",
        backend="pyomo",
    )
    with pytest.raises(ValidationError):
        csms_settings(5.0, ["scarcity_tiebreak=sometimes"])


def test_the_csms_row_places_history_as_the_central_system_does() -> None:
    # Every station busy until period 120: the benchmark's own rule moves the expected
    # session to when its station frees; the central system's drops it.
    network = Scenario("places", cap_kw=150.0).network()
    expected = [Ev("h1", "CA-303", 100, 200, 10.0)]
    every = {s: 120 for s in network.station_ids}
    own = place_expected(network, expected, 50, every)
    assert [(e.station_id, e.arrival) for e in own] == [("CA-303", 120)]
    assert place_expected(network, expected, 50, every, as_csms=True) == []
    # its own station busy: another free one under the same node, at its own arrival
    csms = place_expected(network, expected, 50, {"CA-303": 120}, as_csms=True)
    assert len(csms) == 1 and csms[0].station_id != "CA-303" and csms[0].arrival == 100


def test_the_history_is_corrected_by_what_has_arrived_today() -> None:
    history = [Ev("h1", "CA-303", 100, 200, 10.0), Ev("h2", "CA-304", 200, 250, 30.0)]
    assert arrival_scale(history, 50, 0.0) == 1.0  # nothing due yet, nothing come
    assert arrival_scale(history, 150, 10.0) == 1.0  # as the history said
    # 20 kWh where the history had 10: the day's 40 kWh and today's share pooled
    assert arrival_scale(history, 150, 20.0) == pytest.approx((20 + 40) / (10 + 40))
    assert arrival_scale(history, 150, 0.0) == pytest.approx(40 / 50)
    assert arrival_scale([], 150, 5.0) == 1.0
