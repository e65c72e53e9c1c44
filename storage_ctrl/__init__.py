"""Real-time control of a site's storage units on top of the plan.

:func:`step` is the control law: pure, one call per site every few seconds, measurements and
the plan in, setpoints out (peak shaving, PV absorption, the plan's reserve, SoC, power and
ramp limits). ``storage_ctrl`` never imports ``csms``: the central system runs the law and
sends its setpoints as OCPP 2.1 ``CentralSetpoint`` schedules.
"""

from __future__ import annotations

from storage_ctrl.exceptions import InvalidInput, StorageControlError
from storage_ctrl.inputs import (
    ControlSettings,
    Measurements,
    PlanNow,
    SiteLimits,
    UnitRating,
    UnitReading,
)
from storage_ctrl.law import Correction, Decision, Excluded, Reason, UnitSetpoint, step

__all__ = [
    "ControlSettings",
    "Correction",
    "Decision",
    "Excluded",
    "InvalidInput",
    "Measurements",
    "PlanNow",
    "Reason",
    "SiteLimits",
    "StorageControlError",
    "UnitRating",
    "UnitReading",
    "UnitSetpoint",
    "step",
]
