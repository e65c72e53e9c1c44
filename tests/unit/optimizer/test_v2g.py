"""V2G sessions in the LP: tiny sites with hand-computed optima, on both builders.

One 3-phase EVSE of 11.04 kW (16 A x 230 V x 3), one-hour steps, an EV that wants 10 kWh and
may give back up to 5 kW. Exporting at 0.4 in the expensive hour is worth it when charging
costs 0.1 elsewhere; the EV still leaves with exactly its 10 kWh (decision 0908).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from optimizer import LimitNode, PlannerConfig, Tariff, compile_problem, solve
from tests.unit.optimizer.helpers import evse, problem, session

BACKENDS = ("direct", "pyomo")


def _site(*, export_w: float | None = None, **ev: Any) -> Any:
    ev.setdefault("max_discharge_w", 5e3)
    ev.setdefault("discharge_limit_wh", 8e3)
    return problem(
        step_s=3600.0,
        n_steps=4,
        nodes=(LimitNode("grid", max_import_w=30e3, max_export_w=export_w),),
        evses=(evse("E"),),
        sessions=(session("S", "E", hours=4.0, energy_wh=10e3, **ev),),
        tariff=Tariff((0.1, 0.5, 0.1, 0.1), export_price_per_kwh=(0.0, 0.4, 0.0, 0.0)),
    )


def _plan(backend: str, prob: Any) -> Any:
    plan = solve(prob, PlannerConfig(backend=backend, round_first_step=False))
    assert plan.status == "optimal", plan.reason
    return plan


@pytest.mark.parametrize("backend", BACKENDS)
def test_gives_at_the_expensive_hour_and_charges_back_cheaply(backend: str) -> None:
    plan = _plan(backend, _site())
    steps = plan.evses["E"].power_w
    assert steps[1] == pytest.approx(-5000.0, abs=1e-3)  # all it may give, when export pays 0.4
    assert sum(w for w in steps if w > 0) == pytest.approx(15000.0, abs=1e-3)  # 10 + 5 back
    assert plan.energy_wh("S") == pytest.approx(10000.0, abs=1e-3)  # leaves with exactly 10 kWh
    assert plan.shortfall_wh["S"] == pytest.approx(0.0, abs=1e-6)
    assert plan.grid_export_w[1] == pytest.approx(5000.0, abs=1e-3)
    # 15 kWh at 0.1 bought, 5 kWh at 0.4 sold
    assert plan.energy_cost == pytest.approx(1.5 - 2.0, abs=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gives_no_more_than_it_may_below_where_it_started(backend: str) -> None:
    """Export pays in the first hour, before the EV could charge anything: it may give only
    the 2 kWh its V2X floor leaves."""
    prob = _site(discharge_limit_wh=2e3)
    prob = problem(
        step_s=3600.0,
        n_steps=4,
        nodes=(LimitNode("grid", max_import_w=30e3),),
        evses=(evse("E"),),
        sessions=prob.sessions,
        tariff=Tariff((0.5, 0.1, 0.1, 0.1), export_price_per_kwh=(0.4, 0.0, 0.0, 0.0)),
    )
    plan = _plan(backend, prob)
    assert plan.evses["E"].power_w[0] == pytest.approx(-2000.0, abs=1e-3)
    assert plan.energy_wh("S") == pytest.approx(10000.0, abs=1e-3)
    cp = compile_problem(prob)
    assert cp.v2g_give_kwh.tolist() == [2.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_export_allowed_means_nothing_given(backend: str) -> None:
    plan = _plan(backend, _site(export_w=0.0))
    assert min(plan.evses["E"].power_w) == pytest.approx(0.0, abs=1e-6)
    assert max(plan.grid_export_w) == pytest.approx(0.0, abs=1e-6)
    assert plan.energy_wh("S") == pytest.approx(10000.0, abs=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_wear_dearer_than_the_spread_keeps_it_charging_only(backend: str) -> None:
    plan = _plan(backend, _site(discharge_cost_per_kwh=0.35))  # 0.4 - 0.1 < 0.35 + 0.1 / 1
    assert min(plan.evses["E"].power_w) >= -1e-6


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_ev_that_only_charges_never_gets_a_negative_step(backend: str) -> None:
    plan = _plan(backend, _site(max_discharge_w=0.0))
    assert min(plan.evses["E"].power_w) >= 0.0
    assert compile_problem(_site(max_discharge_w=0.0)).v2g_max_kw.sum() == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_discharge_shaves_another_evs_peak(backend: str) -> None:
    """A demand charge of 10 per kW and a second EV that must take 11.04 kWh in the first
    hour: the V2G EV gives 5 kW then, so the peak is 6.04 kW, and charges back later under
    that peak."""
    prob = problem(
        step_s=3600.0,
        n_steps=4,
        nodes=(LimitNode("grid", max_import_w=30e3, max_export_w=0.0),),
        evses=(evse("E"), evse("F")),
        sessions=(
            session(
                "S", "E", hours=4.0, energy_wh=10e3, max_discharge_w=5e3, discharge_limit_wh=8e3
            ),
            session("T", "F", hours=1.0, energy_wh=11.04e3),
        ),
        tariff=Tariff((0.1,) * 4, demand_charge_per_kw=10.0),
    )
    plan = _plan(backend, prob)
    assert plan.evses["E"].power_w[0] == pytest.approx(-5000.0, abs=1e-3)
    assert plan.peak_import_w == pytest.approx(6040.0, abs=1e-2)
    assert plan.energy_wh("S") == pytest.approx(10000.0, abs=1e-3)
    assert plan.shortfall_wh["T"] == pytest.approx(0.0, abs=1e-6)
    assert np.max(plan.grid_import_w) <= 6040.0 + 1e-2
