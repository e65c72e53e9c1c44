from __future__ import annotations

import optimizer


def test_public_api() -> None:
    assert optimizer.__all__ == [
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
    for name in optimizer.__all__:
        assert hasattr(optimizer, name)


def test_optimizer_does_not_import_csms() -> None:
    import subprocess
    import sys

    code = (
        "import sys, optimizer.planner, optimizer.safe_limits, optimizer.scenario, optimizer.plot,"
        " optimizer.cli;"
        "print(any(m.startswith('csms') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_module_is_light() -> None:
    """``chargegrid --help`` imports optimizer.cli: it must not load the solver stack."""
    import subprocess
    import sys

    code = (
        "import sys, optimizer.cli;"
        "print(sorted(m for m in ('pyomo', 'highspy', 'numpy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
