"""The pure glue: live readings from OCPP events, the plan's step as PlanNow, the
CentralSetpoint schedule and when it is sent again, the limits in force, the planner's view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.domain import (
    ChargingRateUnit,
    ConnectorStatus,
    DeviceEvent,
    MeterSample,
    StatusReport,
    Transaction,
)
from csms.events import DeviceEventsNotified, MeterValuesReceived, StatusChanged
from csms.ocpp.v2x21 import v2x_charging_profile
from csms.planning import PlanningSettings, SiteState, build_problem
from csms.sites import Site, SiteEvse, SiteNode, SiteStation, StorageAsset
from csms.sites.constraints import GridConstraint
from csms.sites.model import NodeKind
from csms.storage_units import (
    PROFILE_ID,
    LiveUnits,
    Sent,
    plan_now,
    resend_due,
    setpoint_schedule,
    site_limits,
)
from optimizer import solve

T0 = datetime(2026, 6, 26, 15, 0, tzinfo=UTC)


def _site(*, root_import_w: float = 100_000.0) -> Site:
    return Site(
        id="s",
        nodes=(SiteNode(id="grid", kind=NodeKind.GRID_CONNECTION, max_import_w=root_import_w),),
        stations=(
            SiteStation(id="CP", node="grid", evses=(SiteEvse(id=1),)),
            SiteStation(id="BESS", node="grid"),
        ),
        storage=(
            StorageAsset(
                id="bess",
                node="grid",
                capacity_wh=100_000.0,
                max_charge_w=50_000.0,
                max_discharge_w=40_000.0,
                min_soc_pct=10.0,
                max_soc_pct=90.0,
                station="BESS",
                evse=1,
            ),
            StorageAsset(
                id="old", node="grid", capacity_wh=10_000.0, max_charge_w=5e3, max_discharge_w=5e3
            ),
        ),
    )


def _meter(at: datetime, **values: float) -> MeterValuesReceived:
    names = {
        "soc": ("SoC", "Percent"),
        "imp": ("Power.Active.Import", "W"),
        "exp": ("Power.Active.Export", "W"),
        "temp": ("Temperature", "Celsius"),
    }
    samples = tuple(MeterSample(at, names[k][0], v, names[k][1]) for k, v in values.items())
    return MeterValuesReceived("BESS", 1, 1, None, samples)


def test_readings_come_from_the_units_evse_net_power_and_soc() -> None:
    units = LiveUnits(_site())
    assert list(units.units) == ["bess"]  # the unit without a station keeps POST /readings
    assert units.readings() == {}
    assert units.apply(_meter(T0, soc=55.0, imp=0.0, exp=12_000.0, temp=31.5))
    (reading,) = units.readings().values()
    assert (reading.soc_wh, reading.power_w, reading.measured_at) == (55_000.0, -12_000.0, T0)
    assert units.units["bess"].temperature_c == 31.5
    # another station's meter values are not the unit's
    other = MeterValuesReceived("CP", 1, 1, None, _meter(T0, imp=7e3).samples)
    assert not units.apply(other)
    # an older message (a retry) does not replace a newer reading
    units.apply(_meter(T0 - timedelta(seconds=10), soc=40.0, imp=5_000.0))
    assert units.units["bess"].power_w == -12_000.0 and units.units["bess"].soc_pct == 55.0


def test_a_soc_outside_0_100_is_refused_and_counted() -> None:
    units = LiveUnits(_site())
    units.apply(_meter(T0, soc=50.0, imp=1_000.0))
    units.apply(_meter(T0 + timedelta(seconds=5), soc=140.0, imp=2_000.0))
    units.apply(_meter(T0 + timedelta(seconds=10), soc=-3.0, imp=3_000.0))
    assert units.refused_soc == 2 and units.units["bess"].refused_soc == 2
    assert units.units["bess"].soc_pct == 50.0  # the last good one
    assert units.units["bess"].power_w == 3_000.0


def test_faulted_status_is_an_alarm_until_available() -> None:
    units = LiveUnits(_site())
    units.apply(_meter(T0, soc=50.0, imp=0.0))

    def status(s: ConnectorStatus) -> StatusChanged:
        return StatusChanged(StatusReport("BESS", 1, 1, s, T0))

    assert units.apply(status(ConnectorStatus.FAULTED))
    assert units.readings()["bess"].alarm
    units.apply(status(ConnectorStatus.AVAILABLE))
    assert not units.readings()["bess"].alarm


def test_notify_event_alerts_and_temperature_on_the_units_evse() -> None:
    units = LiveUnits(_site())
    units.apply(_meter(T0, soc=50.0, imp=0.0))

    def notify(trigger: str, value: str, *, cleared: bool = False, evse: int = 1) -> bool:
        event = DeviceEvent("TemperatureSensor", "Temperature", evse, trigger, value, T0, cleared)
        return units.apply(DeviceEventsNotified("BESS", (event,), T0))

    assert notify("Delta", "38.5") and units.units["bess"].temperature_c == 38.5
    assert notify("Alerting", "46.0") and units.readings()["bess"].alarm
    assert not notify("Alerting", "99", evse=2)  # another EVSE: not the unit's
    assert notify("Delta", "nan") and units.units["bess"].temperature_c == 46.0
    notify("Alerting", "39.0", cleared=True)
    assert not units.readings()["bess"].alarm


def test_ratings_carry_the_site_files_bounds() -> None:
    (rating,) = LiveUnits(_site()).ratings(T0).values()
    assert (rating.min_soc_wh, rating.upper_soc_wh) == (10_000.0, 90_000.0)
    assert (rating.max_charge_w, rating.max_discharge_w) == (50_000.0, 40_000.0)


def test_a_setpoint_becomes_a_short_2_1_central_setpoint_default_profile() -> None:
    limit = setpoint_schedule(
        "BESS", 1, -25_000.0, now=T0 + timedelta(microseconds=7), validity_s=15, stack_level=1
    )
    assert limit.unit is ChargingRateUnit.WATT and limit.purpose == "TxDefaultProfile"
    assert limit.valid_to == T0 + timedelta(seconds=15)
    profile = v2x_charging_profile(limit, station_tx_id=None)
    assert profile["id"] == PROFILE_ID and profile["chargingProfileKind"] == "Absolute"
    assert profile["validTo"] == "2026-06-26T15:00:15.000Z"
    (schedule,) = profile["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "W"
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": -25_000.0}
    ]
    idle = setpoint_schedule("BESS", 1, None, now=T0, validity_s=15, stack_level=1)
    period = v2x_charging_profile(idle, station_tx_id=None)["chargingSchedule"][0]
    assert period["chargingSchedulePeriod"] == [{"startPeriod": 0, "operationMode": "Idle"}]


@pytest.mark.parametrize(
    ("sent", "wanted", "at_s", "due"),
    [
        (None, 0.0, 0, True),  # nothing accepted yet
        (Sent(-10_000.0, T0 + timedelta(seconds=15)), -10_300.0, 5, False),  # in the deadband
        (Sent(-10_000.0, T0 + timedelta(seconds=15)), -10_600.0, 5, True),  # beyond it
        (Sent(-10_000.0, T0 + timedelta(seconds=15)), -10_000.0, 10, True),  # about to expire
        (Sent(None, T0 + timedelta(seconds=15)), 0.0, 5, True),  # Idle -> a setpoint
        (Sent(None, T0 + timedelta(seconds=15)), None, 5, False),  # still Idle
    ],
)
def test_resend_only_on_change_beyond_the_deadband_or_before_expiry(
    sent: Sent | None, wanted: float | None, at_s: int, due: bool
) -> None:
    now = T0 + timedelta(seconds=at_s)
    assert resend_due(sent, wanted, now=now, deadband_w=500.0, renew_before_s=7.5) is due


def test_limits_in_force_take_the_tightest_cap_at_the_grid_connection() -> None:
    site = _site()
    cap = GridConstraint(
        id="c1",
        site_id="s",
        node_id="grid",
        kind="cap",
        start=T0,
        end=T0 + timedelta(hours=2),
        max_import_w=60_000.0,
        created_at=T0,
    )
    assert site_limits(site, [cap], T0 - timedelta(seconds=1)).import_limit_w == 100_000.0
    limits = site_limits(site, [cap], T0)
    assert limits.import_limit_w == 60_000.0 and limits.export_limit_w == float("inf")


def _planning_state(soc_pct: float, *, at: datetime, dispatching: bool = True) -> SiteState:
    state = SiteState(_site(root_import_w=30_000.0))
    state.units.dispatching = dispatching
    for st in state.stations.values():
        st.online = st.seen = True
    state.take_transaction(
        Transaction(
            id=1,
            station_id="CP",
            station_tx_id="1",
            evse_id=1,
            connector_id=1,
            id_token="t",
            started_at=T0 - timedelta(minutes=5),
            meter_start_wh=0.0,
        )
    )
    state.apply(_meter(at, soc=soc_pct, imp=8_000.0), deviation_w=3e3, tolerance_w=0.0)
    return state


SETTINGS = PlanningSettings(horizon_s=2 * 3600, step_s=900, storage_stale_after_s=15)


def test_a_live_unit_is_scheduled_by_the_optimizer_and_its_step_is_plan_now() -> None:
    state = _planning_state(50.0, at=T0)
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    (unit,) = built.problem.storage
    assert (unit.storage_id, unit.soc_wh, unit.min_soc_wh) == ("bess", 50_000.0, 10_000.0)
    assert "grid" not in built.uncontrolled_w  # its charging is the plan's, not a worst case
    plan = solve(built.problem)
    now = plan_now(plan, T0 + timedelta(seconds=30))
    assert now.setpoints_w["bess"] == plan.storage["bess"].power_w[0]
    assert now.reserve_wh["bess"] >= 0.0
    assert plan_now(plan, T0 + timedelta(days=2)).setpoints_w == {}  # a plan all past


@pytest.mark.parametrize(
    ("age_s", "dispatching", "alarm"),
    [(60, True, False), (0, False, False), (0, True, True)],
    ids=["stale", "no controller", "alarm"],
)
def test_a_unit_not_counted_on_is_drawn_at_the_laws_worst_case(
    age_s: int, dispatching: bool, alarm: bool
) -> None:
    state = _planning_state(50.0, at=T0 - timedelta(seconds=age_s), dispatching=dispatching)
    state.units.units["bess"].status_alarm = alarm
    state.units.units["bess"].sent_w = 12_000.0  # the last setpoint it accepted: more
    built = build_problem(state, [], now=T0, settings=SETTINGS)
    assert built.problem.storage == ()
    assert built.uncontrolled_w["grid"] == 12_000.0
    state.units.units["bess"].sent_w = -5_000.0  # discharging is never counted on
    assert build_problem(state, [], now=T0, settings=SETTINGS).uncontrolled_w["grid"] == 8_000.0


def test_the_controllers_counters_in_prometheus_text() -> None:
    from types import SimpleNamespace
    from typing import Any, cast

    from csms.storage_units import SiteHooks, StorageController, storage_metrics_text

    units = LiveUnits(_site())
    units.apply(_meter(T0, soc=150.0, imp=0.0))  # refused
    unused: Any = SimpleNamespace()
    controller = StorageController(
        "s",
        units,
        cast(SiteHooks, unused),
        clock=unused,
        commands=unused,
        bus=unused,
        sites=unused,
        supervisor=unused,
        settings=cast(Any, unused),
    )
    controller.steps = 3
    controller.corrections["units[bess].plan"] += 2
    controller.exclusions["stale"] += 1
    text = storage_metrics_text([controller])
    assert 'chargegrid_storage_steps_total{site="s"} 3' in text
    assert 'chargegrid_storage_corrections_total{site="s",field="units[bess].plan"} 2' in text
    assert 'chargegrid_storage_exclusions_total{site="s",reason="stale"} 1' in text
    assert 'chargegrid_storage_soc_refused_total{site="s"} 1' in text
    assert 'chargegrid_storage_ev_reduction_w{site="s"} 0' in text
    assert "# TYPE chargegrid_storage_ev_reduction_w gauge" in text
