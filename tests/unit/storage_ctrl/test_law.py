"""The storage control law, by hand-computed cases (no event loop, no I/O)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import storage_ctrl
from storage_ctrl import (
    ControlSettings,
    Excluded,
    InvalidInput,
    Measurements,
    PlanNow,
    Reason,
    SiteLimits,
    UnitRating,
    UnitReading,
    step,
)

NOW = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
# 5 s interval: 1 kW for 5 s is 1000/720 Wh, so SoC rooms below are in those units.
EVERY_5S = ControlSettings(interval_s=5.0, stale_after_s=15.0)


def rating(unit_id: str = "b1", **kw: float | None) -> UnitRating:
    values: dict[str, float | None] = {
        "capacity_wh": 100_000.0,
        "max_charge_w": 50_000.0,
        "max_discharge_w": 50_000.0,
        "min_soc_wh": 10_000.0,
        "max_soc_wh": 90_000.0,
        "charge_efficiency": 1.0,
        "discharge_efficiency": 1.0,
    }
    values.update(kw)
    return UnitRating(unit_id, **values)  # type: ignore[arg-type]


def reading(
    unit_id: str = "b1", *, soc_wh: float = 50_000.0, power_w: float = 0.0, age_s: float = 1.0
) -> UnitReading:
    return UnitReading(
        unit_id, soc_wh=soc_wh, power_w=power_w, measured_at=NOW - timedelta(seconds=age_s)
    )


def site(import_w: float, *readings: UnitReading) -> Measurements:
    return Measurements(import_w, NOW, {r.unit_id: r for r in readings})


def test_public_api() -> None:
    assert storage_ctrl.__all__ == sorted(storage_ctrl.__all__)
    for name in storage_ctrl.__all__:
        assert hasattr(storage_ctrl, name)


def test_follows_the_plan_while_the_site_is_within_its_limit() -> None:
    d = step(
        site(60_000.0, reading(power_w=0.0)),
        PlanNow(setpoints_w={"b1": -20_000.0}),
        SiteLimits(import_limit_w=100_000.0),
        NOW,
        ratings=[rating()],
        settings=EVERY_5S,
    )
    assert d.setpoints["b1"].setpoint_w == -20_000.0
    assert d.setpoints["b1"].reasons == (Reason.PLAN,)
    assert d.expected_import_w == 40_000.0
    assert d.ev_reduction_w == 0.0


def test_peak_shaving_discharges_to_hold_the_limit() -> None:
    # 130 kW measured with the unit idle, the limit dropped to 120 kW: discharge 10 kW.
    d = step(
        site(130_000.0, reading()),
        PlanNow(),
        SiteLimits(import_limit_w=120_000.0),
        NOW,
        ratings=[rating()],
        settings=EVERY_5S,
    )
    assert d.setpoints["b1"].setpoint_w == pytest.approx(-10_000.0)
    assert Reason.PEAK_SHAVING in d.setpoints["b1"].reasons
    assert d.expected_import_w == pytest.approx(120_000.0)
    assert d.ev_reduction_w == 0.0


def test_what_storage_cannot_take_the_evs_must() -> None:
    d = step(
        site(200_000.0, reading()),
        PlanNow(),
        SiteLimits(import_limit_w=120_000.0),
        NOW,
        ratings=[rating()],
        settings=EVERY_5S,
    )
    assert d.setpoints["b1"].setpoint_w == -50_000.0
    assert d.setpoints["b1"].reasons[-1] is Reason.POWER_LIMIT
    assert d.ev_reduction_w == pytest.approx(30_000.0)


def test_a_unit_at_its_minimum_soc_does_not_discharge() -> None:
    d = step(
        site(130_000.0, reading(soc_wh=10_000.0)),
        PlanNow(setpoints_w={"b1": -5_000.0}),
        SiteLimits(import_limit_w=120_000.0),
        NOW,
        ratings=[rating()],
        settings=EVERY_5S,
    )
    assert d.setpoints["b1"].setpoint_w == 0.0
    assert Reason.SOC_LIMIT in d.setpoints["b1"].reasons
    assert d.ev_reduction_w == pytest.approx(10_000.0)


def test_discharge_is_limited_by_the_energy_left_above_the_minimum() -> None:
    # 10 Wh above the floor, 5 s, 90 % discharge efficiency: 10 * 0.9 * 720 = 6,480 W.
    d = step(
        site(150_000.0, reading(soc_wh=10_010.0)),
        PlanNow(),
        SiteLimits(import_limit_w=120_000.0),
        NOW,
        ratings=[rating(discharge_efficiency=0.9)],
        settings=EVERY_5S,
    )
    assert d.setpoints["b1"].setpoint_w == pytest.approx(-6_480.0)
    assert d.setpoints["b1"].reasons[-1] is Reason.SOC_LIMIT
    assert d.ev_reduction_w == pytest.approx(30_000.0 - 6_480.0)


def test_ramp_limits_the_change_and_the_evs_take_the_rest() -> None:
    # 1 kW/s over 5 s: from 0 to at most -5 kW this interval.
    d = step(
        site(130_000.0, reading()),
        PlanNow(),
        SiteLimits(import_limit_w=120_000.0),
        NOW,
        ratings=[rating(ramp_w_per_s=1_000.0)],
        settings=EVERY_5S,
    )
    assert d.setpoints["b1"].setpoint_w == pytest.approx(-5_000.0)
    assert d.setpoints["b1"].reasons[-1] is Reason.RAMP_LIMIT
    assert d.ev_reduction_w == pytest.approx(5_000.0)


def test_soc_floor_wins_over_the_ramp() -> None:
    # Discharging at 40 kW with the SoC at its floor: stop now, whatever the ramp says.
    d = step(
        site(80_000.0, reading(soc_wh=10_000.0, power_w=-40_000.0)),
        PlanNow(setpoints_w={"b1": -40_000.0}),
        SiteLimits(import_limit_w=200_000.0),
        NOW,
        ratings=[rating(ramp_w_per_s=1_000.0)],
        settings=EVERY_5S,
    )
    assert d.setpoints["b1"].setpoint_w == 0.0
    assert d.expected_import_w == pytest.approx(120_000.0)


def test_pv_absorbed_beyond_the_export_limit() -> None:
    d = step(
        site(-30_000.0, reading()),
        PlanNow(),
        SiteLimits(import_limit_w=100_000.0, export_limit_w=20_000.0),
        NOW,
        ratings=[rating()],
        settings=EVERY_5S,
    )
    assert d.setpoints["b1"].setpoint_w == pytest.approx(10_000.0)
    assert Reason.PV_ABSORPTION in d.setpoints["b1"].reasons
    assert d.export_excess_w == 0.0


def test_pv_surplus_stored_when_export_is_worth_less() -> None:
    d = step(
        site(-5_000.0, reading()),
        PlanNow(absorb_surplus=True),
        SiteLimits(import_limit_w=100_000.0, export_limit_w=20_000.0),
        NOW,
        ratings=[rating()],
        settings=EVERY_5S,
    )
    assert d.setpoints["b1"].setpoint_w == pytest.approx(5_000.0)
    assert d.expected_import_w == pytest.approx(0.0)


def test_export_a_full_unit_cannot_take_is_reported() -> None:
    d = step(
        site(-30_000.0, reading(soc_wh=90_000.0)),
        PlanNow(),
        SiteLimits(import_limit_w=100_000.0, export_limit_w=20_000.0),
        NOW,
        ratings=[rating()],
        settings=EVERY_5S,
    )
    assert d.setpoints["b1"].setpoint_w == 0.0
    assert d.export_excess_w == pytest.approx(10_000.0)


def test_the_plan_keeps_the_reserve_but_the_limit_may_use_it() -> None:
    # 20 Wh above the reserve floor (min 10 kWh + reserve 30 kWh): the plan's 50 kW
    # discharge is cut to 20 * 720 = 14.4 kW; a limit in force may go past the reserve.
    ratings = [rating()]
    plan = PlanNow(setpoints_w={"b1": -50_000.0}, reserve_wh={"b1": 30_000.0})
    easy = step(
        site(50_000.0, reading(soc_wh=40_020.0)),
        plan,
        SiteLimits(import_limit_w=100_000.0),
        NOW,
        ratings=ratings,
        settings=EVERY_5S,
    )
    assert easy.setpoints["b1"].setpoint_w == pytest.approx(-14_400.0)
    assert easy.setpoints["b1"].reasons == (Reason.PLAN, Reason.RESERVE)
    tight = step(
        site(130_000.0, reading(soc_wh=40_020.0)),
        plan,
        SiteLimits(import_limit_w=100_000.0),
        NOW,
        ratings=ratings,
        settings=EVERY_5S,
    )
    assert tight.setpoints["b1"].setpoint_w == pytest.approx(-30_000.0)
    assert tight.ev_reduction_w == 0.0


def test_units_share_in_proportion_to_their_headroom() -> None:
    d = step(
        site(130_000.0, reading("a"), reading("b")),
        PlanNow(),
        SiteLimits(import_limit_w=100_000.0),
        NOW,
        ratings=[rating("a", max_discharge_w=40_000.0), rating("b", max_discharge_w=20_000.0)],
        settings=EVERY_5S,
    )
    assert d.setpoints["a"].setpoint_w == pytest.approx(-20_000.0)
    assert d.setpoints["b"].setpoint_w == pytest.approx(-10_000.0)
    assert d.ev_reduction_w == 0.0


def test_a_silent_unit_is_not_counted_on() -> None:
    # b was discharging 20 kW and went silent: its discharge may stop any moment, so the
    # site import is planned as if it had, and a takes that over.
    d = step(
        site(100_000.0, reading("a"), reading("b", power_w=-20_000.0, age_s=60.0)),
        PlanNow(setpoints_w={"b": -20_000.0}),
        SiteLimits(import_limit_w=100_000.0),
        NOW,
        ratings=[rating("a"), rating("b")],
        previous_w={"b": -20_000.0},
        settings=EVERY_5S,
    )
    assert d.excluded == {"b": Excluded.STALE}
    assert "b" not in d.setpoints
    assert d.setpoints["a"].setpoint_w == pytest.approx(-20_000.0)
    assert d.ev_reduction_w == 0.0


def test_a_silent_unit_that_was_told_to_charge_is_assumed_charging() -> None:
    d = step(
        site(100_000.0),
        PlanNow(),
        SiteLimits(import_limit_w=100_000.0),
        NOW,
        ratings=[rating("b")],
        previous_w={"b": 15_000.0},
        settings=EVERY_5S,
    )
    assert d.excluded == {"b": Excluded.NO_READING}
    assert d.ev_reduction_w == pytest.approx(15_000.0)


def test_an_alarming_unit_is_excluded() -> None:
    alarmed = UnitReading("b1", soc_wh=50_000.0, power_w=0.0, measured_at=NOW, alarm=True)
    d = step(
        site(130_000.0, alarmed),
        PlanNow(setpoints_w={"b1": -10_000.0}),
        SiteLimits(import_limit_w=120_000.0),
        NOW,
        ratings=[rating()],
        settings=EVERY_5S,
    )
    assert d.excluded == {"b1": Excluded.ALARM}
    assert d.setpoints == {}
    assert d.ev_reduction_w == pytest.approx(10_000.0)


def test_a_plan_beyond_the_rating_is_corrected_and_counted() -> None:
    d = step(
        site(50_000.0, reading()),
        PlanNow(setpoints_w={"b1": 80_000.0}),
        SiteLimits(import_limit_w=200_000.0),
        NOW,
        ratings=[rating()],
        settings=EVERY_5S,
    )
    assert d.setpoints["b1"].setpoint_w == 50_000.0
    assert [(c.field, c.given, c.used) for c in d.corrections] == [
        ("plan.setpoints_w[b1]", 80_000.0, 50_000.0)
    ]


def test_a_reading_above_capacity_is_corrected() -> None:
    d = step(
        site(50_000.0, reading(soc_wh=120_000.0)),
        PlanNow(),
        SiteLimits(import_limit_w=200_000.0),
        NOW,
        ratings=[rating()],
        settings=EVERY_5S,
    )
    assert d.corrections[0].field == "units[b1].soc_wh"
    assert d.setpoints["b1"].setpoint_w == 0.0


def test_readings_of_unknown_units_are_reported() -> None:
    d = step(
        site(10_000.0, reading("ghost")),
        PlanNow(),
        SiteLimits(import_limit_w=200_000.0),
        NOW,
        ratings=[],
        settings=EVERY_5S,
    )
    assert d.unknown_units == ("ghost",)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: rating(capacity_wh=math.nan), "units[b1].capacity_wh"),
        (lambda: rating(max_soc_wh=120_000.0), "units[b1].max_soc_wh"),
        (lambda: rating(charge_efficiency=1.5), "units[b1].charge_efficiency"),
        (lambda: reading(power_w=math.inf), "units[b1].power_w"),
        (lambda: reading(soc_wh=-1.0), "units[b1].soc_wh"),
        (
            lambda: UnitReading.from_percent(
                "b1", soc_pct=150.0, capacity_wh=1.0, power_w=0.0, measured_at=NOW
            ),
            "units[b1].soc_pct",
        ),
        (lambda: PlanNow(setpoints_w={"b1": math.nan}), "plan.setpoints_w[b1]"),
        (lambda: SiteLimits(import_limit_w=math.inf), "import_limit_w"),
        (lambda: SiteLimits(import_limit_w=-50.0, export_limit_w=10.0), "import_limit_w"),
        (lambda: Measurements(1.0, datetime(2026, 1, 1)), "site_measured_at"),
    ],
)
def test_bad_input_is_refused_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field


units_st = st.lists(
    st.tuples(
        st.floats(1_000.0, 200_000.0),  # capacity
        st.floats(0.0, 1.0),  # soc fraction
        st.floats(0.0, 60_000.0),  # max charge
        st.floats(0.0, 60_000.0),  # max discharge
        st.floats(-60_000.0, 60_000.0),  # measured power
        st.floats(-80_000.0, 80_000.0),  # planned
        st.one_of(st.none(), st.floats(10.0, 5_000.0)),  # ramp
        st.floats(0.5, 1.0),  # efficiency
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(
    units=units_st,
    site_import_w=st.floats(-150_000.0, 300_000.0),
    limit_w=st.floats(0.0, 200_000.0),
    export_w=st.floats(0.0, 100_000.0),
)
def test_setpoints_stay_within_every_bound_and_the_limit_holds(
    units: list[tuple[float, float, float, float, float, float, float | None, float]],
    site_import_w: float,
    limit_w: float,
    export_w: float,
) -> None:
    ratings, readings, planned = [], [], {}
    for i, (cap, frac, chg, dis, power, plan_w, ramp, eff) in enumerate(units):
        uid = f"u{i}"
        ratings.append(
            UnitRating(
                uid,
                capacity_wh=cap,
                max_charge_w=chg,
                max_discharge_w=dis,
                min_soc_wh=0.1 * cap,
                max_soc_wh=0.9 * cap,
                charge_efficiency=eff,
                discharge_efficiency=eff,
                ramp_w_per_s=ramp,
            )
        )
        readings.append(reading(uid, soc_wh=cap * (0.1 + 0.8 * frac), power_w=power))
        planned[uid] = plan_w
    d = step(
        site(site_import_w, *readings),
        PlanNow(setpoints_w=planned),
        SiteLimits(import_limit_w=limit_w, export_limit_w=export_w),
        NOW,
        ratings=ratings,
        settings=EVERY_5S,
    )
    hours = EVERY_5S.interval_s / 3600.0
    for r, m in zip(ratings, readings, strict=True):
        s = d.setpoints[r.unit_id].setpoint_w
        assert -r.max_discharge_w - 1e-6 <= s <= r.max_charge_w + 1e-6
        soc_after = (
            m.soc_wh + s * hours * r.charge_efficiency
            if s > 0
            else m.soc_wh + s * hours / r.discharge_efficiency
        )
        assert r.min_soc_wh - 1e-6 <= soc_after <= r.upper_soc_wh + 1e-6
    # With the EV reduction applied, the import limit in force holds.
    assert d.expected_import_w - d.ev_reduction_w <= limit_w + 1e-6
    assert d.ev_reduction_w >= 0.0 and d.export_excess_w >= 0.0
    assert math.isfinite(d.expected_import_w)
