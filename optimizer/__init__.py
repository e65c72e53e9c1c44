"""The charging planner: a site LP (Pyomo definition, direct HiGHS hot path), a rolling-horizon
planner with a proportional-share fallback, and OCPP charging profiles from the plan.

``optimizer`` never imports ``csms``: it takes plain validated inputs and returns a plan.
"""

from __future__ import annotations

from optimizer.compiled import Compiled, compile_problem
from optimizer.exceptions import (
    InfeasibleSchedule,
    InvalidProblem,
    OptimizerError,
    SolveFailed,
    SolverTimeout,
    SolverUnavailable,
)
from optimizer.fastlp import solve_direct
from optimizer.inputs import (
    CurrentLimit,
    DeviceDimming,
    Evse,
    FlexibleLoad,
    LimitNode,
    NodeCap,
    Phase,
    PvPlant,
    Session,
    Setpoint,
    StorageUnit,
    Tariff,
)
from optimizer.model import build_model, solve_pyomo
from optimizer.plan import EvsePlan, FlexibleLoadPlan, NodePlan, Plan, StoragePlan, check_limits
from optimizer.planner import Planner, PlannerConfig, fallback_plan, solve
from optimizer.problem import Problem, TimeGrid
from optimizer.profiles import (
    ProfileRequest,
    safe_evse_limits_w,
    to_charging_profiles,
    to_fallback_profiles,
)

__all__ = [
    "Compiled",
    "CurrentLimit",
    "DeviceDimming",
    "Evse",
    "EvsePlan",
    "FlexibleLoad",
    "FlexibleLoadPlan",
    "InfeasibleSchedule",
    "InvalidProblem",
    "LimitNode",
    "NodeCap",
    "NodePlan",
    "OptimizerError",
    "Phase",
    "Plan",
    "Planner",
    "PlannerConfig",
    "Problem",
    "ProfileRequest",
    "PvPlant",
    "Session",
    "Setpoint",
    "SolveFailed",
    "SolverTimeout",
    "SolverUnavailable",
    "StoragePlan",
    "StorageUnit",
    "Tariff",
    "TimeGrid",
    "build_model",
    "check_limits",
    "compile_problem",
    "fallback_plan",
    "safe_evse_limits_w",
    "solve",
    "solve_direct",
    "solve_pyomo",
    "to_charging_profiles",
    "to_fallback_profiles",
]
