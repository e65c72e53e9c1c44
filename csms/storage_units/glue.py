"""The pure parts between the planner, the control law and the units: the plan's storage
steps as the law's :class:`~storage_ctrl.PlanNow`, the ``CentralSetpoint`` schedule a
setpoint becomes, and when a schedule must be sent again.

Sign convention as in OCPP 2.1 and :mod:`storage_ctrl`: positive charges the unit, negative
discharges it to the site.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from csms.domain import ChargingLimit, ChargingRateUnit, V2XPeriod
from csms.sites.constraints import GridConstraint
from optimizer import Plan
from storage_ctrl import PlanNow

__all__ = [
    "PROFILE_ID",
    "Sent",
    "next_edge_s",
    "plan_now",
    "planned_then",
    "resend_due",
    "setpoint_schedule",
]

#: The profile id of every storage schedule (each replaces the one before on the unit).
PROFILE_ID = 9150


@dataclass(frozen=True, slots=True)
class Sent:
    """The schedule a unit last accepted: its setpoint (None: Idle) and when it runs out."""

    setpoint_w: float | None
    valid_to: datetime
    #: the planned setpoint the schedule switches to at the plan's next edge (0926)
    then: tuple[datetime, float] | None = None


def _step_at(plan: Plan, now: datetime) -> int | None:
    grid = plan.grid
    for k in range(grid.n_steps):
        start = grid.step_start(k)
        if start <= now < start + timedelta(seconds=grid.step_durations_s[k]):
            return k
    return None


def next_edge_s(
    plan: Plan | None, constraints: Iterable[GridConstraint], now: datetime
) -> float | None:
    """Seconds from ``now`` to the next instant the plan's step or a constraint (its start
    or end) changes what the controller must do; None: nothing changes later. The
    controller wakes there too, so a cap takes effect at its edge, not up to an interval
    after it (decision 0914)."""
    times: list[datetime] = []
    if plan is not None:
        grid = plan.grid
        times += [grid.step_start(k) for k in range(grid.n_steps)]
        times.append(grid.end)
    for c in constraints:
        if c.cancelled_at is None:
            times += [c.start, c.end]
    later = [t for t in times if t > now]
    return None if not later else (min(later) - now).total_seconds()


def plan_now(plan: Plan | None, now: datetime, *, absorb_surplus: bool = False) -> PlanNow:
    """What the plan asks of each unit in the step in force at ``now``: its power, and as a
    reserve the energy the plan still draws from it later (the largest fall of its planned
    state of charge below the end of this step), which following the plan never spends
    now. No plan, or one whose steps are all past: every unit idle, no reserve."""
    k = None if plan is None else _step_at(plan, now)
    if plan is None or k is None:
        return PlanNow(absorb_surplus=absorb_surplus)
    setpoints: dict[str, float] = {}
    reserves: dict[str, float] = {}
    for unit_id, steps in plan.storage.items():
        setpoints[unit_id] = steps.power_w[k]
        later = steps.soc_wh[k + 1 :]
        drawdown = max((steps.soc_wh[k] - soc for soc in later), default=0.0)
        reserves[unit_id] = max(0.0, drawdown)
    return PlanNow(setpoints_w=setpoints, reserve_wh=reserves, absorb_surplus=absorb_surplus)


def planned_then(
    plan: Plan | None, unit_id: str, setpoint_w: float, now: datetime, until: datetime
) -> tuple[datetime, float] | None:
    """Where the plan's step changes before ``until``: the first such edge and the unit's
    setpoint from it, the lower (more discharge) of the plan's there and ``setpoint_w``.
    The unit switches on its own clock at the edge (a cap's start the plan discharges
    for), not a controller step and a round trip after it (decision 0926); the lower of the
    two keeps any peak shaving the controller adds now, and at an edge where the plan
    discharges less the controller's step right after it lowers the discharge."""
    if plan is None or unit_id not in plan.storage:
        return None
    grid = plan.grid
    for k in range(grid.n_steps):
        start = grid.step_start(k)
        if start <= now:
            continue
        if start >= until:
            return None
        planned = plan_now(plan, start).setpoints_w.get(unit_id, 0.0)
        if planned < setpoint_w:
            return (start, planned)
        return None
    return None


def setpoint_schedule(
    station_id: str,
    evse_id: int,
    setpoint_w: float | None,
    *,
    now: datetime,
    validity_s: float,
    stack_level: int,
    then: tuple[datetime, float] | None = None,
) -> ChargingLimit:
    """A short 2.1 ``TxDefaultProfile`` for one unit: ``CentralSetpoint`` at ``setpoint_w``
    (``None``: ``Idle``) from ``now`` for ``validity_s``, switching to the setpoint of
    ``then`` at its instant (a second period, when it falls inside the schedule); when it
    runs out the unit is Idle, so a controller that stops leaves no unit charging or
    discharging for long."""
    start = now.replace(microsecond=0)
    end = start + timedelta(seconds=validity_s)

    def period(start_s: int, watts: float | None) -> tuple[tuple[int, float, None], V2XPeriod]:
        # the charging-only view of the setpoint (never negative); the V2X period says it all
        plain = (start_s, 0.0 if watts is None else max(0.0, round(watts, 1)), None)
        if watts is None:
            return plain, V2XPeriod(start_s=start_s, mode="Idle")
        return plain, V2XPeriod(start_s=start_s, mode="CentralSetpoint", setpoint=round(watts, 1))

    periods = [period(0, setpoint_w)]
    if then is not None and setpoint_w is not None:
        offset_s = math.ceil((then[0] - start).total_seconds())
        if 0 < offset_s < validity_s:
            periods.append(period(offset_s, then[1]))
    return ChargingLimit(
        station_id=station_id,
        evse_id=evse_id,
        unit=ChargingRateUnit.WATT,
        schedule=tuple(p for p, _ in periods),
        purpose="TxDefaultProfile",
        stack_level=stack_level,
        profile_id=PROFILE_ID,
        start_at=start,
        valid_to=end,
        v2x=tuple(v for _, v in periods),
    )


def resend_due(
    sent: Sent | None,
    setpoint_w: float | None,
    *,
    now: datetime,
    deadband_w: float,
    renew_before_s: float,
    then: tuple[datetime, float] | None = None,
) -> bool:
    """Whether a unit needs a new schedule: none accepted yet, Idle against a setpoint (or
    back), a setpoint that moved more than ``deadband_w``, a planned switch (``then``) the
    one in force does not hold, or the one in force running out within ``renew_before_s``."""
    if sent is None:
        return True
    if (sent.valid_to - now).total_seconds() <= renew_before_s:
        return True
    if then is not None and then[0] < sent.valid_to:
        if sent.then is None or sent.then[0] != then[0]:
            return True
        if abs(sent.then[1] - then[1]) > deadband_w:
            return True
    if (sent.setpoint_w is None) != (setpoint_w is None):
        return True
    if sent.setpoint_w is None or setpoint_w is None:
        return False
    return abs(sent.setpoint_w - setpoint_w) > deadband_w
