"""A swap station's MeterValues in the planning wing (decision 0915): the rack's draw on
EVSE 0 in the storage controller's estimate of the site import, fresh or stale; the packs'
SoC on the slots' EVSEs in the rack the planner plans; bad values refused and counted."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

import pytest

from csms.domain import MeterSample
from csms.events import BatterySwapUpdated, MeterValuesReceived
from csms.planning import SiteState, build_problem
from csms.planning.storage import metered_import_w
from csms.sites import Site
from optimizer import solve
from tests.unit.planning.test_swap_rack import SETTINGS, T0, _session
from tests.unit.planning.test_swap_rack import _site as swap_site
from tests.unit.sites.conftest import swap_station

AGE_S = SETTINGS.readings_max_age_s
METERED = SETTINGS.model_copy(update={"swap_metered_soc": True})


def _rack_site(**overrides: object) -> Site:
    return swap_site().model_copy(update={"swap": (swap_station(**overrides),)})


def _values(evse: int, at: datetime, *samples: tuple[str, float]) -> MeterValuesReceived:
    return MeterValuesReceived(
        "SW1", evse, 0 if evse == 0 else 1, None,
        tuple(MeterSample(at, m, v, "Percent" if m == "SoC" else "W") for m, v in samples),
    )  # fmt: skip


def _draw(at: datetime, watts: float) -> MeterValuesReceived:
    return _values(0, at, ("Power.Active.Import", watts), ("Power.Offered", 30_000.0))


def _soc(slot: int, at: datetime, pct: float) -> MeterValuesReceived:
    return _values(slot, at, ("SoC", pct))


def _apply(state: SiteState, event: MeterValuesReceived | BatterySwapUpdated) -> list[str]:
    return state.apply(event, deviation_w=3e3, tolerance_w=0.0)


def test_the_estimate_counts_the_racks_metered_draw_fresh_else_what_it_may_draw() -> None:
    state = SiteState(_rack_site())
    rack = state.racks["rack"]
    assert _apply(state, _draw(T0, 20_000.0)) == []
    now = T0 + timedelta(seconds=10)
    assert metered_import_w(state, now, pv_max_age_s=AGE_S) == 20_000.0
    assert rack.meter.lapses == {}
    # a late retry does not replace the newer reading
    _apply(state, _draw(T0 - timedelta(seconds=60), 5_000.0))
    assert metered_import_w(state, now, pv_max_age_s=AGE_S) == 20_000.0
    # stale: what it may draw, its 30 kW rating until it accepts a limit, then that limit
    stale = T0 + timedelta(seconds=AGE_S + 1)
    assert metered_import_w(state, stale, pv_max_age_s=AGE_S) == 30_000.0
    rack.sent_w, rack.sent_state = 12_000.0, "accepted"
    assert metered_import_w(state, stale, pv_max_age_s=AGE_S) == 12_000.0
    assert rack.meter.lapses == {"stale": 1}  # once per lapse, however often it is read
    # read again: the measured draw
    _apply(state, _draw(stale, 8_000.0))
    assert metered_import_w(state, stale, pv_max_age_s=AGE_S) == 8_000.0
    # refused, counted, the last good reading kept: not finite, negative, dated ahead
    for bad in (math.nan, math.inf, -1.0):
        _apply(state, _draw(stale + timedelta(seconds=1), bad))
    assert rack.meter.refused == {"power": 3}
    assert metered_import_w(state, stale, pv_max_age_s=AGE_S) == 8_000.0
    _apply(state, _draw(stale + timedelta(hours=1), 1_000.0))
    assert metered_import_w(state, stale, pv_max_age_s=AGE_S) == 12_000.0
    assert rack.meter.refused["ahead"] == 1 and rack.meter.lapses["no_reading"] == 1


def test_a_rack_that_never_metered_is_counted_at_its_rating() -> None:
    state = SiteState(_rack_site())
    assert metered_import_w(state, T0, pv_max_age_s=AGE_S) == 30_000.0
    assert state.racks["rack"].meter.lapses == {"no_reading": 1}


def test_the_slots_soc_is_the_rack_the_planner_plans() -> None:
    state = SiteState(_rack_site())
    rack = state.racks["rack"]
    assert rack.soc_pct(metered=True) == (20.0, 20.0)
    assert _apply(state, _soc(1, T0, 95.0)) == ["swap rack"]
    assert rack.soc_pct(metered=True) == (95.0, 20.0)  # slot 2 not metered yet: the worst case
    assert _apply(state, _soc(2, T0, 60.0)) == ["swap rack"]
    assert _apply(state, _soc(2, T0 + timedelta(minutes=1), 61.5)) == []
    assert _apply(state, _soc(2, T0, 10.0)) == []  # a late retry
    (planned,) = build_problem(state, [], now=T0, settings=METERED).problem.swap_racks
    assert planned.pack_soc_pct == (95.0, 61.5) and planned.pack_ids == ()
    # off by default: read and checked, the plan as before (decision 0915)
    (planned,) = build_problem(state, [], now=T0, settings=SETTINGS).problem.swap_racks
    assert planned.pack_soc_pct == (20.0, 20.0)
    # refused and counted: not finite, outside 0..100, a SoC on an EVSE that is no slot
    for event in (
        _soc(1, T0, math.nan),
        _soc(1, T0, 101.0),
        _soc(1, T0, -0.5),
        _soc(3, T0, 50.0),
    ):
        assert _apply(state, event) == []
    assert rack.meter.refused == {"soc": 3, "unknown_pack": 1}
    assert rack.soc_pct(metered=True) == (95.0, 61.5)
    # a completed 2.1 swap at slot 1: the pack out leaves it, the driver's pack is in it
    at = T0 + timedelta(minutes=5)
    done = _session(7, at, ("P1", 95.0), ("D1", 15.0))
    assert _apply(state, BatterySwapUpdated("SW1", done, at)) == ["swap"]
    assert rack.soc_pct(metered=True) == (15.0, 61.5)


def test_a_rack_of_full_packs_reported_at_start_needs_no_planned_power() -> None:
    """No swap in the horizon: unreported, the rack is two packs at 20 % the plan charges to
    90 %; metered full, it plans nothing for it."""
    site = _rack_site(swap_times=())
    state = SiteState(site)
    plan = solve(build_problem(state, [], now=T0, settings=SETTINGS).problem)
    assert sum(plan.swap_racks["rack"].power_w) > 0
    for slot in (1, 2):
        _apply(state, _soc(slot, T0, 100.0))
    plan = solve(build_problem(state, [], now=T0, settings=METERED).problem)
    assert max(plan.swap_racks["rack"].power_w) == 0.0


def test_a_station_that_meters_no_pack_soc_is_planned_from_its_model_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = SiteState(_rack_site())
    _apply(state, _draw(T0, 5_000.0))  # it meters its rack's draw, never a slot's SoC
    with caplog.at_level(logging.WARNING, logger="csms.planning.rack_meter"):
        for _ in range(3):
            (planned,) = build_problem(state, [], now=T0, settings=METERED).problem.swap_racks
            assert planned.pack_soc_pct == (20.0, 20.0)  # the arrival SoC, the worst case
    said = [r for r in caplog.records if "no pack SoC metered" in r.getMessage()]
    assert len(said) == 1 and state.racks["rack"].meter.soc_unmetered


def test_the_readiness_targets_are_planned_from_the_metered_soc() -> None:
    """Two forecast swaps (10:30, 11:00), packs of 40 kWh ready at 90 %: metered at 80 % and
    50 %, the first needs 4 kWh by 10:30 and the second 16 kWh by 11:00, both reachable;
    at the arrival SoC (20 %) the first swap cannot be readied by 10:30."""
    state = SiteState(swap_site())
    (rack,) = state.racks.values()
    assert rack.swap.swap_times and rack.swap.efficiency == 1.0
    _apply(state, _soc(1, T0, 80.0))
    _apply(state, _soc(2, T0, 50.0))
    problem = build_problem(state, [], now=T0, settings=METERED).problem
    (planned,) = problem.swap_racks
    assert planned.pack_soc_pct == (80.0, 50.0)
    plan = solve(problem).swap_racks["rack"]
    assert plan.unready_swaps == ()
    steps_h = [d / 3600 for d in problem.grid.step_durations_s]
    by_1030 = sum(w * h for w, h in zip(plan.power_w[:2], steps_h, strict=False))
    total = sum(w * h for w, h in zip(plan.power_w, steps_h, strict=True))
    assert by_1030 >= 4_000.0 - 1e-6 and total >= 20_000.0 - 1e-6
    modelled = solve(build_problem(state, [], now=T0, settings=SETTINGS).problem)
    assert modelled.swap_racks["rack"].unready_swaps[0] == datetime(2026, 6, 26, 10, 30, tzinfo=UTC)
