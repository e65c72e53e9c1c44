"""What the site's history tells the plan: expected arrivals and the billing period's peak."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from csms.domain import Transaction
from csms.planning import PlanningSettings, SiteState, build_problem
from csms.planning.allocate import fair_steps
from csms.planning.history import (
    EXPECTED_PRIORITY,
    BillingPeak,
    expected_sessions,
    history_window,
)
from csms.sites import SessionDefaults, Site, SiteEvse, SiteNode, SiteStation, Tariff
from optimizer import solve

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # a Thursday, site in UTC
WEEK = timedelta(days=7)
SETTINGS = PlanningSettings(horizon_s=16 * 3600, step_s=900)


def _site(demand_charge: float = 0.0) -> Site:
    return Site(
        id="s",
        nodes=(
            SiteNode(id="grid", max_import_w=50_000.0),
            SiteNode(id="a", parent="grid", max_import_w=30_000.0),
            SiteNode(id="b", parent="grid", max_import_w=30_000.0),
        ),
        stations=(
            SiteStation(id="A", node="a", evses=(SiteEvse(id=1), SiteEvse(id=2))),
            SiteStation(id="B", node="b", evses=(SiteEvse(id=1),)),
        ),
        tariff=Tariff(demand_charge_per_kw=demand_charge),
        defaults=SessionDefaults(energy_wh=20_000.0, dwell_s=8 * 3600.0),
    )


def _tx(i: int, station: str, evse: int, start: datetime, hours: float, kwh: float) -> Transaction:
    return Transaction(
        id=i,
        station_id=station,
        station_tx_id=str(i),
        evse_id=evse,
        connector_id=1,
        id_token="T",
        started_at=start,
        meter_start_wh=1000.0,
        stopped_at=start + timedelta(hours=hours),
        meter_stop_wh=1000.0 + kwh * 1000.0,
    )


def _state() -> SiteState:
    state = SiteState(_site(demand_charge=15.0))
    for st in state.stations.values():
        st.online = st.seen = True
    # Plugged in now on A/1 until 16:00 (site default: 8 h from 08:00).
    now_tx = _tx(100, "A", 1, NOW, 8, 0)
    state.take_transaction(dataclasses.replace(now_tx, stopped_at=None, meter_stop_wh=None))
    return state


def test_last_weeks_sessions_are_expected_today_on_a_free_evse() -> None:
    state = _state()
    a_week_ago = NOW - WEEK
    past = [
        _tx(1, "A", 1, a_week_ago + timedelta(hours=2), 4, 12.0),  # A/1 busy: moves to A/2
        _tx(2, "B", 1, a_week_ago + timedelta(hours=1), 6, 18.0),  # on its own EVSE
        _tx(3, "B", 1, a_week_ago - timedelta(hours=1), 3, 5.0),  # arrived before now: dropped
        _tx(4, "A", 2, a_week_ago + timedelta(hours=3), 2, 6.0),  # A/2 taken by tx 1: A/1 busy
        _tx(5, "B", 1, NOW - timedelta(days=3), 2, 6.0),  # another weekday: ignored
    ]
    since, until = history_window(state, NOW)
    assert since == datetime(2026, 11, 19, tzinfo=UTC) and until == since + timedelta(days=1)
    out = expected_sessions(
        state,
        past,
        now=NOW,
        busy_until={"A/1": NOW + timedelta(hours=8)},
        evse_ids={"A/1", "A/2", "B/1"},
        horizon_end=NOW + timedelta(hours=16),
    )
    got = {(s.session_id, s.evse_id, s.arrival, s.energy_requested_wh) for s in out}
    assert got == {
        ("expected:2", "B/1", NOW + timedelta(hours=1), 18_000.0),
        ("expected:1", "A/2", NOW + timedelta(hours=2), 12_000.0),
    }
    assert all(s.priority == EXPECTED_PRIORITY for s in out)


def test_expected_sessions_shape_the_plan_but_get_no_power() -> None:
    state = _state()
    past = [_tx(2, "B", 1, NOW - WEEK + timedelta(hours=1), 6, 18.0)]
    built = build_problem(state, [], now=NOW, settings=SETTINGS, past=past, peak_so_far_w=9000.0)
    assert [s.session_id for s in built.problem.sessions] == ["100", "expected:2"]
    assert built.problem.tariff.peak_so_far_w == 9000.0
    assert [ev.key for ev in built.controlled] == ["A/1"]
    plan = solve(built.problem)
    ancestors = {n.id: state.site.ancestors(n.id) for n in state.site.nodes}
    steps = fair_steps(plan, built.problem, ancestors=ancestors, steps=8)
    assert set(steps) == {"A/1"}  # nothing is shared to the expected arrival's EVSE
    assert plan.evses["B/1"].power_w[0] == 0.0  # and nothing before it arrives
    assert sum(plan.evses["B/1"].power_w) > 0  # but the plan keeps room for it


def test_the_billing_peak_holds_within_a_month_and_starts_again() -> None:
    state = _state()
    peak = BillingPeak()
    assert peak.update(state, NOW, 20_000.0) == 20_000.0
    assert peak.update(state, NOW + timedelta(hours=1), 5_000.0) == 20_000.0
    assert peak.update(state, datetime(2026, 12, 1, 0, 5, tzinfo=UTC), 7_000.0) == 7_000.0
