"""The EV's taper in the planner: where the battery is known, sessions carry it, and the
first-step share paces a tapering EV so that it still finishes."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from csms.domain import EVChargingNeeds, MeterSample, Transaction
from csms.events import MeterValuesReceived, TransactionStarted
from csms.planning import PlanningSettings, SiteState, build_problem
from csms.planning.allocate import fair_first_step, fair_steps, pace_w, taper_w
from csms.planning.ev_limits import line_floor, session_taper
from csms.sites import FleetDefaults, SessionDefaults, Site, SiteEvse, SiteNode, SiteStation
from optimizer import Evse, LimitNode, Problem, Session, Tariff, TimeGrid, solve

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
SETTINGS = PlanningSettings(horizon_s=12 * 3600, step_s=900)
EVSE_W = 32 * 230 * 3  # the default SiteEvse: 32 A, three phases
FLOOR = line_floor(0.1)  # the line's end for a 10 % floor: 4.2 %


def _site(cap_w: float = 100_000.0, *fleets: FleetDefaults) -> Site:
    return Site(
        id="s",
        nodes=(SiteNode(id="grid", max_import_w=cap_w),),
        # continuous currents (minimums: test_minimum_current)
        stations=(
            SiteStation(
                id="A",
                node="grid",
                evses=(SiteEvse(id=1, min_current_a=0.0), SiteEvse(id=2, min_current_a=0.0)),
            ),
        ),
        defaults=SessionDefaults(energy_wh=10_000.0, dwell_s=8 * 3600.0),
        fleets=fleets,
    )


VANS = FleetDefaults(
    id="vans",
    token_prefix="VAN",
    energy_wh=30_000.0,
    dwell_s=8 * 3600.0,
    max_power_w=11_000.0,
    battery_wh=60_000.0,
)


def _tx(tx_id: int, evse: int, token: str, **kw: object) -> Transaction:
    return Transaction(
        id=tx_id,
        station_id="A",
        station_tx_id=str(tx_id),
        evse_id=evse,
        connector_id=1,
        id_token=token,
        started_at=T0,
        meter_start_wh=0.0,
        **kw,  # type: ignore[arg-type]
    )


def _state(*txs: Transaction, site: Site | None = None) -> SiteState:
    state = SiteState(site or _site(100_000.0, VANS))
    for st in state.stations.values():
        st.online = st.seen = True
    for tx in txs:
        state.take_transaction(tx)
    return state


def _meter(evse: int, energy_wh: float, soc: float | None) -> MeterValuesReceived:
    samples = [
        MeterSample(T0, "Power.Active.Import", 11_000.0, "W"),
        MeterSample(T0, "Energy.Active.Import.Register", energy_wh, "Wh"),
    ]
    if soc is not None:
        samples.append(MeterSample(T0, "SoC", soc, "Percent", location="EV"))
    return MeterValuesReceived("A", evse, 1, None, tuple(samples))


def test_a_fleet_battery_places_the_request_below_full() -> None:
    # 30 kWh into a 60 kWh van that charges to 100 %: it arrived at 50 %, tapers from 80 %
    # (18 kWh in) and is full at 30 kWh; its 10 % floor becomes the line's 4.2 % at full.
    state = _state(_tx(1, 1, "VAN1"))
    taper = session_taper(VANS, state.evses[("A", 1)], energy_wh=30_000.0, peak_w=11_000.0)
    assert taper is not None
    assert (taper.start_wh, taper.end_wh) == pytest.approx((18_000.0, 30_000.0))
    assert (taper.floor_w, taper.max_power_w) == pytest.approx((11_000.0 * FLOOR, 11_000.0))
    assert taper.energy_requested_wh == 30_000.0
    # A fleet that charges to 90 %: arrived at 40 %, taper from 24 kWh, full at 36 kWh.
    ninety = VANS.model_copy(update={"charge_to_pct": 90.0})
    taper = session_taper(ninety, state.evses[("A", 1)], energy_wh=30_000.0, peak_w=11_000.0)
    assert taper is not None
    assert (taper.start_wh, taper.end_wh) == pytest.approx((24_000.0, 36_000.0))
    # Nothing known about the battery: no taper.
    assert session_taper(SessionDefaults(), state.evses[("A", 1)], energy_wh=1, peak_w=1) is None


def test_a_reported_state_of_charge_wins_and_an_ev_already_tapering_starts_lower() -> None:
    state = _state(_tx(1, 1, "VAN1"))
    ev = state.evses[("A", 1)]
    state.apply(_meter(1, 5_000.0, 90.0), deviation_w=3000.0, tolerance_w=300.0)
    assert ev.soc == (90.0, 5_000.0)
    taper = session_taper(VANS, ev, energy_wh=30_000.0, peak_w=11_000.0)
    assert taper is not None
    # Full at 5 kWh + 10 % of 60 kWh; the line (11 kW at 80 %, its floor at 100 %) would
    # have started 1 kWh before the session: from 0 Wh, 1 kWh down the line.
    slope = 11_000.0 * (1 - FLOOR) / 12_000.0  # W per Wh
    assert taper.end_wh == pytest.approx(11_000.0)
    assert (taper.start_wh, taper.max_power_w) == pytest.approx((0.0, 11_000.0 - slope * 1000))
    assert taper.energy_requested_wh == pytest.approx(11_000.0)  # no more fits
    # A battery the energy already delivered contradicts: planned without a taper.
    state.apply(_meter(1, 12_000.0, None), deviation_w=3000.0, tolerance_w=300.0)
    assert session_taper(VANS, ev, energy_wh=30_000.0, peak_w=11_000.0) is None


def test_dc_needs_carry_the_battery() -> None:
    needs = EVChargingNeeds(
        energy_requested_wh=20_000.0,
        max_power_w=50_000.0,
        soc_pct=40.0,
        capacity_wh=80_000.0,
        bulk_soc_pct=70.0,
    )
    state = _state(_tx(1, 1, "X", needs=needs))
    taper = session_taper(
        SessionDefaults(), state.evses[("A", 1)], energy_wh=20_000.0, peak_w=50_000.0
    )
    assert taper is not None
    assert (taper.start_wh, taper.end_wh) == pytest.approx((24_000.0, 48_000.0))
    assert taper.floor_w == pytest.approx(50_000.0 * FLOOR)


def test_sessions_in_the_problem_carry_the_taper() -> None:
    state = _state(_tx(1, 1, "VAN1"), _tx(2, 2, "OTHER"))
    sessions = {
        s.session_id: s
        for s in build_problem(state, [], now=T0, settings=SETTINGS).problem.sessions
    }
    van, other = sessions["1"], sessions["2"]
    assert (van.taper_start_wh, van.taper_end_wh) == pytest.approx((18_000.0, 30_000.0))
    assert van.taper_floor_w == pytest.approx(11_000.0 * FLOOR) and van.max_power_w == 11_000.0
    assert other.taper_start_wh is None and other.max_power_w is None


@pytest.mark.parametrize(
    ("mode", "expected_w"),
    [("AC_three_phase", 16 * 230.0 * 3), ("AC_single_phase", 16 * 230.0), (None, 16 * 230.0 * 3)],
)
def test_an_ac_ev_is_planned_at_most_at_the_current_it_states(
    mode: str | None, expected_w: float
) -> None:
    """A 2.0.1 AC EV says its maximum current, not its power: 16 A on three phases at 230 V
    is 11.04 kW, whatever the EVSE (32 A) could give."""
    needs = EVChargingNeeds(max_current_a=16.0, energy_transfer_mode=mode)
    state = _state(_tx(1, 1, "OTHER", needs=needs), _tx(2, 2, "VAN2"))
    sessions = {
        s.session_id: s
        for s in build_problem(state, [], now=T0, settings=SETTINGS).problem.sessions
    }
    assert sessions["1"].max_power_w == pytest.approx(expected_w)
    assert sessions["2"].max_power_w == 11_000.0  # the fleet's figure, no needs


def _session(**kw: object) -> Session:
    base: dict[str, object] = dict(
        session_id="1",
        evse_id="A/1",
        arrival=T0,
        departure=T0 + timedelta(hours=4),
        energy_requested_wh=30_000.0,
        max_power_w=11_000.0,
    )
    base.update(kw)
    return Session(**base)  # type: ignore[arg-type]


def test_taper_acceptance_and_pace_by_hand() -> None:
    s = _session(taper_start_wh=18_000.0, taper_end_wh=30_000.0, taper_floor_w=1_100.0)
    assert taper_w(s, EVSE_W, 10_000.0) == math.inf
    assert taper_w(s, EVSE_W, 24_000.0) == pytest.approx(6_050.0)  # half way down the line
    # 30 kWh in 6 h: 5 kW on average, but at 5 kW the taper takes over at 25.27 kWh
    # (11 kW - 0.825 W/Wh x 7.27 kWh) and the rest needs ln(5/1.1)/0.825 h: 6.89 h in all.
    # The pace that still finishes in 6 h is higher; it is found to the watt.
    pace = pace_w(s, EVSE_W, 11_000.0, 0.0, 30_000.0, 6.0)
    assert 5_000.0 < pace < 11_000.0
    bend = 18_000.0 + (11_000.0 - pace) / 0.825
    hours = bend / pace + math.log(pace / 1_100.0) / 0.825
    assert hours == pytest.approx(6.0, abs=1e-6)
    # Without a taper it is the even pace; with too little time, more than the EV takes,
    # scaled by the hours it would need.
    assert pace_w(_session(), EVSE_W, 11_000.0, 0.0, 30_000.0, 6.0) == 5_000.0
    at_full = 18_000.0 / 11_000.0 + math.log(11_000.0 / 1_100.0) / 0.825  # 4.43 h
    assert pace_w(s, EVSE_W, 11_000.0, 0.0, 30_000.0, 4.0) == pytest.approx(
        11_000.0 * at_full / 4.0
    )


def test_the_first_step_favours_the_ev_that_will_taper() -> None:
    # Two vans, each 30 kWh missing in 6 h, on a 13 kW site. Only van 1 tapers (it fills its
    # battery); shared by energy per hour left they would get 6.5 kW each and van 1 would end
    # short in its taper. Its pace is higher, so it gets more now.
    no_battery = FleetDefaults(
        id="cars",
        token_prefix="CAR",
        energy_wh=30_000.0,
        dwell_s=6 * 3600.0,
        max_power_w=11_000.0,
    )
    vans = VANS.model_copy(update={"dwell_s": 6 * 3600.0})
    state = _state(_tx(1, 1, "VAN1"), _tx(2, 2, "CAR2"), site=_site(13_000.0, vans, no_battery))
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    plan = solve(built.problem)
    first = fair_first_step(plan, built.problem, now=T0, ancestors={"grid": ["grid"]})
    assert first["A/1"] + first["A/2"] == pytest.approx(13_000.0, abs=1.0)
    assert first["A/1"] > first["A/2"] + 500.0
    # The plan itself meets the van (the car within what rounding to executable currents
    # costs).
    assert plan.shortfall_wh["1"] == pytest.approx(0.0, abs=1.0)
    assert plan.shortfall_wh["2"] <= plan.rounding_loss_wh + 1.0


def test_the_first_step_gives_a_tapering_ev_no_more_than_it_takes() -> None:
    # Van 1 is at 95 % (SoC in its meter values): by the line it takes about 3.4 kW. Van 2,
    # without a battery, takes the rest of the 14 kW site at once.
    state = _state(_tx(1, 1, "VAN1"), _tx(2, 2, "CAR2"), site=_site(14_000.0, VANS))
    state.apply(_meter(1, 0.0, 95.0), deviation_w=3000.0, tolerance_w=300.0)
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    plan = solve(built.problem)
    first = fair_first_step(plan, built.problem, now=T0, ancestors={"grid": ["grid"]})
    van = next(s for s in built.problem.sessions if s.session_id == "1")
    takes = taper_w(van, EVSE_W, 0.0)
    assert takes == pytest.approx(11_000.0 - 11_000.0 * (1 - FLOOR) / 12_000.0 * 9_000.0)
    assert first["A/1"] <= takes + 1.0
    assert first["A/2"] == pytest.approx(14_000.0 - first["A/1"], abs=1.0)
    assert first["A/2"] >= 14_000.0 - takes - 1.0


def test_state_of_charge_is_kept_per_session() -> None:
    state = _state(_tx(1, 1, "VAN1"))
    ev = state.evses[("A", 1)]
    state.apply(_meter(1, 2_000.0, 55.0), deviation_w=3000.0, tolerance_w=300.0)
    assert ev.soc == (55.0, 2_000.0)
    state.apply(_meter(1, 3_000.0, 250.0), deviation_w=3000.0, tolerance_w=300.0)  # nonsense
    assert ev.soc == (55.0, 2_000.0)
    state.apply(TransactionStarted(_tx(2, 1, "VAN1")), deviation_w=3000.0, tolerance_w=300.0)
    assert ev.soc is None  # a new session starts without the last one's


def test_the_line_takes_as_long_as_the_cc_cv_curve() -> None:
    """The simulators' vehicle (falling to zero at full from 80 %, floored at 10 %) takes as
    long from 80 % to full at its maximum as the plan's line says."""
    from simulators.ev import EV, EVSpec

    assert round(FLOOR, 4) == 0.0423
    assert line_floor(1.0) == 1.0 and line_floor(0.0) > 0.0
    ev = EV(EVSpec(ev_id="v", capacity_wh=60_000.0, initial_soc=0.8, target_soc=1.0))
    minutes = 0
    while not ev.full:
        ev.advance(11_000.0, 60.0)
        minutes += 1
    line_h = 12_000.0 / 11_000.0 * math.log(1 / FLOOR) / (1 - FLOOR)
    assert minutes / 60 == pytest.approx(line_h, rel=0.02)
    # A line through the curve's ends (to the 10 % floor) would say 2.8 h for its 3.6 h.
    ends_h = 12_000.0 / 11_000.0 * math.log(10) / 0.9
    assert minutes / 60 > 1.25 * ends_h


def test_a_finish_margin_makes_the_ev_with_less_time_more_urgent() -> None:
    # Two cars without a taper, 10 kWh each, leaving in 1.5 h and 6 h, on a 6 kW site: the
    # margin shortens the first one's time left by 15 min out of 1.5 h, the other's by
    # 15 min out of 6 h, so the first gets more of the 6 kW than without it.
    cars = FleetDefaults(id="cars", token_prefix="CAR", energy_wh=10_000.0, dwell_s=6 * 3600.0)
    early = FleetDefaults(id="early", token_prefix="EARLY", energy_wh=10_000.0, dwell_s=5400.0)
    state = _state(_tx(1, 1, "EARLY1"), _tx(2, 2, "CAR2"), site=_site(6_000.0, early, cars))
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    plan = solve(built.problem)
    ancestors = {"grid": ["grid"]}
    plain = fair_steps(plan, built.problem, ancestors=ancestors, steps=1)
    margin = fair_steps(plan, built.problem, ancestors=ancestors, steps=1, finish_margin_s=900)
    assert plain["A/1"][0] + plain["A/2"][0] == pytest.approx(6_000.0, abs=1.0)
    assert margin["A/1"][0] + margin["A/2"][0] == pytest.approx(6_000.0, abs=1.0)
    assert margin["A/1"][0] > plain["A/1"][0] + 100.0


def test_an_ev_near_its_maximum_keeps_what_the_plan_gives_it() -> None:
    # Car a takes at most 11.04 kW (16 A on three phases) and needs 4 kWh in 30 minutes:
    # about 22 of its 30 minutes at full power. Car b needs 6 kWh in 90 minutes. The plan
    # gives a the 11.04 kW site in the steps a cannot do without; shared by pace alone
    # (with the 15-minute finish margin) a would get less at every step and end short.
    grid = TimeGrid.uniform(start=T0, step_s=300.0, n_steps=24)
    evses = tuple(Evse(evse_id=f"E{i}", node_id="grid", max_current_a=32.0) for i in range(2))
    sessions = (
        Session("a", "E0", T0, T0 + timedelta(minutes=30), energy_requested_wh=4_000.0,
                max_power_w=11_040.0),
        Session("b", "E1", T0, T0 + timedelta(minutes=90), energy_requested_wh=6_000.0),
    )  # fmt: skip
    problem = Problem(
        grid=grid,
        nodes=(LimitNode("grid", max_import_w=11_040.0),),
        evses=evses,
        tariff=Tariff(import_price_per_kwh=(0.0,) * 24),
        sessions=sessions,
    )
    plan = solve(problem)
    steps = fair_steps(plan, problem, ancestors={"grid": ["grid"]}, steps=6, finish_margin_s=900)
    assert all(a + b <= 11_040.0 + 1e-6 for a, b in zip(steps["E0"], steps["E1"], strict=True))
    assert max(steps["E0"]) <= 11_040.0 + 1e-6
    assert sum(steps["E0"]) * 300.0 / 3600.0 >= 0.99 * 4_000.0
