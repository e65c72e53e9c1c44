"""PV and storage readings in the problem: what the plan counts on, for how long, and the
fair share that lets the EVs take the PV on top of a node's limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.domain import PvReading, StorageReading, Transaction
from csms.events import SiteReadingsReceived
from csms.planning import PlanningSettings, SiteState, build_problem
from csms.planning.allocate import fair_steps
from csms.sites import (
    PvAsset,
    SessionDefaults,
    Site,
    SiteEvse,
    SiteNode,
    SiteStation,
    StorageAsset,
)
from optimizer import solve

T0 = datetime(2026, 6, 26, 10, 0, tzinfo=UTC)
SETTINGS = PlanningSettings(horizon_s=2 * 3600, step_s=900)


def _site() -> Site:
    return Site(
        id="s",
        nodes=(
            SiteNode(id="grid", max_import_w=20_000.0),
            SiteNode(id="car-park", parent="grid", max_import_w=15_000.0),
        ),
        stations=(
            SiteStation(id="A", node="car-park", evses=tuple(SiteEvse(id=i) for i in (1, 2, 3, 4))),
        ),
        pv=(PvAsset(id="roof", node="car-park", peak_w=25_000.0),),
        storage=(
            StorageAsset(
                id="bess",
                node="grid",
                capacity_wh=50_000.0,
                max_charge_w=10_000.0,
                max_discharge_w=10_000.0,
            ),
        ),
        defaults=SessionDefaults(energy_wh=40_000.0, dwell_s=4 * 3600.0),
    )


def _state() -> SiteState:
    state = SiteState(_site())
    for st in state.stations.values():
        st.online = st.seen = True
    for i in (1, 2, 3, 4):
        state.take_transaction(
            Transaction(
                id=i,
                station_id="A",
                station_tx_id=str(i),
                evse_id=i,
                connector_id=1,
                id_token="T",
                started_at=T0,
                meter_start_wh=0.0,
            )
        )
    return state


def _read(state: SiteState, *pv: PvReading, storage: tuple[StorageReading, ...] = ()) -> list[str]:
    return state.apply(
        SiteReadingsReceived("s", pv, storage, T0), deviation_w=3000.0, tolerance_w=300.0
    )


def test_pv_counted_now_held_then_gone_and_stale_readings_ignored() -> None:
    state = _state()
    assert _read(state, PvReading("roof", T0 - timedelta(seconds=30), 10_000.0)) == ["pv"]
    hold = SETTINGS.model_copy(update={"pv_hold_s": 1800.0})
    built = build_problem(state, [], now=T0, settings=hold)
    (plant,) = built.problem.pv
    # 90 % of the measured 10 kW, in the steps that start within 30 min of the reading.
    assert plant.forecast_w[:3] == pytest.approx((9_000.0, 9_000.0, 0.0))
    assert built.pv_w["car-park"] == built.pv_w["grid"] == plant.forecast_w
    # Ten minutes later the reading is too old to count on.
    later = build_problem(state, [], now=T0 + timedelta(minutes=10), settings=SETTINGS)
    assert later.problem.pv == () and later.pv_w == {}
    # A small change is no reason to re-plan; a big one is; an older one is ignored.
    assert _read(state, PvReading("roof", T0, 11_000.0)) == []
    assert _read(state, PvReading("roof", T0, 2_000.0)) == ["pv"]
    assert _read(state, PvReading("roof", T0 - timedelta(minutes=1), 20_000.0)) == []
    assert state.pv["roof"].power_w == 2_000.0
    # An unknown plant is not taken.
    assert _read(state, PvReading("shed", T0, 5_000.0)) == [] and "shed" not in state.pv


def test_pv_forecast_and_the_peak() -> None:
    state = _state()
    forecast = (
        (T0, T0 + timedelta(minutes=15), 8_000.0),
        (T0 + timedelta(minutes=15), T0 + timedelta(hours=1), 40_000.0),
    )
    _read(state, PvReading("roof", T0, 12_000.0, forecast))
    (plant,) = build_problem(state, [], now=T0, settings=SETTINGS).problem.pv
    # Now: the lower of measured and forecast; then the forecast, never above the 25 kW
    # peak; after the forecast ends and the hold has passed, none.
    assert plant.forecast_w[:6] == pytest.approx((7_200.0, 22_500.0, 22_500.0, 22_500.0, 0.0, 0.0))


def test_storage_charging_takes_room_until_it_says_less() -> None:
    state = _state()
    charging = StorageReading("bess", T0, 40.0, 6_000.0)
    assert _read(state, storage=(charging,)) == ["storage"]
    built = build_problem(state, [], now=T0 + timedelta(hours=1), settings=SETTINGS)
    assert built.uncontrolled_w == {"grid": 6_000.0}  # an old reading still counts
    nodes = {n.node_id: n for n in built.problem.nodes}
    assert nodes["grid"].max_import_w == 14_000.0
    discharging = StorageReading("bess", T0 + timedelta(minutes=1), 41.0, -5_000.0)
    assert _read(state, storage=(discharging,)) == ["storage"]
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    assert built.uncontrolled_w == {}  # a discharge nobody commands is not counted on


def test_evs_take_the_pv_on_top_of_the_node_limit() -> None:
    state = _state()
    _read(state, PvReading("roof", T0, 10_000.0))
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    plan = solve(built.problem)
    ancestors = {"car-park": ["car-park", "grid"], "grid": ["grid"]}
    # Without the PV the shares would sum to the plan's net import; with it, up to the
    # car park's 15 kW plus the 9 kW of PV counted on.
    without = fair_steps(plan, built.problem, ancestors=ancestors, steps=1)
    with_pv = fair_steps(plan, built.problem, ancestors=ancestors, steps=1, pv_w=built.pv_w)
    assert sum(v[0] for v in without.values()) == pytest.approx(15_000.0, abs=5.0)
    assert sum(v[0] for v in with_pv.values()) == pytest.approx(24_000.0, abs=5.0)
