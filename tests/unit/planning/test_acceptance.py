"""What an EV takes, learned from its meter values, is what the planner plans it at: the
power it cannot use goes to the others."""

from __future__ import annotations

from datetime import timedelta

from csms.domain import MeterSample
from csms.events import MeterValuesReceived
from csms.planning import PlanningSettings, build_problem
from csms.planning.allocate import fair_first_step
from csms.planning.state import Sent
from optimizer import solve
from tests.unit.planning.test_periods import END, T0, _state


def test_an_ev_taking_less_is_planned_at_what_it_takes() -> None:
    state, a, b = _state()
    for ev, tx in ((a, 1), (b, 2)):
        ev.sent = Sent(6000.0, "TxProfile", T0, "accepted", END, tx)
        ev.accepted_tx, ev.accepted_sent, ev.confirmed_at = (tx, 6000.0), ev.sent, T0
    at = T0 + timedelta(seconds=60)
    # A tapers: 2 kW under its 6 kW limit; B draws all it may.
    for station, watts in (("A", 2000.0), ("B", 6000.0)):
        sample = MeterSample(at, "Power.Active.Import", watts, "W")
        reasons = state.apply(
            MeterValuesReceived(station, 1, 1, 1, (sample,)), deviation_w=3000.0, tolerance_w=300.0
        )
    assert a.ev_max_w == 3500.0 and reasons == []
    settings = PlanningSettings(horizon_s=3 * 3600, step_s=900)
    built = build_problem(state, [], now=at, settings=settings)
    sessions = {s.evse_id: s for s in built.problem.sessions}
    assert (sessions["A/1"].max_power_w, sessions["B/1"].max_power_w) == (3500.0, None)
    site = state.site
    first = fair_first_step(
        solve(built.problem),
        built.problem,
        now=at,
        ancestors={n.id: site.ancestors(n.id) for n in site.nodes},
    )
    # The feeder's 12 kW: A what it takes, B the rest.
    assert first["A/1"] == 3500.0
    assert abs(first["B/1"] - 8500.0) < 1e-6
