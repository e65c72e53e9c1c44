"""The charging planner: a site LP (Pyomo definition, direct HiGHS hot path), a rolling-horizon
planner with a proportional-share fallback, and the safe per-EVSE limits of a site.

``optimizer`` never imports ``csms``: it takes plain validated inputs and returns a plan.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optimizer.compiled import Compiled, compile_problem
    from optimizer.direct import solve_direct
    from optimizer.exceptions import (
        InfeasibleSchedule,
        InvalidProblem,
        OptimizerError,
        SolveFailed,
        SolverTimeout,
        SolverUnavailable,
    )
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
    from optimizer.safe_limits import safe_evse_limits_w
    from optimizer.swap import PackJob, RackPlan, SwapRack

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
    "PackJob",
    "Phase",
    "Plan",
    "Planner",
    "PlannerConfig",
    "Problem",
    "PvPlant",
    "RackPlan",
    "Session",
    "Setpoint",
    "SolveFailed",
    "SolverTimeout",
    "SolverUnavailable",
    "StoragePlan",
    "StorageUnit",
    "SwapRack",
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
]

# Names resolve on first use, so importing a submodule (``optimizer.cli`` for
# ``chargegrid --help``) does not load Pyomo, highspy or numpy.
_MODULES = {
    "Compiled": "optimizer.compiled",
    "CurrentLimit": "optimizer.inputs",
    "DeviceDimming": "optimizer.inputs",
    "Evse": "optimizer.inputs",
    "EvsePlan": "optimizer.plan",
    "FlexibleLoad": "optimizer.inputs",
    "FlexibleLoadPlan": "optimizer.plan",
    "InfeasibleSchedule": "optimizer.exceptions",
    "InvalidProblem": "optimizer.exceptions",
    "LimitNode": "optimizer.inputs",
    "NodeCap": "optimizer.inputs",
    "NodePlan": "optimizer.plan",
    "OptimizerError": "optimizer.exceptions",
    "PackJob": "optimizer.swap",
    "Phase": "optimizer.inputs",
    "Plan": "optimizer.plan",
    "Planner": "optimizer.planner",
    "PlannerConfig": "optimizer.planner",
    "Problem": "optimizer.problem",
    "PvPlant": "optimizer.inputs",
    "RackPlan": "optimizer.swap",
    "Session": "optimizer.inputs",
    "Setpoint": "optimizer.inputs",
    "SolveFailed": "optimizer.exceptions",
    "SolverTimeout": "optimizer.exceptions",
    "SolverUnavailable": "optimizer.exceptions",
    "StoragePlan": "optimizer.plan",
    "StorageUnit": "optimizer.inputs",
    "SwapRack": "optimizer.swap",
    "Tariff": "optimizer.inputs",
    "TimeGrid": "optimizer.problem",
    "build_model": "optimizer.model",
    "check_limits": "optimizer.plan",
    "compile_problem": "optimizer.compiled",
    "fallback_plan": "optimizer.planner",
    "safe_evse_limits_w": "optimizer.safe_limits",
    "solve": "optimizer.planner",
    "solve_direct": "optimizer.direct",
    "solve_pyomo": "optimizer.model",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'optimizer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
