"""V2G EVs in a site's planning (decision 0910), pure: who may give, the problem's discharge
limits, the charging-only view the sharing works on, V2X schedules from a plan's negative
steps and in the renewals into the next window (decision 0920), and the export register
counted in what an EV has been given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.domain import (
    ChargingLimit,
    ChargingRateUnit,
    EVChargingNeeds,
    MeterSample,
    Transaction,
    V2XParameters,
    V2XPeriod,
)
from csms.events import EVChargingNeedsReceived, MeterValuesReceived, TransactionStarted
from csms.planning import PlanningSettings, SiteState, build_problem
from csms.planning.state import Sent
from csms.planning.v2x import charging_view, giving, may_give, renewal_v2x, v2x_limit
from csms.sites import Site, SiteEvse, SiteNode, SiteStation
from csms.sites.model import Tariff, TouPeriod
from optimizer import solve

T0 = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
V2X = V2XParameters(max_discharge_power_w=7000.0, min_v2x_energy_wh=-6000.0)
BPT = EVChargingNeeds(
    energy_requested_wh=10_000.0,
    departure_at=T0 + timedelta(hours=3),
    energy_transfer_mode="AC_BPT",
    v2x=V2X,
)


def _site() -> Site:
    return Site(
        id="s",
        nodes=(SiteNode(id="grid", max_import_w=50_000.0),),
        stations=(SiteStation(id="V", node="grid", evses=(SiteEvse(id=1), SiteEvse(id=2))),),
        tariff=Tariff(
            periods=(
                TouPeriod(start=datetime.min.time(), import_price_per_kwh=0.10),
                TouPeriod(start=T0.time(), import_price_per_kwh=0.60),
                TouPeriod(start=(T0 + timedelta(hours=1)).time(), import_price_per_kwh=0.10),
            )
        ),
    )


def _state(version: str = "2.1", needs: EVChargingNeeds = BPT) -> SiteState:
    state = SiteState(_site())
    for st in state.stations.values():
        st.online = st.seen = True
        st.ocpp_version = version
    apply = lambda e: state.apply(e, deviation_w=3000.0, tolerance_w=300.0)  # noqa: E731
    for evse, tx_needs, hours in ((1, needs, 3), (2, None, 1)):
        tx = Transaction(evse, "V", str(evse), evse, 1, "T", T0, meter_start_wh=0.0)
        apply(TransactionStarted(tx))
        other = EVChargingNeeds(
            energy_requested_wh=8000.0, departure_at=T0 + timedelta(hours=hours)
        )
        apply(EVChargingNeedsReceived("V", evse, evse, tx_needs or other))
    return state


SETTINGS = PlanningSettings(step_s=900.0, horizon_s=4 * 3600.0)


def test_a_21_ev_that_allows_discharge_gives_at_the_dear_hour_and_leaves_with_its_energy() -> None:
    state = _state()
    ev = state.evses[("V", 1)]
    assert may_give(state, ev, SETTINGS)
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    session = next(s for s in built.problem.sessions if s.evse_id == "V/1")
    assert (session.max_discharge_w, session.discharge_limit_wh) == (7000.0, 6000.0)
    plan = solve(built.problem)
    steps = plan.evses["V/1"].power_w
    assert min(steps[:4]) < -1000.0  # gives in the 0.60 hour, to the other EV
    assert max(plan.grid_export_w) == pytest.approx(0.0, abs=1e-6)  # export earns nothing
    assert plan.energy_wh(session.session_id) == pytest.approx(10_000.0, abs=1.0)
    view = charging_view(plan, built.problem)
    assert min(view.evses["V/1"].power_w) == 0.0 and min(view.load_power_w["1"]) == 0.0
    # the site carries what the V2G EV was to give: the other EV's share is not cut by it
    given = [-min(0.0, w) for w in steps]
    for k, w in enumerate(view.nodes["grid"].power_w):
        assert w == pytest.approx(plan.nodes["grid"].power_w[k] + given[k])
    gives = giving(plan, ev, now=T0, until=T0 + timedelta(minutes=30))
    assert gives and gives[0][0] == T0 and all(w < 0 for _, _, w in gives)


@pytest.mark.parametrize(
    ("version", "needs"),
    [
        ("2.0.1", BPT),  # a 2.0.1 station never gets a negative limit
        ("1.6", BPT),
        ("2.1", EVChargingNeeds(energy_requested_wh=10_000.0, energy_transfer_mode="AC_BPT")),
        ("2.1", EVChargingNeeds(energy_requested_wh=1e4, energy_transfer_mode="AC_three_phase",
                                v2x=V2X)),
        ("2.1", EVChargingNeeds(energy_requested_wh=1e4, energy_transfer_mode="AC_BPT",
                                v2x=V2XParameters(max_discharge_power_w=7000.0))),
    ],
)  # fmt: skip
def test_who_may_not_give_is_planned_charging_only(version: str, needs: EVChargingNeeds) -> None:
    state = _state(version, needs)
    assert not may_give(state, state.evses[("V", 1)], SETTINGS)
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    assert all(s.max_discharge_w == 0.0 for s in built.problem.sessions)
    assert min(solve(built.problem).evses["V/1"].power_w) >= 0.0


def test_a_refusal_or_v2g_off_plans_charging_only() -> None:
    state = _state()
    ev = state.evses[("V", 1)]
    assert not may_give(state, ev, PlanningSettings(v2g=False))
    assert ev.tx is not None
    ev.v2x_refused_tx = ev.tx.id
    assert not may_give(state, ev, SETTINGS)


def test_what_it_gave_counts_against_what_it_has_and_may_still_give() -> None:
    state = _state()
    ev = state.evses[("V", 1)]

    def meter(imp: float, exp: float, at: datetime) -> None:
        samples = (
            MeterSample(at, "Energy.Active.Import.Register", imp, "Wh"),
            MeterSample(at, "Energy.Active.Export.Register", exp, "Wh"),
        )
        state.apply(MeterValuesReceived("V", 1, 1, 1, samples), deviation_w=3e3, tolerance_w=300)

    meter(0.0, 100.0, T0)
    meter(500.0, 2100.0, T0 + timedelta(minutes=30))  # took 0.5 kWh, gave 2 kWh
    assert ev.delivered_wh == 0.0  # net: never below nothing
    meter(4000.0, 2100.0, T0 + timedelta(minutes=60))
    assert ev.delivered_wh == 2000.0
    built = build_problem(state, [], now=T0 + timedelta(hours=1), settings=SETTINGS)
    session = next(s for s in built.problem.sessions if s.evse_id == "V/1")
    assert session.energy_delivered_wh == 2000.0
    assert session.discharge_limit_wh == 8000.0  # 6 kWh above its floor, 2 kWh more since


def test_a_v2x_schedule_from_the_charging_limits_and_the_giving_steps() -> None:
    base = ChargingLimit(
        "V", 1, ChargingRateUnit.AMPERE, ((0, 16.0, 3),), purpose="TxProfile", profile_id=201,
        stack_level=1, start_at=T0, duration_s=3600, transaction_id=1,
    )  # fmt: skip
    t = lambda m: T0 + timedelta(minutes=m)  # noqa: E731
    charging = ((t(0), 0.0), (t(30), 11_040.0))
    gives = ((t(0), t(15), -5000.4), (t(15), t(30), -9000.0))
    limit = v2x_limit(base, charging, gives, now=t(0), max_discharge_w=7000.0)
    assert limit.unit is ChargingRateUnit.WATT and limit.profile_id == 201
    assert limit.v2x == (
        V2XPeriod(0, "CentralSetpoint", setpoint=-5000.0, discharge_limit=-7000.0),
        V2XPeriod(900, "CentralSetpoint", setpoint=-7000.0, discharge_limit=-7000.0),
        V2XPeriod(1800, "ChargingOnly", limit=11_040.0),
    )
    # its charging-only view never goes below zero
    assert limit.schedule == ((0, 0.0, None), (900, 0.0, None), (1800, 11_040.0, None))


def test_a_renewal_carries_the_giving_its_tx_profile_recorded() -> None:
    state = _state()
    ev = state.evses[("V", 1)]
    assert ev.tx is not None
    t = lambda m: T0 + timedelta(minutes=m)  # noqa: E731
    ev.sent = Sent(
        0.0, "TxProfile", t(0), state="accepted", valid_to=t(15), transaction_id=ev.tx.id,
        periods=((t(0), 0.0), (t(20), 11_000.0)), gives=((t(0), t(20), -5000.0),),
    )  # fmt: skip
    base = ChargingLimit(
        "V", 1, ChargingRateUnit.AMPERE, ((0, 0.0, 3), (600, 15.9, 3)), profile_id=1001,
        stack_level=1, start_at=t(10), duration_s=1200, transaction_id=ev.tx.id,
    )  # fmt: skip
    renewal = renewal_v2x(state, ev, base, SETTINGS, now=t(10), valid_to=t(30))
    assert renewal is not None and renewal.profile_id == 1001 and renewal.duration_s == 1200
    assert renewal.v2x == (
        V2XPeriod(0, "CentralSetpoint", setpoint=-5000.0, discharge_limit=-7000.0),
        V2XPeriod(600, "ChargingOnly", limit=11_000.0),
    )
    # nothing to give in the renewed time, or no longer allowed to give: charging only
    assert renewal_v2x(state, ev, base, SETTINGS, now=t(20), valid_to=t(30)) is None
    ev.v2x_refused_tx = ev.tx.id
    assert renewal_v2x(state, ev, base, SETTINGS, now=t(10), valid_to=t(30)) is None
