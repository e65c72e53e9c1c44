"""Unmet energy outweighs the largest marginal peak cost, for every session (decision 0412)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from optimizer import Evse, LimitNode, Problem, Session, Tariff, TimeGrid, solve

T0 = datetime(2026, 3, 5, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(("priority", "efficiency"), [(1.0, 1.0), (0.05, 1.0), (0.2, 0.9)])
def test_the_last_kwh_is_delivered_even_when_it_sets_the_peak(
    priority: float, efficiency: float
) -> None:
    # One 5-minute step left: 1 kWh in the battery needs 12 kW / efficiency for 5 minutes,
    # which sets the billing peak at the demand charge's full rate: $15.51 per kW is about
    # $186 per kWh in a 5-minute step, more per kWh in the battery.
    grid = TimeGrid.uniform(start=T0, step_s=300.0, n_steps=3)
    problem = Problem(
        grid=grid,
        nodes=(LimitNode("site"),),
        evses=(Evse("E1", "site", efficiency=efficiency),),
        sessions=(
            Session(
                "s1",
                "E1",
                arrival=T0 - timedelta(hours=1),
                departure=T0 + timedelta(minutes=5),
                energy_requested_wh=1000.0,
                priority=priority,
            ),
        ),
        tariff=Tariff(import_price_per_kwh=(0.3,) * 3, demand_charge_per_kw=15.51),
    )
    plan = solve(problem)
    assert plan.status == "optimal"
    assert plan.shortfall_wh["s1"] == pytest.approx(0.0, abs=1.0)
    assert plan.peak_import_w == pytest.approx(12_000.0 / efficiency, rel=1e-3)
