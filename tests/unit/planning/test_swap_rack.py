"""Swap stations in the planning wing: the rack from the station's reports in the problem,
its limit as a station-level profile, re-plan on a swap, swaps that found no ready pack."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from typing import Any

from csms.domain import ChargingRateUnit, RackSwap, SwapRackReading, Transaction
from csms.events import (
    BatterySwapUpdated,
    SiteReadingsReceived,
    SwapFromReadyPack,
    SwapWithoutReadyPack,
)
from csms.planning import PlanningSettings, SiteState, build_problem
from csms.planning.swap import rack_limit
from csms.sites import SessionDefaults, Site, SiteEvse, SiteNode, SiteStation
from csms.swaps.model import BatterySwap, PackReading, SwapState
from optimizer import solve
from tests.unit.sites.conftest import swap_station

T0 = datetime(2026, 6, 26, 10, 0, tzinfo=UTC)
SETTINGS = PlanningSettings(horizon_s=2 * 3600, step_s=900)


def _site(limit_w: float = 60_000.0) -> Site:
    return Site(
        id="s",
        nodes=(SiteNode(id="grid", max_import_w=limit_w),),
        stations=(SiteStation(id="A", node="grid", evses=(SiteEvse(id=1),)),),
        swap=(swap_station(efficiency=1.0, swap_times=(time(10, 30), time(11, 0))),),
        defaults=SessionDefaults(energy_wh=10_000.0, dwell_s=4 * 3600.0),
    )


def _read(state: SiteState, reading: SwapRackReading) -> list[str]:
    event = SiteReadingsReceived("s", (), (), reading.at, swap=(reading,))
    return state.apply(event, deviation_w=3000.0, tolerance_w=300.0)


def test_the_rack_in_the_problem_uses_the_reported_packs_and_the_forecast() -> None:
    state = SiteState(_site())
    # Nothing reported yet: every slot at the forecast's arrival SoC (20 %).
    (rack,) = build_problem(state, [], now=T0, settings=SETTINGS).problem.swap_racks
    assert rack.pack_soc_pct == (20.0, 20.0)
    assert rack.swap_times == (T0 + timedelta(minutes=30), T0 + timedelta(hours=1))
    assert _read(state, SwapRackReading("rack", T0, (85.0, 50.0), ("P1", "P2"))) == ["swap rack"]
    (rack,) = build_problem(state, [], now=T0, settings=SETTINGS).problem.swap_racks
    assert (rack.pack_soc_pct, rack.pack_ids) == ((85.0, 50.0), ("P1", "P2"))
    # Unknown swap stations and late readings change nothing.
    assert _read(state, SwapRackReading("other", T0, (1.0,))) == []
    assert _read(state, SwapRackReading("rack", T0 - timedelta(minutes=1), (1.0, 1.0))) == []
    assert state.racks["rack"].soc_pct() == (85.0, 50.0)


def test_a_swap_replans_and_one_without_a_ready_pack_is_a_finding() -> None:
    state = SiteState(_site())
    _read(state, SwapRackReading("rack", T0, (95.0, 50.0)))
    at = T0 + timedelta(minutes=30)
    served = SwapRackReading("rack", at, (20.0, 60.0), swaps=(RackSwap(at, 95.0),))
    assert _read(state, served) == ["swap"]
    assert state.racks["rack"].pop_findings() == []
    assert state.racks["rack"].pop_served() == [
        SwapFromReadyPack("s", "rack", "SW1", 95.0, 90.0, at)
    ]
    later = at + timedelta(minutes=5)
    short = SwapRackReading("rack", later, (20.0, 25.0), swaps=(RackSwap(later, 62.0),))
    none = SwapRackReading(
        "rack", later + timedelta(minutes=1), (20.0, 25.0),
        swaps=(RackSwap(later + timedelta(minutes=1), None),),
    )  # fmt: skip
    assert _read(state, short) == ["swap"]
    assert _read(state, none) == ["swap"]
    rack = state.racks["rack"]
    assert (rack.swaps_seen, rack.no_ready_pack) == (3, 2)
    assert rack.pop_findings() == [
        SwapWithoutReadyPack("s", "rack", "SW1", 62.0, 90.0, later),
        SwapWithoutReadyPack("s", "rack", "SW1", None, 90.0, later + timedelta(minutes=1)),
    ]
    assert rack.pop_findings() == [] and rack.pop_served() == []


def test_the_rack_limit_is_the_planned_rack_power_at_the_station_level() -> None:
    """Site 40 kW, an EV and the rack; the 70 % pack needs 8 kWh by 10:30, the 60 % one 12 kWh
    by 11:00 (20 kW per pack, 30 kW the rack): both ready; the profile follows the plan's
    steps at station level (EVSE 0) in W, without an end."""
    state = SiteState(_site(limit_w=40_000.0))
    state.stations["A"].online = state.stations["A"].seen = True
    state.take_transaction(
        Transaction(
            id=1, station_id="A", station_tx_id="1", evse_id=1, connector_id=1, id_token="T",
            started_at=T0, meter_start_wh=0.0,
        )
    )  # fmt: skip
    _read(state, SwapRackReading("rack", T0, (70.0, 60.0)))
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    plan = solve(built.problem)
    planned = plan.swap_racks["rack"]
    assert planned.unready_swaps == ()
    assert planned.shortfall_wh[0] == 0.0
    limit = rack_limit(state.site.swap[0], plan, sent_at=T0, valid_to=T0 + timedelta(minutes=45))
    assert (limit.station_id, limit.evse_id, limit.unit) == ("SW1", 0, ChargingRateUnit.WATT)
    assert limit.purpose == "ChargingStationMaxProfile" and limit.valid_to is None
    expected = [round(w, 1) for w in planned.power_w[:3]]
    offsets = [0, 900, 1800]
    kept = [(o, w) for i, (o, w) in enumerate(zip(offsets, expected, strict=True))
            if i == 0 or expected[i - 1] != w]  # fmt: skip
    assert [(o, w) for o, w, _ in limit.schedule] == kept
    assert sum(planned.power_w[:4]) * 0.25 >= 20_000.0 - 1e-6


def test_a_rack_that_cannot_be_ready_is_expected_unready_and_the_limit_holds() -> None:
    """10 kW for the whole site: the 50 % pack gets 5 kWh by 10:30, 11 kWh short."""
    state = SiteState(_site(limit_w=10_000.0))
    _read(state, SwapRackReading("rack", T0, (50.0, 10.0)))
    plan = solve(build_problem(state, [], now=T0, settings=SETTINGS).problem)
    rack = plan.swap_racks["rack"]
    assert rack.shortfall_wh[0] == 11_000.0
    assert T0 + timedelta(minutes=30) in rack.unready_swaps
    assert max(plan.grid_import_w) <= 10_000.0 + 1e-6


def _apply(state: SiteState, event: BatterySwapUpdated) -> list[str]:
    return state.apply(event, deviation_w=3e3, tolerance_w=0)


def _session(request_id: int, at: datetime, out: tuple[str, float], into: tuple[str, float]) -> Any:
    return BatterySwap(
        id=request_id, station_id="SW1", request_id=request_id, id_token="T",
        state=SwapState.COMPLETED, auth_status="Accepted", requested=False, created_at=at,
        started_at=at, ended_at=at + timedelta(minutes=2),
        packs_in=(PackReading(into[0], 1, into[1], 100.0),),
        packs_out=(PackReading(out[0], 1, out[1], 100.0),),
    )  # fmt: skip


def test_a_2_1_swap_session_is_a_swap_of_the_rack() -> None:
    """A completed BatterySwap session of the swap station: the swap counts (a pack out at
    80 % is no ready pack), the rack loses the pack out and holds the pack in, the loop is told
    to re-plan; an open session, another station's or a redelivery changes nothing."""
    state = SiteState(_site())
    _read(state, SwapRackReading("rack", T0, (95.0, 80.0), ("P1", "P2")))
    done = _session(7, T0, ("P1", 95.0), ("D1", 15.0))
    assert _apply(state, BatterySwapUpdated("SW1", done, T0)) == ["swap"]
    assert state.racks["rack"].reading is not None
    assert state.racks["rack"].soc_pct() == (80.0, 15.0)
    assert state.racks["rack"].reading.pack_ids == ("P2", "D1")
    again = BatterySwapUpdated("SW1", done, T0)
    assert _apply(state, again) == []
    opened = dataclasses.replace(_session(8, T0, ("P2", 80.0), ("D2", 10.0)),
                                 state=SwapState.OPEN, packs_out=())  # fmt: skip
    assert _apply(state, BatterySwapUpdated("SW1", opened, T0)) == []
    elsewhere = _session(9, T0, ("P2", 80.0), ("D2", 10.0))
    assert _apply(state, BatterySwapUpdated("CP9", elsewhere, T0)) == []
    short = _session(10, T0 + timedelta(minutes=5), ("P2", 80.0), ("D2", 10.0))
    assert _apply(state, BatterySwapUpdated("SW1", short, T0)) == ["swap"]
    rack = state.racks["rack"]
    assert (rack.swaps_seen, rack.no_ready_pack) == (2, 1)
    (found,) = rack.pop_findings()
    assert (found.pack_out_soc_pct, found.at) == (80.0, T0 + timedelta(minutes=7))
    assert rack.soc_pct() == (15.0, 10.0)


def test_a_rack_whose_station_did_not_take_its_limit_is_counted_at_its_rating() -> None:
    """The station failed the last rack limit: the rack may draw its 30 kW rating, so the
    plan leaves it out and takes 30 kW off the grid node for the EV; once a limit is taken,
    the rack is planned again."""
    state = SiteState(_site(limit_w=40_000.0))
    _read(state, SwapRackReading("rack", T0, (70.0, 60.0)))
    rack = state.racks["rack"]
    rack.sent_state = "failed"
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    assert built.problem.swap_racks == ()
    assert built.uncontrolled_w == {"grid": 30_000.0}
    assert built.problem.nodes[0].max_import_w == 10_000.0
    rack.sent_state = "accepted"
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    assert len(built.problem.swap_racks) == 1 and built.uncontrolled_w == {}
