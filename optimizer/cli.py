"""``chargegrid optimize``: solve a scenario file offline, print the plan, draw it.

Heavy imports (Pyomo, highspy, matplotlib) happen inside the command, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

__all__ = ["add_commands"]

logger = logging.getLogger(__name__)


def _time_limit_s(text: str) -> float:
    """A solver time limit: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (0 < value <= 86_400):
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 86400 s, not {text}")
    return value


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "optimize",
        help="plan a scenario file offline and optionally draw the plan",
        description="Solve a scenario (JSON, see docs/optimizer.md) with the charging planner, "
        "print a summary, and optionally draw the plan or write it as JSON.",
    )
    parser.add_argument("--scenario", required=True, metavar="FILE", help="scenario JSON file")
    parser.add_argument("--plot", metavar="PNG", help="draw the plan to this image file")
    parser.add_argument("--json", metavar="OUT", help="write the plan as JSON to this file")
    parser.add_argument(
        "--backend",
        choices=["direct", "pyomo"],
        default="direct",
        help="direct: numpy + highspy (fast); pyomo: the Pyomo model (default direct)",
    )
    parser.add_argument(
        "--solver", default="appsi_highs", help="Pyomo solver name (default appsi_highs)"
    )
    parser.add_argument(
        "--time-limit-s",
        type=_time_limit_s,
        default=60.0,
        help="solver time limit (default 60)",
    )
    parser.set_defaults(func=_optimize)


def _optimize(args: argparse.Namespace) -> int:
    import dataclasses

    from optimizer.exceptions import InvalidProblem
    from optimizer.planner import PlannerConfig, solve
    from optimizer.scenario import load_scenario

    try:
        problem = load_scenario(args.scenario)
    except (InvalidProblem, OSError) as exc:
        print(f"chargegrid optimize: {exc}", file=sys.stderr)
        return 2
    config = PlannerConfig(
        backend=args.backend, solver_name=args.solver, time_limit_s=args.time_limit_s
    )
    plan = solve(problem, config)
    shortfall_kwh = sum(plan.shortfall_wh.values()) / 1000.0
    print(
        f"status {plan.status} ({plan.backend}, {plan.solve_time_s:.3f} s)"
        + (f": {plan.reason}" if plan.reason else "")
    )
    print(
        f"energy cost {plan.energy_cost:.2f}, demand charge {plan.demand_charge_cost:.2f}, "
        f"storage wear {plan.degradation_cost:.2f}, total {plan.total_cost:.2f}"
    )
    print(f"peak import {plan.peak_import_w / 1000.0:.2f} kW, shortfall {shortfall_kwh:.2f} kWh")
    for load_id, wh in plan.shortfall_wh.items():
        if wh > 1e-3:
            print(f"  {load_id}: {wh / 1000.0:.2f} kWh short")
    if args.json:
        data: dict[str, Any] = dataclasses.asdict(plan)
        data["grid"] = {"start": plan.grid.start.isoformat(),
                        "step_durations_s": list(plan.grid.step_durations_s)}  # fmt: skip
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, default=str)
        print(f"plan written to {args.json}")
    if args.plot:
        from optimizer.plot import plot_plan

        plot_plan(plan, problem, args.plot)
        print(f"plot written to {args.plot}")
    return 0 if plan.status == "optimal" else 1
