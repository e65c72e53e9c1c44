"""The storage controller's steps over fakes (no event loop but the test's own): what it
sends, what it counts, and its counters in the Prometheus text."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from csms.der import DerControl, DerControlRecord, DerControlType, DerStartStop
from csms.domain import ConnectorStatus, StatusReport
from csms.events import (
    DerControlsCleared,
    DerControlSet,
    DerControlsReported,
    DerStartStopped,
    StatusChanged,
)
from csms.planning.storage import live_units
from csms.storage_units import LiveUnits, storage_metrics_text
from tests.unit.storage_units.fakes import T0, harness
from tests.unit.storage_units.test_glue import SETTINGS, _meter, _planning_state, _site


async def test_the_counters_of_real_steps_in_the_prometheus_text() -> None:
    h = harness(_site(root_import_w=100_000.0), import_w=130_000.0)
    h.units.apply(_meter(T0, soc=50.0, imp=0.0))
    await h.controller.step_once()  # 30 kW over the limit: the unit discharges
    assert h.setpoints_w() == [-30_000.0]
    h.units.apply(StatusChanged(StatusReport("BESS", 1, 1, ConnectorStatus.FAULTED, T0)))
    h.clock.advance(5.0)
    h.units.apply(_meter(T0 + timedelta(seconds=5), soc=49.0, exp=30_000.0))
    await h.controller.step_once()  # alarming: not counted on, sent Idle
    assert h.setpoints_w() == [-30_000.0, None]
    h.commands.refuse = True
    h.units.apply(StatusChanged(StatusReport("BESS", 1, 1, ConnectorStatus.AVAILABLE, T0)))
    h.clock.advance(5.0)
    h.units.apply(_meter(T0 + timedelta(seconds=10), soc=49.0, imp=0.0))
    await h.controller.step_once()  # counted on again, but the unit refuses

    text = storage_metrics_text([h.controller])
    for line in (
        'chargegrid_storage_steps_total{site="s"} 3',
        'chargegrid_storage_schedules_sent_total{site="s",mode="CentralSetpoint"} 1',
        'chargegrid_storage_schedules_sent_total{site="s",mode="Idle"} 1',
        'chargegrid_storage_send_failures_total{site="s"} 1',
        'chargegrid_storage_alarms_total{site="s"} 1',
        'chargegrid_storage_exclusions_total{site="s",reason="alarm"} 1',
        'chargegrid_storage_ev_reduction_w{site="s"} 0',
        "# TYPE chargegrid_storage_schedules_sent_total counter",
        "# TYPE chargegrid_storage_alarms_total counter",
    ):
        assert line in text.splitlines(), line


def test_large_counts_are_written_whole() -> None:
    h = harness(_site())
    h.controller.steps = 12_345_678
    text = storage_metrics_text([h.controller])
    assert 'chargegrid_storage_steps_total{site="s"} 12345678' in text.splitlines()


def _lmd(pct: float, **timed: object) -> DerControl:
    setting = {"priority": 1, "pct_max_discharge_power": pct, **timed}
    return DerControl("lmd", DerControlType.LIMIT_MAX_DISCHARGE, False, setting)


async def test_a_limit_max_discharge_halves_the_discharge_setpoint_until_cleared() -> None:
    h = harness(_site(root_import_w=100_000.0), import_w=200_000.0)  # far over: all it can

    async def step(seconds: float) -> float | None:
        h.clock.advance(seconds)
        h.units.apply(_meter(h.clock.now(), soc=50.0, imp=0.0))
        decision = await h.controller.step_once()
        return decision.setpoints["bess"].setpoint_w

    assert await step(0.0) == -40_000.0  # its rating
    assert h.units.apply(DerControlSet("BESS", _lmd(50.0), (), h.clock.now()))
    assert await step(5.0) == -20_000.0
    assert h.setpoints_w()[-1] == -20_000.0  # what the unit is sent
    limit = 'chargegrid_storage_der_discharge_limit_w{site="s",unit="bess"} 20000'
    assert limit in storage_metrics_text([h.controller]).splitlines()
    assert h.controller.last is not None and h.controller.last.ev_reduction_w == 80_000.0
    assert h.units.apply(DerControlsCleared("BESS", ("lmd",), h.clock.now()))
    assert await step(5.0) == -40_000.0
    assert h.setpoints_w()[-1] == -40_000.0
    assert "der_discharge_limit_w{" not in storage_metrics_text([h.controller])
    # a control with a window: the rating narrows at its start and comes back at its end
    start = h.clock.now() + timedelta(seconds=10)
    h.units.apply(DerControlSet("BESS", _lmd(25.0, start_time=start.isoformat(), duration=30.0),
                                (), h.clock.now()))  # fmt: skip
    assert await step(5.0) == -40_000.0
    assert await step(5.0) == -10_000.0
    assert await step(30.0) == -40_000.0
    # another station's control is none of the unit's
    assert not h.units.apply(DerControlSet("CP", _lmd(0.0), (), h.clock.now()))


def test_the_controls_in_force_resume_from_the_der_store_and_follow_events() -> None:
    units = LiveUnits(_site())
    (bess,) = units.units.values()
    half = DerControlRecord("BESS", _lmd(50.0), "set", T0)
    gone = DerControlRecord("BESS", _lmd(10.0), "set", T0, cleared_at=T0)
    units.der.load("BESS", [half])
    units.der.load("BESS", [gone, half])  # replaces; a cleared one is not in force
    assert units.discharge_share(bess, T0) == 0.5
    # a report of the same control keeps when it came into force; superseded: out of force
    reported = _lmd(50.0, duration=60.0)
    units.apply(DerControlsReported("BESS", 1, (reported,), False, T0 + timedelta(seconds=50)))
    assert units.discharge_share(bess, T0 + timedelta(seconds=59)) == 0.5
    assert units.discharge_share(bess, T0 + timedelta(seconds=60)) == 1.0
    units.apply(DerControlSet("BESS", replace(_lmd(30.0), control_id="new"), ("lmd",), T0))
    assert units.discharge_share(bess, T0 + timedelta(seconds=90)) == 0.3
    change = DerStartStop("BESS", "other", True, T0, superseded_ids=("new",))
    units.apply(DerStartStopped("BESS", change))
    assert units.discharge_share(bess, T0) == 1.0


def test_the_planner_sees_the_narrowed_rating_and_replans_on_a_change() -> None:
    state = _planning_state(50.0, at=T0)
    (unit,) = live_units(state, T0, SETTINGS)
    assert unit.max_discharge_w == 40_000.0
    event = DerControlSet("BESS", _lmd(50.0), (), T0)
    assert state.apply(event, deviation_w=3e3, tolerance_w=0.0) == ["der control"]
    (unit,) = live_units(state, T0, SETTINGS)
    assert (unit.max_discharge_w, unit.max_charge_w) == (20_000.0, 50_000.0)
    cleared = DerControlsCleared("BESS", ("lmd",), T0)
    assert state.apply(cleared, deviation_w=3e3, tolerance_w=0.0) == ["der control"]
    (unit,) = live_units(state, T0, SETTINGS)
    assert unit.max_discharge_w == 40_000.0
    other = DerControlSet("CP", _lmd(50.0), (), T0)  # not a unit's station: nothing to plan
    assert state.apply(other, deviation_w=3e3, tolerance_w=0.0) == []
