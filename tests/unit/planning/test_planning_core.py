"""The planner's sans-I/O parts: state from events, the problem, fair shares, dispatch."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import csms.planning
from csms.domain import (
    ChargingRateUnit,
    ConnectorStatus,
    EVChargingNeeds,
    MeterSample,
    StatusReport,
    Transaction,
)
from csms.events import (
    EVChargingNeedsReceived,
    MeterValuesReceived,
    StationBooted,
    StationDisconnected,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
)
from csms.planning import PlanningSettings, SiteState, build_problem, choose
from csms.planning.allocate import fair_first_step
from csms.planning.dispatch import current_w, executable_w, make_limit, window_end
from csms.sites import (
    FleetDefaults,
    NewConstraint,
    SessionDefaults,
    Site,
    SiteEvse,
    SiteNode,
    SiteStation,
    StationQuirks,
)
from csms.sites.constraints import GridConstraint, limits_in_force
from optimizer import solve

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
SETTINGS = PlanningSettings(horizon_s=4 * 3600, step_s=900)


def test_public_api() -> None:
    assert csms.planning.__all__ == [
        "AckState",
        "Built",
        "Dispatch",
        "EvseState",
        "EvseView",
        "PlanReadModel",
        "PlanView",
        "PlanningContext",
        "PlanningError",
        "PlanningService",
        "PlanningSettings",
        "SiteLoop",
        "SiteState",
        "StationState",
        "build_problem",
        "choose",
        "default_problem",
        "executable_w",
        "make_limit",
        "session_needs",
    ]


def _site(**kw: object) -> Site:
    return Site(
        id="s",
        nodes=(
            SiteNode(id="grid", max_import_w=30_000.0),
            SiteNode(id="feeder", parent="grid", max_import_w=12_000.0),
        ),
        stations=(
            SiteStation(id="A", node="feeder", model="m", evses=(SiteEvse(id=1), SiteEvse(id=2))),
            SiteStation(id="B", node="grid", evses=(SiteEvse(id=1),)),
        ),
        quirks=(StationQuirks(model="m", min_current_a=7.0),),
        defaults=SessionDefaults(energy_wh=10_000.0, dwell_s=4 * 3600.0),
        fleets=(
            FleetDefaults(id="vans", token_prefix="VAN", energy_wh=40_000.0, departure=time(6)),
        ),
        **kw,  # type: ignore[arg-type]
    )


def _tx(tx_id: int, station: str, evse: int, token: str = "T", **kw: object) -> Transaction:
    return Transaction(
        id=tx_id,
        station_id=station,
        station_tx_id=str(tx_id),
        evse_id=evse,
        connector_id=1,
        id_token=token,
        started_at=T0,
        meter_start_wh=1000.0,
        **kw,  # type: ignore[arg-type]
    )


def _meter(
    station: str, evse: int, power_w: float, energy_wh: float, at: datetime
) -> MeterValuesReceived:
    return MeterValuesReceived(
        station,
        evse,
        1,
        None,
        (
            MeterSample(at, "Power.Active.Import", power_w, "W"),
            MeterSample(at, "Energy.Active.Import.Register", energy_wh, "Wh"),
        ),
    )


def _apply(state: SiteState, event: object) -> list[str]:
    return state.apply(event, deviation_w=3000.0, tolerance_w=300.0)  # type: ignore[arg-type]


def test_state_follows_events() -> None:
    state = SiteState(_site())
    needs = EVChargingNeeds(energy_requested_wh=20_000.0, max_current_a=16.0)
    # Needs before the transaction are kept for it.
    assert _apply(state, EVChargingNeedsReceived("A", 1, None, needs)) == []
    assert _apply(state, TransactionStarted(_tx(1, "A", 1))) == ["arrival"]
    ev = state.evses[("A", 1)]
    assert ev.needs == needs
    assert _apply(state, _meter("A", 1, 5000.0, 3500.0, T0)) == []
    assert ev.delivered_wh == 2500.0 and ev.power_w == 5000.0
    # Non-compliant after two samples above the confirmed limit plus the tolerance.
    ev.default_w = 4000.0
    at = T0 + timedelta(minutes=1)
    assert _apply(state, _meter("A", 1, 4500.0, 3600.0, at)) == []
    assert _apply(state, _meter("A", 1, 4500.0, 3700.0, at + timedelta(minutes=1))) == [
        "non-compliant"
    ]
    assert state.non_compliance_count == 1 and not state.controllable(ev)
    assert state.worst_case_w(ev) == 4500.0
    assert _apply(state, _meter("A", 1, 3900.0, 3800.0, at + timedelta(minutes=2))) == [
        "compliant again"
    ]
    # A full EV gives its share away.
    report = StatusReport("A", 1, 1, ConnectorStatus.SUSPENDED_EV, T0)
    assert _apply(state, StatusChanged(report)) == ["ev suspended"]
    assert ev.ev_max_w == 0.0
    assert _apply(state, TransactionEnded(_tx(1, "A", 1, stopped_at=T0))) == ["departure"]
    assert ev.tx is None and ev.ev_max_w is None


def test_offline_station_is_counted_at_its_last_confirmed_limit() -> None:
    state = SiteState(_site())
    boot = StationBooted("B", None, "Accepted", T0)  # type: ignore[arg-type]
    assert _apply(state, boot) == ["station online"]
    ev = state.evses[("B", 1)]
    ev.default_w = 3000.0
    assert _apply(state, StationDisconnected("B", T0)) == ["station offline"]
    assert not state.controllable(ev) and state.worst_case_w(ev) == 3000.0
    ev.default_w = None
    assert state.worst_case_w(ev) == 32 * 230 * 3  # never confirmed: its rating
    # Never seen since start and nothing running: nothing to count.
    assert state.worst_case_w(state.evses[("A", 1)]) == 0.0


def _online(state: SiteState) -> None:
    for st in state.stations.values():
        st.online = st.seen = True


def test_problem_needs_fleet_defaults_and_uncontrolled() -> None:
    state = SiteState(_site())
    _online(state)
    state.take_transaction(
        _tx(
            1,
            "A",
            1,
            needs=EVChargingNeeds(energy_requested_wh=8000.0, departure_at=T0 + timedelta(hours=2)),
        )
    )
    state.take_transaction(_tx(2, "A", 2, token="VAN7"))
    state.take_transaction(_tx(3, "B", 1, token="X"))
    state.stations["B"].online = False
    state.evses[("B", 1)].default_w = 5000.0
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    sessions = {s.session_id: s for s in built.problem.sessions}
    assert set(sessions) == {"1", "2"}
    assert (sessions["1"].energy_requested_wh, sessions["1"].departure) == (
        8000.0,
        T0 + timedelta(hours=2),
    )
    assert sessions["2"].energy_requested_wh == 40_000.0
    assert sessions["2"].departure == datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    assert built.uncontrolled_w == {"grid": 5000.0}
    nodes = {n.node_id: n for n in built.problem.nodes}
    assert nodes["grid"].max_import_w == 25_000.0 and nodes["feeder"].max_import_w == 12_000.0
    evse = next(e for e in built.problem.evses if e.evse_id == "A/1")
    assert evse.min_current_a == 7.0  # the model's quirk


def test_departure_passed_is_reported() -> None:
    state = SiteState(_site())
    _online(state)
    state.take_transaction(_tx(1, "B", 1, token="X"))  # site default: 10 kWh within 4 h
    built = build_problem(state, [], now=T0 + timedelta(hours=5), settings=SETTINGS)
    assert [(ev.key, missing) for ev, missing in built.missed] == [("B/1", 10_000.0)]


def test_fair_first_step_shares_node_budgets() -> None:
    state = SiteState(_site())
    _online(state)
    for i, (station, evse) in enumerate((("A", 1), ("A", 2), ("B", 1)), start=1):
        state.take_transaction(_tx(i, station, evse, token="X"))
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    plan = solve(built.problem)
    site = state.site
    first = fair_first_step(
        plan, built.problem, now=T0, ancestors={n.id: site.ancestors(n.id) for n in site.nodes}
    )
    # Same needs: the feeder's budget splits evenly between A/1 and A/2.
    assert abs(first["A/1"] - first["A/2"]) < 1e-6
    assert first["A/1"] + first["A/2"] <= 12_000.0 + 1e-6
    assert sum(first.values()) <= 30_000.0 + 1e-6


def test_quirks_limits_and_windows() -> None:
    state = SiteState(_site())
    ev = state.evses[("A", 1)]
    quirks = state.stations["A"].quirks
    assert executable_w(ev, 10_000.0, quirks) == 14.4 * 230 * 3  # 0.1 A steps, rounded down
    assert executable_w(ev, 4000.0, quirks) == 0.0  # 5.7 A is below the model's 7 A
    assert executable_w(ev, 5000.5, StationQuirks(model="w", unit="W")) == 5000.0
    assert executable_w(ev, 4139.0, StationQuirks(model="w", unit="W")) == 0.0  # below 6 A
    limit = make_limit(
        ev,
        10_000.0,
        StationQuirks(model="w", unit="W", max_stack_level=0),
        purpose="TxProfile",
        now=T0,
        valid_to=T0 + timedelta(seconds=90),
    )
    assert (limit.unit, limit.schedule, limit.stack_level, limit.duration_s) == (
        ChargingRateUnit.WATT,
        ((0, 10_000, 3),),
        0,
        90,
    )
    assert window_end(T0 + timedelta(seconds=10), validity_s=900, margin_s=120) == T0 + timedelta(
        seconds=900
    )
    assert window_end(T0 + timedelta(seconds=850), validity_s=900, margin_s=120) == T0 + timedelta(
        seconds=1800
    )


def test_choose_deadband_and_forced_decreases() -> None:
    state = SiteState(_site())
    _online(state)
    for i, (station, evse) in enumerate((("A", 1), ("A", 2)), start=1):
        state.take_transaction(_tx(i, station, evse, token="X"))
    a1, a2 = state.evses[("A", 1)], state.evses[("A", 2)]
    from csms.planning.state import Sent

    end = T0 + timedelta(minutes=15)
    a1.sent = Sent(6000.0, "TxProfile", T0, "accepted", end, 1)
    a2.sent = Sent(6000.0, "TxProfile", T0, "accepted", end, 2)
    limits = limits_in_force(state.site, [], T0)
    kw = {"limits": limits, "uncontrolled_w": {}, "now": T0, "deadband_w": 500.0, "valid_to": end}
    # Within the deadband: nothing is sent.
    assert choose(state, {"A/1": 6200.0, "A/2": 5800.0}, (a1, a2), **kw) == []  # type: ignore[arg-type]
    # A 300 W decrease is held back by the deadband unless the feeder needs it.
    out = choose(state, {"A/1": 7000.0, "A/2": 5700.0}, (a1, a2), **kw)  # type: ignore[arg-type]
    assert [(d.evse.key, d.forced) for d in out] == [("A/1", False), ("A/2", True)]
    # A cap: the feeder at 8 kW must come down.
    cap = GridConstraint(
        **NewConstraint(node_id="feeder", start=T0, end=end, max_import_w=8000.0).model_dump(),
        id="c",
        site_id="s",
        created_at=T0,
    )
    kw["limits"] = limits_in_force(state.site, [cap], T0)
    out = choose(state, {"A/1": 4000.0, "A/2": 4000.0}, (a1, a2), **kw)  # type: ignore[arg-type]
    assert sorted(d.evse.key for d in out) == ["A/1", "A/2"]


def test_a_send_without_an_answer_in_time_is_sent_again_and_counted_as_taken() -> None:
    """A TxProfile whose answer did not come in time (decision 0015): the station may be on
    it (a late Accepted), so it counts like an unanswered one; the EVSE stays planned and is
    sent its schedule again even within the deadband. A rejected one is planned around."""
    state = SiteState(_site())
    _online(state)
    state.take_transaction(_tx(1, "A", 1, token="X"))
    a1 = state.evses[("A", 1)]
    from csms.planning.state import Sent

    end = T0 + timedelta(minutes=15)
    a1.sent = Sent(6000.0, "TxProfile", T0, "accepted", end, 1)
    a1.accepted_tx, a1.accepted_sent = (1, 6000.0), a1.sent
    a1.sent = Sent(9000.0, "TxProfile", T0, "failed", end, 1)
    assert state.controllable(a1)
    assert a1.limit_in_force_w(T0) == 9000.0 and state.worst_case_w(a1) == 9000.0
    assert a1 in build_problem(state, [], now=T0, settings=PlanningSettings()).controlled
    limits = limits_in_force(state.site, [], T0)
    kw = {"limits": limits, "uncontrolled_w": {}, "now": T0, "deadband_w": 500.0, "valid_to": end}
    out = choose(state, {"A/1": 9000.0}, (a1,), **kw)  # type: ignore[arg-type]
    assert [d.evse.key for d in out] == ["A/1"]
    a1.sent = Sent(3000.0, "TxProfile", T0, "failed", end, 1)  # a decrease without an answer
    assert current_w(a1, T0) == 6000.0  # it may still be on what it had: sent again first
    a1.sent.state = "rejected"
    assert not state.controllable(a1)


def test_carry_over_keeps_every_mix_of_windows_within_limits() -> None:
    """Past the window's end an EVSE is on its carried-over TxProfile or on its safe default;
    a raise above the default is carried only while the feeder holds with every EVSE not
    carried on its default."""
    state = SiteState(_site())
    _online(state)
    for i, (station, evse) in enumerate((("A", 1), ("A", 2)), start=1):
        state.take_transaction(_tx(i, station, evse, token="X"))
    a1, a2 = state.evses[("A", 1)], state.evses[("A", 2)]
    from csms.planning.dispatch import carry_over, fallback_w
    from csms.planning.state import Sent

    end = T0 + timedelta(minutes=15)
    a1.default_w = a2.default_w = 4000.0
    a1.sent = Sent(9000.0, "TxProfile", T0, "accepted", end, 1)  # 5 kW above its default
    a2.sent = Sent(2000.0, "TxProfile", T0, "accepted", end, 2)  # 2 kW below it
    assert fallback_w(a1) == 4000.0
    b1 = state.evses[("B", 1)]
    assert fallback_w(b1) == 32 * 230 * 3  # no default confirmed: its rating
    kw = {"limits": limits_in_force(state.site, [], T0), "uncontrolled_w": {}}
    both = (a1, a2)
    # Together: A/2 first (it lowers the feeder), then A/1 fits (2 + 9 <= 12 kW).
    assert carry_over(state, [a1, a2], set(), both, **kw) == [a2, a1]  # type: ignore[arg-type]
    # A/2 not carried (its renewal failed): it will be on its 4 kW default, and A/1 at 9 kW
    # would put the feeder at 13 kW: A/1 is left to fall back too.
    assert carry_over(state, [a1], set(), both, **kw) == []  # type: ignore[arg-type]
    # A/2 carried: A/1 fits.
    assert carry_over(state, [a1], {"A/2"}, both, **kw) == [a1]  # type: ignore[arg-type]
    # Something else on the feeder that the planner does not steer leaves no room for it.
    kw["uncontrolled_w"] = {"feeder": 2000.0, "grid": 2000.0}
    assert carry_over(state, [a1], {"A/2"}, both, **kw) == []  # type: ignore[arg-type]


def test_quirks_detected_and_learned() -> None:
    from csms.planning.quirks import after_rejection, detected_quirks

    found = detected_quirks(
        "acme",
        {"ChargingScheduleAllowedChargingRateUnit": "Current", "ChargeProfileMaxStackLevel": "3"},
        None,
    )
    assert (found.unit, found.max_stack_level, found.single_period) == ("A", 3, False)
    found = detected_quirks("x", {"RateUnit": "W", "PeriodsPerSchedule": "1"}, None)
    assert (found.unit, found.single_period) == ("W", True)
    configured = StationQuirks(model="acme", unit="W", min_current_a=7.0)
    found = detected_quirks(
        "acme", {"ChargingScheduleAllowedChargingRateUnit": "Current"}, configured
    )
    assert (found.unit, found.min_current_a) == ("W", 7.0)  # the site file wins
    assert after_rejection(None, None).unit == "W"
    assert after_rejection(StationQuirks(model="m", unit="W"), None).unit == "A"
    assert after_rejection(configured, configured).unit == "W"


def test_a_rejection_teaches_the_other_unit_only_while_its_transaction_runs() -> None:
    from types import SimpleNamespace

    from csms.planning.loop import SiteLoop

    state = SiteState(_site())
    _online(state)
    state.take_transaction(_tx(1, "B", 1))
    state.take_transaction(_tx(2, "A", 1))
    loop = SiteLoop(SimpleNamespace(settings=PlanningSettings()), state)  # type: ignore[arg-type]
    b1, a1 = state.evses[("B", 1)], state.evses[("A", 1)]
    # B's profile was rejected while its session still runs: B takes the other unit next.
    b1.rejected_tx = 1
    # A's was rejected because its session had just ended (the stop crossed the profile).
    a1.rejected_tx = 2
    state.take_transaction(_tx(2, "A", 1, stopped_at=T0 + timedelta(hours=1)))
    assert a1.tx is None
    before_a = state.stations["A"].quirks
    loop._learn_from_rejections()
    assert state.stations["B"].quirks is not None and state.stations["B"].quirks.unit == "W"
    assert state.stations["B"].learned["rejections"] == 1
    assert state.stations["A"].quirks == before_a
    assert "rejections" not in state.stations["A"].learned
    assert b1.rejected_tx is None and a1.rejected_tx is None


def test_a_cap_on_an_evse_node_limits_that_evse_only() -> None:
    from csms.sites import NodeKind

    base = _site()
    site = base.model_copy(
        update={
            "nodes": (*base.nodes, SiteNode(id="B-1", kind=NodeKind.EVSE, parent="grid")),
            "stations": (
                base.stations[0],
                SiteStation(id="B", node="grid", evses=(SiteEvse(id=1, node="B-1"),)),
            ),
        }
    )
    state = SiteState(site)
    _online(state)
    for i, (station, evse) in enumerate((("A", 1), ("A", 2), ("B", 1)), start=1):
        state.take_transaction(_tx(i, station, evse, token="X"))
    cap = GridConstraint(
        **NewConstraint(
            node_id="B-1",
            max_import_w=5_000.0,
            start=T0 - timedelta(hours=1),
            end=T0 + timedelta(hours=8),
        ).model_dump(),
        id="c1",
        site_id="s",
        created_at=T0,
    )
    uncapped = solve(build_problem(state, [], now=T0, settings=SETTINGS).problem)
    capped = solve(build_problem(state, [cap], now=T0, settings=SETTINGS).problem)
    assert uncapped.evses["B/1"].power_w[0] > 5_000.0
    assert max(capped.evses["B/1"].power_w) <= 5_000.0 + 1e-6
    assert capped.evses["B/1"].power_w[0] > 4_000.0  # capped, not stopped
