"""TxProfiles with the plan's next steps: several periods where the station takes them, one
where it does not, and every node within its limit at every instant a schedule changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from csms.domain import MeterSample, Transaction
from csms.events import MeterValuesReceived
from csms.planning import PlanningSettings, SiteState, build_problem, choose
from csms.planning.allocate import fair_steps
from csms.planning.dispatch import make_limit
from csms.planning.state import EvseState, Sent
from csms.sites import Site, SiteEvse, SiteNode, SiteStation, StationQuirks
from csms.sites.constraints import limits_in_force
from optimizer import solve

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
END = T0 + timedelta(minutes=30)
STEP = T0 + timedelta(minutes=15)


def _site() -> Site:
    return Site(
        id="s",
        nodes=(
            SiteNode(id="grid", max_import_w=40_000.0),
            SiteNode(id="feeder", parent="grid", max_import_w=12_000.0),
        ),
        stations=(
            # continuous currents (minimums: test_minimum_current)
            SiteStation(
                id="A", node="feeder", model="multi", evses=(SiteEvse(id=1, min_current_a=0.0),)
            ),
            SiteStation(
                id="B", node="feeder", model="single", evses=(SiteEvse(id=1, min_current_a=0.0),)
            ),
        ),
        quirks=(
            StationQuirks(model="multi", unit="W"),
            StationQuirks(model="single", unit="W", single_period=True),
        ),
    )


def _tx(tx_id: int, station: str) -> Transaction:
    return Transaction(
        id=tx_id,
        station_id=station,
        station_tx_id=str(tx_id),
        evse_id=1,
        connector_id=1,
        id_token="T",
        started_at=T0,
        meter_start_wh=0.0,
    )


def _state() -> tuple[SiteState, EvseState, EvseState]:
    state = SiteState(_site())
    for st in state.stations.values():
        st.online = st.seen = True
    state.take_transaction(_tx(1, "A"))
    state.take_transaction(_tx(2, "B"))
    return state, state.evses[("A", 1)], state.evses[("B", 1)]


def _feeder_w(state: SiteState, dispatches: list, at: datetime) -> float:  # type: ignore[type-arg]
    sent = {d.evse.key: Sent(d.limit_w, "TxProfile", T0, periods=((T0, d.limit_w), *d.later))
            for d in dispatches}  # fmt: skip
    return sum(
        sent[ev.key].value_at(at) if ev.key in sent else ev.sent.value_at(at)  # type: ignore[union-attr]
        for ev in state.evses.values()
    )


def test_make_limit_carries_the_next_periods() -> None:
    state, a, _ = _state()
    limit = make_limit(
        a,
        4000.4,
        state.stations["A"].quirks,
        purpose="TxProfile",
        now=T0,
        valid_to=END,
        later=((STEP, 9000.0), (STEP + timedelta(seconds=60), 9000.0)),
    )
    assert limit.schedule == ((0, 4000, 3), (900, 9000, 3))  # equal neighbours merged
    assert limit.duration_s == 1800


def test_single_period_stations_hold_and_the_feeder_stays_within_its_limit() -> None:
    state, a, b = _state()
    limits = limits_in_force(state.site, [], T0)
    out = choose(
        state,
        {"A/1": 4000.0, "B/1": 6000.0},
        (a, b),
        limits=limits,
        uncontrolled_w={},
        now=T0,
        deadband_w=500.0,
        valid_to=END,
        # The plan's next step raises A to 8 kW, B's share falls to 2 kW; but B takes one
        # period and keeps 6 kW: A may have 6 kW only.
        later={"A/1": ((STEP, 8000.0),), "B/1": ((STEP, 2000.0),)},
        later_limits_w={"feeder": ((STEP, 12_000.0),), "grid": ((STEP, 40_000.0),)},
    )
    by = {d.evse.key: d for d in out}
    assert by["A/1"].charging_limit.schedule == ((0, 4000, 3), (900, 6000, 3))
    assert by["B/1"].charging_limit.schedule == ((0, 6000, 3),)
    for at in (T0, STEP, END - timedelta(seconds=1)):
        assert _feeder_w(state, out, at) <= 12_000.0


def test_a_held_back_schedule_is_sent_when_a_later_instant_needs_it() -> None:
    state, a, b = _state()
    # A holds an older schedule that rises to 9 kW at STEP and the new plan keeps it (within
    # the deadband); B is new with 6 kW: together 15 kW > 12 kW at STEP, so A's schedule is
    # sent again, lowered there.
    a.sent = Sent(
        4000.0, "TxProfile", T0, "accepted", END, 1, periods=((T0, 4000.0), (STEP, 9000.0))
    )
    limits = limits_in_force(state.site, [], T0)
    out = choose(
        state,
        {"A/1": 4200.0, "B/1": 6000.0},
        (a, b),
        limits=limits,
        uncontrolled_w={},
        now=T0,
        deadband_w=500.0,
        valid_to=END,
        later={"A/1": ((STEP, 8800.0),), "B/1": ()},
        later_limits_w={"feeder": ((STEP, 12_000.0),), "grid": ((STEP, 40_000.0),)},
    )
    assert {d.evse.key: d.forced for d in out} == {"A/1": True, "B/1": False}
    assert {d.evse.key: d.charging_limit.schedule for d in out}["A/1"] == (
        (0, 4200, 3),
        (900, 6000, 3),
    )
    for at in (T0, STEP):
        assert _feeder_w(state, out, at) <= 12_000.0


def test_compliance_is_judged_against_the_period_in_force() -> None:
    state, a, _ = _state()
    a.sent = Sent(
        3000.0, "TxProfile", T0, "accepted", END, 1, periods=((T0, 3000.0), (STEP, 9000.0))
    )
    a.accepted_tx, a.accepted_sent, a.confirmed_at = (1, 3000.0), a.sent, T0

    def meter(at: datetime, watts: float) -> list[str]:
        sample = MeterSample(at, "Power.Active.Import", watts, "W")
        return state.apply(
            MeterValuesReceived("A", 1, 1, 1, (sample,)), deviation_w=3000.0, tolerance_w=300.0
        )

    # 8.5 kW under the 9 kW of the second period: compliant.
    meter(STEP + timedelta(seconds=60), 8500.0)
    meter(STEP + timedelta(seconds=120), 8500.0)
    assert not a.non_compliant
    # The station is offline-counted at the schedule's highest limit.
    assert state.worst_case_w(a) == 9000.0


def test_past_its_end_a_txprofile_holds_nothing_the_default_does() -> None:
    """A TxProfile not renewed before its end (a re-plan late, the central system busy)
    leaves the station on its TxDefaultProfile: drawing its default then is compliant,
    drawing above the default is not."""
    state, a, _ = _state()
    a.default_w = 6000.0
    a.sent = Sent(3000.0, "TxProfile", T0, "accepted", END, 1)
    a.accepted_tx, a.accepted_sent, a.confirmed_at = (1, 3000.0), a.sent, T0

    def meter(at: datetime, watts: float) -> list[str]:
        sample = MeterSample(at, "Power.Active.Import", watts, "W")
        return state.apply(
            MeterValuesReceived("A", 1, 1, 1, (sample,)), deviation_w=3000.0, tolerance_w=300.0
        )

    assert a.limit_in_force_w(END - timedelta(seconds=1)) == 3000.0
    assert a.limit_in_force_w(END) == 6000.0
    for k in range(3):  # on its default from the profile's end: within what it may draw
        meter(END + timedelta(seconds=60 * k), 6000.0)
    assert not a.non_compliant and state.non_compliance_count == 0
    meter(END + timedelta(seconds=180), 6500.0)  # above the default too: not compliant
    meter(END + timedelta(seconds=240), 6500.0)
    assert a.non_compliant and state.non_compliance_count == 1


def test_later_steps_share_what_the_held_stations_leave() -> None:
    state, _, _ = _state()
    settings = PlanningSettings(horizon_s=3 * 3600, step_s=900)
    built = build_problem(state, [], now=T0, settings=settings)
    plan = solve(built.problem)
    site = state.site
    steps = fair_steps(
        plan,
        built.problem,
        ancestors={n.id: site.ancestors(n.id) for n in site.nodes},
        steps=3,
        held={"B/1": 0.0},
    )
    assert len(steps["A/1"]) == 3
    assert steps["B/1"] == [steps["B/1"][0]] * 3  # one value throughout
    for k in range(3):
        assert steps["A/1"][k] + steps["B/1"][k] <= plan.nodes["feeder"].power_w[k] + 1e-6
