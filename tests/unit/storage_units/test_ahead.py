"""The units are told the plan's next step ahead, and the controller steps when a reading
moves the import (decision 0926)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from csms.ocpp.v2x21 import v2x_charging_profile
from csms.storage_units import Sent, resend_due, setpoint_schedule
from csms.storage_units.glue import planned_then
from optimizer import TimeGrid
from tests.unit.storage_units.fakes import T0, harness
from tests.unit.storage_units.test_edges import recorded_steps
from tests.unit.storage_units.test_glue import _site
from tests.waiting import wait_until


def _plan(*power_w: float) -> Any:
    """A plan of 900 s steps from T0 with the unit ``bess`` at these powers."""
    n = len(power_w)
    steps = SimpleNamespace(power_w=power_w, soc_wh=(50_000.0,) * (n + 1))
    return SimpleNamespace(
        grid=TimeGrid.uniform(start=T0, step_s=900.0, n_steps=n), storage={"bess": steps}
    )


def test_the_next_planned_step_within_the_schedule_is_its_second_period() -> None:
    plan = _plan(-10_000.0, -40_000.0, 5_000.0)
    now, edge = T0 + timedelta(seconds=850), T0 + timedelta(seconds=900)
    until = now + timedelta(seconds=90)
    assert planned_then(plan, "bess", -10_000.0, now, until) == (edge, -40_000.0)
    # the controller's own shaving goes on when the plan discharges less than it does now
    assert planned_then(plan, "bess", -50_000.0, now, until) is None
    # the edge after the schedule's end, an edge to charging, a unit the plan has not
    assert planned_then(plan, "bess", -10_000.0, now, edge) is None
    later = T0 + timedelta(seconds=1750)
    assert planned_then(plan, "bess", -40_000.0, later, later + timedelta(seconds=90)) is None
    assert planned_then(plan, "other", 0.0, now, until) is None
    assert planned_then(None, "bess", 0.0, now, until) is None

    limit = setpoint_schedule(
        "BESS", 1, -10_000.0, now=now, validity_s=90, stack_level=1, then=(edge, -40_000.0)
    )
    periods = v2x_charging_profile(limit, station_tx_id=None)["chargingSchedule"][0][
        "chargingSchedulePeriod"
    ]
    assert periods == [
        {"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": -10_000.0},
        {"startPeriod": 50, "operationMode": "CentralSetpoint", "setpoint": -40_000.0},
    ]
    assert [p[:2] for p in limit.schedule] == [(0, 0.0), (50, 0.0)]
    # beyond the schedule's end, or an Idle schedule: one period
    assert len(setpoint_schedule("BESS", 1, -1.0, now=now, validity_s=40, stack_level=1,
                                 then=(edge, -40_000.0)).v2x) == 1  # fmt: skip
    assert len(setpoint_schedule("BESS", 1, None, now=now, validity_s=90, stack_level=1,
                                 then=(edge, -40_000.0)).v2x) == 1  # fmt: skip


def test_a_planned_switch_the_schedule_in_force_does_not_hold_is_sent() -> None:
    edge = T0 + timedelta(seconds=60)
    now = T0 + timedelta(seconds=10)
    plain = Sent(-10_000.0, T0 + timedelta(seconds=90))
    ahead = Sent(-10_000.0, T0 + timedelta(seconds=90), (edge, -40_000.0))

    def due(sent: Sent, then: tuple[Any, float] | None) -> bool:
        return resend_due(
            sent, -10_000.0, now=now, deadband_w=500.0, renew_before_s=45.0, then=then
        )

    assert due(plain, (edge, -40_000.0))  # not told yet
    assert not due(ahead, (edge, -40_000.0))  # told
    assert not due(ahead, (edge, -40_300.0))  # within the deadband
    assert due(ahead, (edge, -41_000.0))  # the plan moved beyond it
    assert due(ahead, (edge + timedelta(seconds=1), -40_000.0))  # another edge
    # a switch after the schedule in force ends waits for its renewal
    assert not due(plain, (T0 + timedelta(seconds=120), -40_000.0))


async def test_a_poke_steps_the_controller_at_once_not_at_the_intervals_end() -> None:
    h = harness(_site(root_import_w=100_000.0))
    steps = recorded_steps(h)
    task = asyncio.create_task(h.controller._run())
    await wait_until(lambda: h.clock.sleepers(), 5, "the controller asleep on the clock")
    h.clock.advance(1.0)
    h.controller.poke()  # a PV reading fell: step now
    await wait_until(lambda: len(steps) == 2, 5, "the poked step")
    await wait_until(lambda: h.clock.sleepers(), 5, "the controller asleep again")
    h.clock.advance(4.0)  # the interval counts from the poked step: none at 5 s
    await wait_until(lambda: h.clock.sleepers(), 5, "the controller still asleep")
    assert steps == [0.0, 1.0]
    h.clock.advance(1.0)
    await wait_until(lambda: len(steps) == 3, 5, "the step an interval after the poke")
    task.cancel()
    assert steps == [0.0, 1.0, 6.0] and h.controller.poked_steps == 1
