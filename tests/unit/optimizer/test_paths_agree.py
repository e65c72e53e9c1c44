"""The direct HiGHS path and the Pyomo model are the same LP: same optimum."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from optimizer import (
    DeviceDimming,
    FlexibleLoad,
    LimitNode,
    NodeCap,
    Phase,
    PvPlant,
    Setpoint,
    StorageUnit,
    Tariff,
    compile_problem,
    solve_direct,
    solve_pyomo,
)
from tests.unit.optimizer.helpers import at, evse, problem, session


def _random_problem(seed: int) -> object:
    rng = random.Random(seed)
    n_t = 8
    nodes = [
        LimitNode("grid", max_import_w=rng.uniform(15e3, 40e3), max_export_w=5e3),
        LimitNode("feeder", "grid", max_phase_current_a=rng.uniform(30, 60)),
        LimitNode("st1", "feeder", max_import_w=rng.uniform(8e3, 20e3)),
        LimitNode("st2", "feeder", max_phase_current_a=rng.uniform(16, 40)),
    ]
    phases = list(Phase)
    evses = [
        evse(
            f"E{i}",
            rng.choice(["st1", "st2", "feeder"]),
            phase=rng.choice(phases),
            max_current_a=rng.choice([16.0, 32.0]),
        )
        for i in range(6)
    ]
    sessions = [
        session(
            f"S{i}",
            e.evse_id,
            hours=rng.uniform(0.5, 2.0),
            energy_wh=rng.uniform(2e3, 2e4),
            arrival=at(rng.uniform(-1, 0.6)),
            priority=rng.choice([1.0, 2.0]),
        )
        for i, e in enumerate(evses)
    ]
    return problem(
        n_steps=n_t,
        nodes=tuple(nodes),
        evses=tuple(evses),
        sessions=tuple(sessions),
        tariff=Tariff(
            tuple(rng.choice([0.1, 0.3]) for _ in range(n_t)),
            export_price_per_kwh=(0.05,) * n_t,
            demand_charge_per_kw=rng.choice([0.0, 2.0]),
            peak_so_far_w=5000.0,
        ),
        pv=(PvPlant("PV", "grid", tuple(rng.uniform(0, 15e3) for _ in range(n_t))),),
        storage=(
            StorageUnit(
                "B1",
                "feeder",
                capacity_wh=20e3,
                soc_wh=5e3,
                max_charge_w=8e3,
                max_discharge_w=8e3,
                degradation_cost_per_kwh=0.02,
            ),
        ),
        flexible_loads=(
            FlexibleLoad("rack", "st1", energy_wh=4e3, ready_by=at(1.5), max_power_w=5e3),
        ),
        node_caps=(NodeCap("grid", at(0.5), at(1.0), import_factor=0.6),),
        dimmings=(DeviceDimming("E0", at(0.25), at(1.25), max_power_w=1000.0),),
        setpoints=(Setpoint("grid", at(1.5), at(2.0), target_w=6e3, tolerance_w=1e3),),
    )


@pytest.mark.parametrize("flat_phases", [True, False], ids=["flat-phases", "phase-flows"])
@pytest.mark.parametrize("seed", range(4))
def test_direct_and_pyomo_reach_the_same_optimum(
    seed: int, flat_phases: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("optimizer.fastlp.FLAT_PHASES", flat_phases)
    cp = compile_problem(_random_problem(seed))  # type: ignore[arg-type]
    direct = solve_direct(cp)
    model = solve_pyomo(cp)
    assert direct.objective == pytest.approx(model.objective, rel=1e-7, abs=1e-7)
    assert direct.unmet_kwh.sum() == pytest.approx(model.unmet_kwh.sum(), abs=1e-6)
    assert direct.imp_kw.max() == pytest.approx(model.imp_kw.max(), abs=1e-6)


def test_coarser_tail_grid() -> None:
    from optimizer import TimeGrid

    grid = TimeGrid.uniform(start=at(0), step_s=900, n_steps=4, tail_step_s=3600, tail_n_steps=2)
    assert grid.step_durations_s == (900.0,) * 4 + (3600.0,) * 2
    assert grid.end == at(3)
    assert grid.step_start(5) - grid.start == timedelta(hours=2)
