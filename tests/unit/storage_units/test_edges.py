"""The storage controller steps right after a cap's edge or a plan step's start, not up to
an interval after it (decision 0914)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from csms.sites.constraints import GridConstraint
from csms.storage_units.glue import next_edge_s
from optimizer import TimeGrid
from tests.unit.storage_units.fakes import T0, Harness, harness
from tests.unit.storage_units.test_glue import _site
from tests.waiting import wait_until


def _cap(start_s: float, end_s: float, *, cancelled: bool = False) -> GridConstraint:
    return GridConstraint(
        id="c",
        site_id="s",
        node_id="root",
        kind="cap",
        start=T0 + timedelta(seconds=start_s),
        end=T0 + timedelta(seconds=end_s),
        max_import_w=50_000.0,
        source="dso",
        created_at=T0,
        cancelled_at=T0 if cancelled else None,
    )


def test_the_next_edge_is_the_nearest_plan_step_or_constraint_edge_ahead() -> None:
    plan: Any = SimpleNamespace(grid=TimeGrid.uniform(start=T0, step_s=900.0, n_steps=2))
    assert next_edge_s(None, [], T0) is None
    assert next_edge_s(plan, [], T0) == 900.0
    assert next_edge_s(plan, [], T0 + timedelta(seconds=1000)) == 800.0  # the plan's end
    assert next_edge_s(plan, [], T0 + timedelta(seconds=1800)) is None
    assert next_edge_s(plan, [_cap(300, 600)], T0) == 300.0
    assert next_edge_s(plan, [_cap(300, 600)], T0 + timedelta(seconds=300)) == 300.0  # its end
    assert next_edge_s(plan, [_cap(300, 600, cancelled=True)], T0) == 900.0


def recorded_steps(h: Harness) -> list[float]:
    """The seconds since T0 of each step the harness's controller takes from now."""
    steps: list[float] = []
    real_step = h.controller.step_once

    async def step_once() -> Any:
        steps.append((h.clock.now() - T0).total_seconds())
        return await real_step()

    h.controller.step_once = step_once  # type: ignore[method-assign]
    return steps


async def test_the_controller_steps_right_after_a_cap_starts() -> None:
    h = harness(_site(root_import_w=100_000.0))

    class Sites:
        async def list_constraints(self, site_id: str) -> list[GridConstraint]:
            return [_cap(12.0, 3600.0)]

    h.controller.sites = Sites()  # type: ignore[assignment]
    steps = recorded_steps(h)
    task = asyncio.create_task(h.controller._run())

    async def asleep() -> None:  # the controller waits on the clock again
        await wait_until(lambda: h.clock.sleepers(), 5, "the controller asleep on the clock")

    await asleep()
    for _ in range(30):  # 15 s in half seconds
        h.clock.advance(0.5)
        await asleep()
    task.cancel()
    # every 5 s, and one right after the cap's start at 12 s (the clock moves by 0.5 s),
    # not at 15 s
    assert [round(s, 1) for s in steps] == [0.0, 5.0, 10.0, 12.5]
