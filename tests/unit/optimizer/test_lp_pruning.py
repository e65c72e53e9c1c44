"""The direct LP leaves out current-limit rows that cannot bind (decision 0428)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import CurrentLimit, Phase, PlannerConfig, compile_problem, solve
from optimizer.fastlp import build_lp
from optimizer.lp import KIND_INDEX
from tests.unit.optimizer.helpers import at, evse, problem, session


def _site(*limits: CurrentLimit) -> object:
    # A and B at 16 A each on L1 (230 V); B only plugged in for the first half hour
    return problem(
        evses=tuple(evse(e, phase=Phase.L1, voltage_v=230.0) for e in "AB"),
        sessions=(
            session("SA", "A", hours=1.0, energy_wh=3000.0),
            session("SB", "B", hours=0.5, energy_wh=3000.0),
        ),
        current_limits=limits,
    )


def _lin_rows(p: object) -> list[tuple[int, int]]:
    lp = build_lp(compile_problem(p))  # type: ignore[arg-type]
    at_lin = lp.row_keys.kind == KIND_INDEX["lin"]
    ent, step = lp.row_keys.ent[at_lin].tolist(), lp.row_keys.step[at_lin].tolist()
    return sorted(zip(ent, step, strict=True))


def test_only_rows_that_can_bind_are_in_the_lp() -> None:
    tight = CurrentLimit("tight", (("A", 1.0), ("B", 1.0)), 20.0)  # 32 A at most: binds
    loose = CurrentLimit("loose", (("A", 1.0), ("B", 1.0)), 32.0)  # never above 32 A
    half = CurrentLimit("half", (("A", 1.0), ("B", -1.0)), 10.0)  # B counts against A
    later = CurrentLimit("later", (("A", 1.0),), 8.0, start=at(0.5), end=at(1.0))
    p = _site(tight, loose, half, later)
    # tight: while both are in (steps 0, 1); half: A alone can exceed 10 A in every step A is
    # in; later: steps 2, 3 only (off before); loose: never; and every limit a load counts on
    # in the last step, onto which the warm start wraps the first
    assert _lin_rows(p) == [
        (0, 0), (0, 1), (0, 3), (1, 3), (2, 0), (2, 1), (2, 2), (2, 3), (3, 2), (3, 3),
    ]  # fmt: skip


@pytest.mark.parametrize("backend", ["direct", "pyomo"])
def test_leaving_out_the_rows_changes_no_plan(backend: str) -> None:
    tight = CurrentLimit("tight", (("A", 1.0), ("B", 1.0)), 20.0)
    loose = CurrentLimit("loose", (("A", 1.0), ("B", 1.0)), 32.0)
    config = PlannerConfig(backend=backend)  # type: ignore[arg-type]
    with_loose = solve(_site(tight, loose), config)  # type: ignore[arg-type]
    without = solve(_site(tight), config)  # type: ignore[arg-type]
    assert with_loose.objective == pytest.approx(without.objective, rel=1e-9)
    for e in "AB":
        assert np.allclose(with_loose.evses[e].current_a, without.evses[e].current_a)
    # both share the tight limit's 20 A while B is in
    first = with_loose.evses["A"].current_a[0] + with_loose.evses["B"].current_a[0]
    assert first == pytest.approx(20.0)
