"""Constraint windows kept to the second: plan steps split at the edges, profiles' periods
there, the strictest limit over a window, idle EVSEs' share of what the sessions leave, and
profiles carried into the next window checked at every instant of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from csms.planning.dispatch import make_limit, node_limit_at
from csms.planning.state import Sent, SiteState
from csms.planning.windows import (
    carry_over_timed,
    edges,
    idle_shares,
    next_edge,
    plan_grid,
    room_left,
    strictest_limits,
)
from csms.sites import Site, SiteEvse, SiteNode, SiteStation, StationQuirks
from csms.sites.constraints import GridConstraint, NodeLimit
from tests.unit.planning.test_periods import _tx

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _dr(start: datetime, end: datetime, *, pct: float = 50.0, cid: str = "dr") -> GridConstraint:
    return GridConstraint(
        id=cid,
        site_id="s",
        node_id="feeder",
        kind="reduce",
        start=start,
        end=end,
        reduce_by_pct=pct,
        created_at=T0 - timedelta(hours=1),
    )


def _site(evses_per_station: int = 1, stations: int = 3) -> Site:
    return Site(
        id="s",
        nodes=(
            SiteNode(id="grid", max_import_w=100_000.0),
            SiteNode(id="feeder", parent="grid", max_import_w=30_000.0),
        ),
        stations=tuple(
            SiteStation(
                id=f"S{i}",
                node="feeder",
                model="sim",
                evses=tuple(SiteEvse(id=c) for c in range(1, evses_per_station + 1)),
            )
            for i in range(stations)
        ),
        quirks=(StationQuirks(model="sim", unit="W"),),
    )


def test_plan_steps_end_at_every_window_edge() -> None:
    start, end = _at(9), _at(33) + timedelta(seconds=20)
    grid = plan_grid(T0, step_s=900.0, horizon_s=3600.0, constraints=[_dr(start, end)])
    bounds = [grid.step_start(k) for k in range(grid.n_steps)] + [grid.end]
    assert bounds == [T0, start, _at(15), _at(30), end, _at(45), _at(60)]
    assert grid.end == _at(60)
    # Without constraints: the plain 15-minute steps.
    plain = plan_grid(T0, step_s=900.0, horizon_s=3600.0)
    assert plain.step_durations_s == (900.0,) * 4
    # Edges outside the horizon, at its start, or cancelled, change nothing.
    cancelled = _dr(_at(5), _at(10)).model_copy(update={"cancelled_at": T0})
    far = _dr(_at(-10), _at(120), cid="far")
    assert plan_grid(T0, step_s=900.0, horizon_s=3600.0, constraints=[cancelled, far]) == plain
    # A step boundary within a second of an edge gives way to it (no sliver steps).
    near = plan_grid(
        T0,
        step_s=900.0,
        horizon_s=1800.0,
        constraints=[_dr(_at(15) + timedelta(seconds=0.5), _at(40))],
    )
    assert near.step_durations_s == (900.5, 899.5)


def test_edges_and_the_next_one() -> None:
    a = _dr(_at(10), _at(20))
    b = _dr(_at(20), _at(50), cid="b")
    assert edges([a, b], T0, _at(40)) == [_at(10), _at(20)]
    assert next_edge([a, b], T0) == _at(10)
    assert next_edge([a, b], _at(10)) == _at(20)  # strictly after now
    assert next_edge([a, b], _at(50)) is None


def test_the_strictest_limit_over_a_window_sees_a_window_that_opens_inside_it() -> None:
    site = _site()
    dr = _dr(_at(20), _at(40))
    before = strictest_limits(site, [dr], T0, _at(15))
    assert before["feeder"].max_import_w == 30_000.0
    inside = strictest_limits(site, [dr], _at(15), _at(30))
    assert inside["feeder"].max_import_w == 15_000.0
    assert inside["feeder"].binding == ("dr",)
    assert inside["grid"].max_import_w == 100_000.0


def test_idle_evses_share_the_room_under_every_node() -> None:
    site = Site(
        id="s",
        nodes=(
            SiteNode(id="grid", max_import_w=20_000.0),
            SiteNode(id="feeder", parent="grid", max_import_w=9_000.0),
        ),
        stations=(
            SiteStation(id="F", node="feeder", evses=(SiteEvse(id=1), SiteEvse(id=2))),
            SiteStation(id="G", node="grid", evses=(SiteEvse(id=1),)),
        ),
    )
    idle = {"F/1": "feeder", "F/2": "feeder", "G/1": "grid"}
    shares = idle_shares(site, idle=idle, headroom_w={"grid": 9_000.0, "feeder": 4_000.0})
    # The feeder's 4 kW go to its two idle EVSEs; the grid's 9 kW to all three.
    assert shares == {"F/1": 2_000.0, "F/2": 2_000.0, "G/1": 3_000.0}
    # No room left (or less than none): nothing.
    assert idle_shares(site, idle=idle, headroom_w={"grid": -5.0, "feeder": None}) == {
        "F/1": 0.0,
        "F/2": 0.0,
        "G/1": 0.0,
    }
    # Under no limited node: left out.
    assert idle_shares(site, idle=idle, headroom_w={"grid": None, "feeder": None}) == {}


def test_room_left_is_the_least_at_any_instant() -> None:
    site = _site()
    limits = {("feeder", T0): 30_000.0, ("feeder", _at(20)): 15_000.0}
    drawn = {("feeder", T0): 20_000.0, ("feeder", _at(20)): 12_000.0}
    room = room_left(
        site,
        [T0, _at(20)],
        limit_at=lambda node, at: limits.get((node, at)),
        drawn_at=lambda node, at: drawn.get((node, at), 0.0),
    )
    assert room == {"grid": None, "feeder": 3_000.0}


def test_node_limit_now_and_later() -> None:
    site = _site()
    limits = {"feeder": NodeLimit("feeder", 30_000.0, None, None, ())}
    later = {"feeder": ((_at(5), 14_000.0), (_at(20), 9_000.0))}

    def at(t: datetime) -> float | None:
        return node_limit_at(
            site,
            "feeder",
            t,
            now=T0,
            limits=limits,
            uncontrolled_w={"feeder": 2_000.0},
            later_limits_w=later,
        )

    assert at(T0) == 28_000.0  # now: the limit in force less what is not controlled
    assert at(_at(1)) is None  # before the plan's first later step: not known here
    assert at(_at(5)) == 14_000.0
    assert at(_at(25)) == 9_000.0
    assert (
        node_limit_at(site, "grid", T0, now=T0, limits={}, uncontrolled_w={}, later_limits_w={})
        == 100_000.0
    )


def test_periods_start_on_the_second_a_decrease_never_late_an_increase_never_early() -> None:
    state = SiteState(_site())
    ev = state.evses[("S0", 1)]
    quirks = StationQuirks(model="sim", unit="W")
    now = T0 + timedelta(seconds=10)
    limit = make_limit(
        ev,
        10_000.0,
        quirks,
        purpose="TxProfile",
        now=now,
        valid_to=_at(30),
        later=(
            (_at(9) + timedelta(milliseconds=400), 5_000.0),  # down: at 529 s, not 530
            (_at(20) + timedelta(milliseconds=400), 9_000.0),  # up: at 1191 s, not 1190
        ),
    )
    assert [(offset, value) for offset, value, _ in limit.schedule] == [
        (0, 10_000),
        (530, 5_000),
        (1191, 9_000),
    ]


def test_a_profile_is_carried_only_if_it_fits_at_every_instant_of_the_next_window() -> None:
    site = _site(stations=2)
    state = SiteState(site)
    for st in state.stations.values():
        st.online = st.seen = True
    state.take_transaction(_tx(1, "S0"))
    state.take_transaction(_tx(2, "S1"))
    a, b = state.evses[("S0", 1)], state.evses[("S1", 1)]
    a.default_w = b.default_w = 7_500.0
    window = (_at(15), _at(30))
    dr = _dr(_at(20), _at(40))  # the feeder: 30 kW, then 15 kW from 18:20

    def limit_at(node_id: str, at: datetime) -> float | None:
        return strictest_limits(site, [dr], at, at + timedelta(seconds=1))[node_id].max_import_w

    instants = [window[0], _at(20)]
    # A keeps 20 kW through the window edge; B's schedule drops to 5 kW at 18:20.
    a.sent = Sent(20_000.0, "TxProfile", T0, "accepted", window[0], 1, ((T0, 20_000.0),))
    b.sent = Sent(
        10_000.0,
        "TxProfile",
        T0,
        "accepted",
        window[0],
        2,
        ((T0, 10_000.0), (_at(20), 5_000.0)),
    )
    chosen = carry_over_timed(
        site, [a, b], set(), (a, b), instants=instants, limit_at=limit_at, base_w={}
    )
    # B first (its raise is smaller): 18:15 10 + 7.5 <= 30, 18:20 5 + 7.5 <= 15.
    # A then: 18:15 20 + 10 = 30 fits, but 18:20 20 + 5 = 25 > 15: A falls back.
    assert chosen == [b]
    # With the window's edge not looked at (only its start), A would have been carried.
    assert carry_over_timed(
        site, [a, b], set(), (a, b), instants=[window[0]], limit_at=limit_at, base_w={}
    ) == [b, a]
    # What is drawn besides (idle EVSEs' defaults) counts too.
    assert (
        carry_over_timed(
            site,
            [b],
            set(),
            (a, b),
            instants=instants,
            limit_at=limit_at,
            base_w={"feeder": 15_000.0},  # 18:15: 15 + 7.5 + 7.5 + 2.5 > 30
        )
        == []
    )


def test_idle_evses_defaults_fit_what_the_sessions_leave_until_the_window_ends() -> None:
    from types import SimpleNamespace

    from csms.planning import PlanningSettings
    from csms.planning.loop import SiteLoop

    site = Site(
        id="s",
        nodes=(
            SiteNode(id="grid", max_import_w=100_000.0),
            SiteNode(id="feeder", parent="grid", max_import_w=30_000.0),
        ),
        stations=tuple(
            SiteStation(
                id=f"S{i}", node="feeder", model="sim", evses=(SiteEvse(id=1, min_current_a=0.0),)
            )
            for i in range(3)
        ),
        quirks=(StationQuirks(model="sim", unit="W"),),
    )
    state = SiteState(site)
    for st in state.stations.values():
        st.online = st.seen = True
        st.quirks = StationQuirks(model="sim", unit="W")
    state.take_transaction(_tx(1, "S0"))
    active = state.evses[("S0", 1)]
    # The session may draw 20 kW, then 10 kW from 18:20 (a DR window: the feeder at 15 kW).
    active.sent = Sent(
        20_000.0, "TxProfile", T0, "pending", _at(30), 1, ((T0, 20_000.0), (_at(20), 10_000.0))
    )
    service = SimpleNamespace(settings=PlanningSettings(deadband_w=500.0))
    loop = SiteLoop(service, state)  # type: ignore[arg-type]
    loop.defaults.defaults_w = {"S0/1": 10_000.0, "S1/1": 10_000.0, "S2/1": 10_000.0}
    wanted = loop.defaults.idle(
        (active,),
        sent_at=T0,
        valid_to=_at(30),
        limits={"feeder": NodeLimit("feeder", 30_000.0, None, None, ())},
        uncontrolled_w={},
        later_limits_w={"feeder": ((_at(20), 15_000.0),)},
    )
    # 18:00: 30 - 20 = 10 kW left; 18:20: 15 - 10 = 5 kW; the two idle EVSEs share 5 kW.
    assert wanted == {"S1/1": 2_500.0, "S2/1": 2_500.0}
    # They have the equal share (10 kW) now: both are lowered; an increase waits for the
    # deadband, and a station without its defaults yet gets them at boot instead.
    for key in ("S1", "S2"):
        state.evses[(key, 1)].default_w = 10_000.0
    state.stations["S2"].defaults_sent = True
    state.stations["S1"].defaults_sent = True
    lower, higher = loop.defaults.changes(wanted)
    assert [(ev.key, w) for ev, w in lower] == [("S1/1", 2_500.0), ("S2/1", 2_500.0)]
    assert higher == []
    state.evses[("S1", 1)].default_w = 1_900.0
    state.evses[("S2", 1)].default_w = 2_400.0
    lower, higher = loop.defaults.changes(wanted)
    assert [(ev.key, w) for ev, w in higher] == [("S1/1", 2_500.0)]  # 600 W up: past the deadband
    assert lower == []
    # An EV arriving at S1 would get 2.5 kW by its default: the feeder holds at every second.
    assert loop.defaults.default_for(state.evses[("S1", 1)], state.stations["S1"].quirks) == 2_500.0
