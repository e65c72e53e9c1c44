"""The site's grid meter (decision 0917): its readings from MeterValues at EVSE 0 or posted,
bad ones refused and counted, and the import the storage controller uses: measured while
fresh, else the estimate plus the load it last saw the estimate miss; counted, logged, and
never a reason to break the site limit."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from csms.domain import GridMeterReading, MeterSample
from csms.events import MeterValuesReceived, SiteReadingsReceived
from csms.planning import build_problem
from csms.planning.storage import billed_import_w
from csms.sites import GridMeter, Site, SiteStation
from csms.storage_units import LiveMeter, storage_metrics_text
from tests.unit.storage_units.fakes import T0, harness
from tests.unit.storage_units.test_glue import SETTINGS, _meter, _planning_state, _site


def _metered_site() -> Site:
    base = _site(root_import_w=100_000.0)
    return base.model_copy(
        update={
            "stations": (*base.stations, SiteStation(id="GRID", node="grid")),
            "meter": GridMeter(station="GRID", evse=0, stale_after_s=15.0),
        }
    )


def _grid(at_s: float, imp: float, exp: float = 0.0, *, evse: int = 0) -> MeterValuesReceived:
    at = T0 + timedelta(seconds=at_s)
    samples = (
        MeterSample(at, "Power.Active.Import", imp, "W"),
        MeterSample(at, "Power.Active.Export", exp, "W"),
        MeterSample(at, "Power.Active.Import", 1.0, "W", phase="L1"),  # a phase: not the total
    )
    return MeterValuesReceived("GRID", evse, None, None, samples)


def test_the_meter_reads_net_import_at_its_evse_and_keeps_the_newest() -> None:
    meter = LiveMeter(_metered_site())
    assert meter.apply(_grid(0, 50_000.0, 0.0))
    assert (meter.import_w, meter.measured_at) == (50_000.0, T0)
    assert meter.apply(_grid(5, 0.0, 8_000.0))
    assert meter.import_w == -8_000.0  # exporting
    assert meter.apply(_grid(2, 70_000.0))  # a late retry: older than what is known
    assert meter.import_w == -8_000.0
    assert not meter.apply(_grid(6, 1.0, evse=1))  # another EVSE of the station
    assert not meter.apply(_meter(T0, soc=50.0, imp=1.0))  # the storage unit's
    posted = GridMeterReading(T0 + timedelta(seconds=7), 42_000.0, 2_000.0)
    meter.apply(SiteReadingsReceived("s", (), (), T0, meter=posted))
    assert meter.import_w == 40_000.0


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, 2e9])
def test_a_bad_reading_is_refused_counted_and_the_last_good_one_kept(value: float) -> None:
    meter = LiveMeter(_metered_site())
    meter.apply(_grid(0, 50_000.0))
    meter.apply(_grid(5, value))
    meter.apply(_grid(6, 1_000.0, value))
    assert meter.refused == 2 and meter.import_w == 50_000.0


def test_fresh_measured_stale_estimate_plus_the_unmetered_load() -> None:
    meter = LiveMeter(_metered_site())
    silent = meter.site_import(T0, 60_000.0)
    assert (silent.import_w, silent.source, silent.fallback) == (60_000.0, "estimate", "no_reading")
    meter.apply(_grid(0, 90_000.0))
    fresh = meter.site_import(T0 + timedelta(seconds=15), 60_000.0)
    assert (fresh.import_w, fresh.source, fresh.fallback) == (90_000.0, "meter", None)
    stale = meter.site_import(T0 + timedelta(seconds=16), 65_000.0)
    assert (stale.import_w, stale.source, stale.fallback) == (95_000.0, "estimate", "stale")
    # the largest unmetered load of the last two minutes of fresh steps is held: 30 kW
    meter.apply(_grid(20, 40_000.0))
    meter.site_import(T0 + timedelta(seconds=20), 60_000.0)
    assert meter.site_import(T0 + timedelta(seconds=60), 60_000.0).import_w == 90_000.0
    # two minutes on, a meter reading less than the estimate (unmetered PV) is all that is
    # left, and it never lowers the fallback below the estimate
    meter.apply(_grid(140, 40_000.0))
    meter.site_import(T0 + timedelta(seconds=140), 60_000.0)
    assert meter.site_import(T0 + timedelta(seconds=160), 60_000.0).import_w == 60_000.0
    # no meter in the site: the estimate, and no fallback to count
    plain = LiveMeter(_site()).site_import(T0, 1_000.0)
    assert (plain.import_w, plain.fallback) == (1_000.0, None)


def test_a_silent_meter_holds_the_largest_recent_unmetered_load_not_a_skewed_last_one() -> None:
    """The last fresh step compares a reading seconds old with an estimate that has just
    risen (the EVs raised): the difference it sees is low by timing, and holding only it
    would leave no room for the load the meter saw all along."""
    meter = LiveMeter(_metered_site())
    meter.apply(_grid(0, 90_000.0))
    for at_s in (0, 5, 10):
        meter.site_import(T0 + timedelta(seconds=at_s), 60_000.0)  # 30 kW unmetered
    assert meter.site_import(T0 + timedelta(seconds=14), 85_000.0).source == "meter"
    assert meter.unmetered_w == 5_000.0  # the skewed last difference
    silent = meter.site_import(T0 + timedelta(seconds=16), 85_000.0)
    assert (silent.import_w, silent.fallback) == (115_000.0, "stale")


def test_a_reading_dated_ahead_of_the_clock_is_refused_when_read() -> None:
    meter = LiveMeter(_metered_site())
    meter.apply(_grid(3600, 10_000.0))  # an hour ahead: the station's clock is wrong
    found = meter.site_import(T0, 50_000.0)
    assert (found.fallback, meter.refused, meter.import_w) == ("no_reading", 1, None)
    meter.apply(_grid(1, 70_000.0))  # a sound one replaces it
    assert meter.site_import(T0 + timedelta(seconds=2), 50_000.0).import_w == 70_000.0


async def test_the_controller_shaves_the_unmetered_load_even_once_the_meter_is_stale(
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = _metered_site()
    h = harness(site, import_w=80_000.0)  # the EVs: under the 100 kW limit
    h.controller.meter = meter = LiveMeter(site)
    meter.apply(_grid(0, 130_000.0))  # the meter sees 50 kW more: an unmetered load

    async def step(seconds: float) -> float:
        h.clock.advance(seconds)
        h.units.apply(_meter(h.clock.now(), soc=50.0, imp=0.0))
        return (await h.controller.step_once()).setpoints["bess"].setpoint_w

    assert await step(0.0) == -30_000.0  # measured: discharge to hold the limit
    assert await step(20.0) == -30_000.0  # stale: the estimate and the 50 kW it missed
    assert await step(5.0) == -30_000.0
    assert h.controller.meter_fallbacks == {"stale": 2}
    assert sum("grid meter stale" in r.getMessage() for r in caplog.records) == 1  # once
    text = storage_metrics_text([h.controller]).splitlines()
    assert 'chargegrid_storage_meter_fallbacks_total{site="s",reason="stale"} 2' in text
    assert 'chargegrid_storage_site_import_w{site="s",source="estimate"} 130000' in text
    meter.apply(_grid(26, 85_000.0))
    assert await step(1.0) == 0.0  # measured again: the load is gone
    text = storage_metrics_text([h.controller]).splitlines()
    assert 'chargegrid_storage_site_import_w{site="s",source="meter"} 85000' in text
    assert 'chargegrid_storage_meter_refused_total{site="s"} 0' in text


def test_the_planner_leaves_room_for_the_unmetered_load() -> None:
    state = _planning_state(50.0, at=T0)
    assert build_problem(state, [], now=T0, settings=SETTINGS).uncontrolled_w.get("grid", 0) == 0
    state.meter.reset_site(_metered_site())
    state.meter.apply(_grid(0, 20_000.0))
    state.meter.site_import(T0, 8_000.0)  # the step's estimate: the EV's 8 kW
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    assert built.uncontrolled_w["grid"] == 12_000.0


async def test_a_site_with_a_meter_and_no_unit_hands_its_import_over_the_limit_to_the_evs() -> None:
    site = _metered_site().model_copy(update={"storage": ()})
    h = harness(site, import_w=80_000.0)
    assert not h.controller.has_work  # no unit, no meter: nothing to do
    h.controller.meter = meter = LiveMeter(site)
    assert h.controller.has_work
    meter.apply(_grid(0, 110_000.0))
    decision = await h.controller.step_once()
    assert decision.setpoints == {} and decision.ev_reduction_w == 10_000.0
    assert meter.unmetered_w == 30_000.0  # the room the planner leaves


def test_the_billing_peak_is_the_measured_import_and_falls_back_as_the_controller_does() -> None:
    state = _planning_state(50.0, at=T0)  # the unit charges 8 kW; the EV reports nothing
    assert billed_import_w(state, T0, SETTINGS) == 0.0  # no meter: EVs and reported storage
    state.meter.reset_site(_metered_site())
    assert billed_import_w(state, T0, SETTINGS) == 8_000.0  # no reading yet: the estimate
    state.meter.apply(_grid(0, 20_000.0))
    assert billed_import_w(state, T0 + timedelta(seconds=5), SETTINGS) == 20_000.0
    assert state.meter.unmetered_w == 0.0  # reading it for the bill learns nothing
    state.meter.site_import(T0 + timedelta(seconds=5), 8_000.0)  # a control step: 12 kW unseen
    stale = T0 + timedelta(seconds=60)
    assert billed_import_w(state, stale, SETTINGS) == 20_000.0  # the estimate + the 12 kW held
    state.meter.apply(_grid(61, 0.0, 5_000.0))  # exporting: nothing billed
    assert billed_import_w(state, T0 + timedelta(seconds=62), SETTINGS) == 0.0


async def test_a_reading_over_the_limit_steps_the_controller_at_once() -> None:
    site = _metered_site()
    h = harness(site, import_w=80_000.0)
    h.controller.meter = meter = LiveMeter(site)
    assert not h.controller.metered()  # nothing read yet
    taken = meter.taken
    meter.apply(_grid(0, 100_080.0))  # over the 100 kW limit by less than the deadband
    assert meter.taken == taken + 1
    assert not h.controller.metered() and h.controller.meter_pokes == 0
    meter.apply(_grid(1, 2_000.0, 0.0))
    assert not h.controller.metered()  # well under it
    meter.apply(_grid(2, 112_000.0))  # a cloud: 12 kW over
    assert h.controller.metered() and h.controller.meter_pokes == 1
    assert h.controller._poked.is_set()  # the loop steps now, not at the interval's end
    meter.apply(_grid(1, 150_000.0))  # an older retry is not taken
    assert meter.taken == taken + 3 and meter.import_w == 112_000.0
    # the step that follows measures it and hands the rest to the EV limits (0906, 0927)
    h.clock.advance(2.0)
    h.units.apply(_meter(h.clock.now(), soc=10.0, imp=0.0))  # the unit at its floor
    decision = await h.controller.step_once()
    assert decision.ev_reduction_w == pytest.approx(12_000.0)


def test_a_silent_units_discharge_is_not_an_unmetered_load() -> None:
    """A unit that stops reporting while discharging goes Idle when its schedule runs out;
    counting its last discharge in the estimate would show the meter a load that is not
    there, and the planner would keep room for it for the rest of the day (0931)."""
    from csms.planning.storage import estimated_import_w

    state = _planning_state(50.0, at=T0)
    state.apply(_meter(T0, soc=50.0, imp=0.0, exp=20_000.0), deviation_w=3e3, tolerance_w=0.0)
    state.meter.reset_site(_metered_site())
    fresh = estimated_import_w(state, T0 + timedelta(seconds=15), SETTINGS)
    assert fresh == -20_000.0  # the unit gives 20 kW (the EV's draw not metered yet)
    later = T0 + timedelta(seconds=16)  # the unit's reading is stale: its discharge is not
    assert estimated_import_w(state, later, SETTINGS) == 0.0
    state.meter.apply(_grid(16, 0.0))  # the unit went Idle: the meter sees the site at 0
    state.meter.site_import(later, estimated_import_w(state, later, SETTINGS))
    assert state.meter.unmetered_w == 0.0  # not the 20 kW the old discharge would make
    state.apply(_meter(later, soc=50.0, imp=5_000.0), deviation_w=3e3, tolerance_w=0.0)
    later = T0 + timedelta(seconds=40)  # a stale unit's charging still counts
    assert estimated_import_w(state, later, SETTINGS) == 5_000.0
