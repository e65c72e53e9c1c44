"""PV plants metered by a station (decision 0922): their MeterValues are the PV reading the
planner and the storage controller's estimate count, fresh or stale like the grid meter's;
bad readings refused, logged and counted; the posted path kept for plants that do not speak
OCPP."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

import pytest

from csms.domain import MeterSample, PvReading
from csms.events import MeterValuesReceived, SiteReadingsReceived
from csms.planning import build_problem
from csms.planning.storage import metered_import_w
from csms.sites import PvAsset, Site, SiteStation
from csms.storage_units import LivePv, storage_metrics_text
from tests.unit.storage_units.fakes import T0, harness
from tests.unit.storage_units.test_glue import SETTINGS, _planning_state, _site

AGE_S = SETTINGS.readings_max_age_s
Forecast = tuple[tuple[datetime, datetime, float], ...]


def _pv_site() -> Site:
    base = _site()
    return base.model_copy(
        update={
            "stations": (*base.stations, SiteStation(id="PV1", node="grid")),
            "pv": (
                PvAsset(
                    id="carport", node="grid", peak_w=40_000.0, station="PV1", stale_after_s=30.0
                ),
                PvAsset(id="roof", node="grid", peak_w=10_000.0),  # posted, as before
            ),
        }
    )


def _pv(
    at_s: float, export: float, imp: float | None = None, *, evse: int = 0
) -> MeterValuesReceived:
    at = T0 + timedelta(seconds=at_s)
    samples = [
        MeterSample(at, "Power.Active.Export", export, "W"),
        MeterSample(at, "Power.Active.Export", 1.0, "W", phase="L1"),  # a phase: not the total
        MeterSample(at, "Energy.Active.Export.Register", 1e6, "Wh"),
    ]
    if imp is not None:
        samples.append(MeterSample(at, "Power.Active.Import", imp, "W"))
    return MeterValuesReceived("PV1", evse, 0, None, tuple(samples))


def _posted(
    at_s: float, pv_id: str, power_w: float, forecast: Forecast = ()
) -> SiteReadingsReceived:
    at = T0 + timedelta(seconds=at_s)
    return SiteReadingsReceived("s", (PvReading(pv_id, at, power_w, forecast),), (), at)


def test_the_plants_meter_is_its_pv_reading_newest_wins_forecast_kept() -> None:
    pv = LivePv(_pv_site())
    assert pv.take_metered(_pv(0, 12_000.0), deviation_w=3e3) == ["pv"]
    assert (pv.readings["carport"].power_w, pv.readings["carport"].at) == (12_000.0, T0)
    assert pv.take_metered(_pv(5, 13_000.0, 200.0), deviation_w=3e3) == []  # a small change
    assert pv.readings["carport"].power_w == 12_800.0  # export less the inverter's own draw
    assert pv.take_metered(_pv(2, 30_000.0), deviation_w=3e3) == []  # a late one
    assert pv.readings["carport"].power_w == 12_800.0
    assert pv.take_metered(_pv(6, 1.0, evse=1), deviation_w=3e3) is None  # not a plant's
    # the site's energy management posts a forecast for it; the meter keeps it
    ahead = ((T0 + timedelta(hours=1), T0 + timedelta(hours=2), 20_000.0),)
    assert pv.take_posted(_posted(7, "carport", 12_000.0, ahead), deviation_w=3e3) == ["pv"]
    pv.take_metered(_pv(10, 25_000.0), deviation_w=3e3)
    assert pv.readings["carport"].forecast == ahead
    # a plant without a station: posted, as before
    assert pv.take_posted(_posted(10, "roof", 4_000.0), deviation_w=3e3) == ["pv"]
    assert pv.take_posted(_posted(10, "shed", 4_000.0), deviation_w=3e3) == []


@pytest.mark.parametrize(
    ("export", "imp"),
    [
        (math.nan, None),
        (math.inf, None),
        (-5.0, None),
        (1e3, math.nan),
        (1e3, -1.0),
        (50_001.0, 0.0),
    ],
)
def test_a_bad_reading_is_refused_counted_and_the_last_good_one_kept(
    export: float, imp: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    pv = LivePv(_pv_site())
    pv.take_metered(_pv(0, 20_000.0), deviation_w=3e3)
    assert pv.take_metered(_pv(5, export, imp), deviation_w=3e3) == []
    assert (pv.readings["carport"].power_w, pv.refused["carport"]) == (20_000.0, 1)
    assert "reading refused" in caplog.text
    assert pv.take_metered(_pv(7, 50_000.0), deviation_w=3e3) == ["pv"]  # within 25 % of peak


def test_fresh_counted_stale_not_lapses_counted_once_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    pv = LivePv(_pv_site())
    assert pv.counted(T0, max_age_s=AGE_S) == {}
    assert pv.lapses == {("carport", "no_reading"): 1}
    pv.take_metered(_pv(0, 20_000.0), deviation_w=3e3)
    pv.take_posted(_posted(0, "roof", 4_000.0), deviation_w=3e3)
    assert set(pv.counted(T0 + timedelta(seconds=30), max_age_s=AGE_S)) == {"carport", "roof"}
    later = T0 + timedelta(seconds=31)  # the plant's own 30 s; the posted one's 300 s
    assert set(pv.counted(later, max_age_s=AGE_S)) == {"roof"}
    pv.counted(later + timedelta(seconds=5), max_age_s=AGE_S)
    assert pv.lapses[("carport", "stale")] == 1  # one lapse, however often it is looked at
    assert sum("carport: stale" in r.getMessage() for r in caplog.records) == 1
    pv.take_metered(_pv(40, 18_000.0), deviation_w=3e3)
    assert "carport" in pv.counted(T0 + timedelta(seconds=41), max_age_s=AGE_S)
    assert "metered again" in caplog.text
    # a reading dated ahead of the clock (a wrong station clock) is refused when read at
    # the clock's now; a re-plan's instant may lag the clock: there it is only fresh
    pv.take_metered(_pv(3600, 18_000.0), deviation_w=3e3)
    lagging = pv.counted(T0 + timedelta(seconds=42), max_age_s=AGE_S, refuse_ahead=False)
    assert lagging["carport"].power_w == 18_000.0 and pv.refused["carport"] == 0
    assert "carport" not in pv.counted(T0 + timedelta(seconds=42), max_age_s=AGE_S)
    assert pv.refused["carport"] == 1 and pv.lapses[("carport", "no_reading")] == 2


def test_the_planner_and_the_controllers_estimate_count_the_metered_pv() -> None:
    state = _planning_state(50.0, at=T0)  # the unit charges 8 kW
    state.reset_site(_pv_site())
    state.apply(_pv(0, 20_000.0), deviation_w=3e3, tolerance_w=0.0)
    now = T0 + timedelta(seconds=10)
    assert metered_import_w(state, now, pv_max_age_s=AGE_S) == 8_000.0 - 20_000.0
    built = build_problem(state, [], now=now, settings=SETTINGS)
    (plant,) = built.problem.pv
    assert plant.pv_id == "carport" and plant.forecast_w[0] == 0.9 * 20_000.0
    stale = T0 + timedelta(seconds=31)  # not counted on: the import is the unit's again
    assert metered_import_w(state, stale, pv_max_age_s=AGE_S) == 8_000.0
    assert build_problem(state, [], now=stale, settings=SETTINGS).problem.pv == ()


def test_refusals_and_lapses_are_served_at_metrics() -> None:
    site = _pv_site()
    h = harness(site)
    h.controller.pv = pv = LivePv(site)
    pv.take_metered(_pv(0, math.nan), deviation_w=3e3)
    pv.counted(T0, max_age_s=AGE_S)
    text = storage_metrics_text([h.controller]).splitlines()
    assert 'chargegrid_storage_pv_refused_total{site="s",pv="carport"} 1' in text
    assert 'chargegrid_storage_pv_lapses_total{site="s",pv="carport",reason="no_reading"} 1' in text


def test_the_planner_wakes_when_a_metered_plant_would_go_stale() -> None:
    pv = LivePv(_pv_site())
    assert pv.lapse_in_s(T0, AGE_S) == math.inf  # nothing metered yet
    pv.take_posted(_posted(0, "roof", 4_000.0), deviation_w=3e3)
    assert pv.lapse_in_s(T0, AGE_S) == math.inf  # posted plants: the timer, as before
    pv.take_metered(_pv(0, 20_000.0), deviation_w=3e3)
    assert pv.lapse_in_s(T0 + timedelta(seconds=10), AGE_S) == pytest.approx(20.01)
    assert pv.lapse_in_s(T0 + timedelta(seconds=31), AGE_S) == math.inf  # stale already
