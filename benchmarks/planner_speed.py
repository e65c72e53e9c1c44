"""Planner speed: rolling-horizon re-plans and a full-day offline solve at scale.

Re-plans: every EVSE of a synthetic site has an EV plugged in, the planner re-plans every
15 minutes over a 96-step (24 h) horizon, delivered energy is carried from one plan to the next
and the previous solution warm-starts the next solve. Offline: one session per EVSE arriving
during the day, 288 five-minute steps, solved once end to end. The baseline, measured in the
same run, is the naive MPC step: build the Pyomo model and solve it (``backend="pyomo"``).
Every time is printed with the station and active-EV counts beside it.

    python benchmarks/planner_speed.py                # the full run (a few minutes)
    python benchmarks/planner_speed.py --evses 200    # quicker
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.planner_sites import DAY0, big_site
from optimizer import Planner, PlannerConfig, Problem

RESULTS = Path(__file__).resolve().parent / "results"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _advance(problem: Problem, plan_power: dict[str, tuple[float, ...]], step_s: float) -> Problem:
    """The next re-plan's problem: one step later, energy delivered, departed EVs gone."""
    start = problem.grid.start + timedelta(seconds=step_s)
    sessions = []
    for s in problem.sessions:
        if s.departure <= start:
            continue
        delivered = plan_power[s.session_id][0] * step_s / 3600.0
        sessions.append(
            dataclasses.replace(s, energy_delivered_wh=s.energy_delivered_wh + delivered)
        )
    grid = dataclasses.replace(problem.grid, start=start)
    prices = problem.tariff.import_price_per_kwh
    tariff = dataclasses.replace(problem.tariff, import_price_per_kwh=prices[1:] + prices[:1])
    return dataclasses.replace(problem, grid=grid, sessions=tuple(sessions), tariff=tariff)


def _stations(problem: Problem) -> int:
    return len({e.station_id for e in problem.evses})


def replans(n_evses: int, count: int, seed: int, *, warm: bool) -> dict[str, object]:
    problem = big_site(n_evses=n_evses, start=DAY0, step_s=900.0, n_steps=96, seed=seed,
                       all_plugged=True)  # fmt: skip
    planner = Planner(PlannerConfig(time_limit_s=30.0, warm_start=warm))
    rows = []
    for k in range(count):
        began = time.perf_counter()
        plan = planner.plan(problem)
        took = time.perf_counter() - began
        rows.append({"replan": k, "stations": _stations(problem), "evses": len(problem.evses),
                     "active_evs": len(problem.sessions), "steps": problem.grid.n_steps,
                     "time_s": took, "solver_s": plan.solve_time_s,
                     "status": plan.status})  # fmt: skip
        print(f"  re-plan {k}: {_stations(problem)} stations, {len(problem.evses)} EVSEs, "
              f"{len(problem.sessions)} active EVs x {problem.grid.n_steps} steps: {took:.3f} s "
              f"end to end ({plan.status})", flush=True)  # fmt: skip
        problem = _advance(problem, plan.load_power_w, 900.0)
    times = [r["time_s"] for r in rows]
    warm = times[1:] or times
    return {"rows": rows, "mean_s": statistics.mean(times), "p95_s": _p95(times),
            "max_s": max(times), "cold_s": times[0], "warm_mean_s": statistics.mean(warm),
            "warm_p95_s": _p95(warm)}  # fmt: skip


def offline(n_evses: int, seed: int, backend: str) -> dict[str, object]:
    began = time.perf_counter()
    problem = big_site(n_evses=n_evses, start=DAY0, step_s=300.0, n_steps=288, seed=seed,
                       all_plugged=False)  # fmt: skip
    plan = Planner(PlannerConfig(backend=backend, time_limit_s=600.0, round_first_step=False)).plan(
        problem
    )
    took = time.perf_counter() - began
    print(f"  offline ({backend}): {_stations(problem)} stations, {len(problem.evses)} EVSEs, "
          f"{len(problem.sessions)} EVs over the day x 288 steps: {took:.3f} s end to end "
          f"({plan.status})", flush=True)  # fmt: skip
    return {"backend": backend, "stations": _stations(problem), "evses": len(problem.evses),
            "sessions": len(problem.sessions), "steps": 288, "time_s": took,
            "status": plan.status}  # fmt: skip


def baseline_replan(n_evses: int, seed: int) -> dict[str, object]:
    problem = big_site(n_evses=n_evses, start=DAY0, step_s=900.0, n_steps=96, seed=seed,
                       all_plugged=True)  # fmt: skip
    began = time.perf_counter()
    plan = Planner(PlannerConfig(backend="pyomo", time_limit_s=600.0)).plan(problem)
    took = time.perf_counter() - began
    print(f"  baseline (Pyomo build + appsi_highs): {_stations(problem)} stations, "
          f"{len(problem.sessions)} active EVs x 96 steps: {took:.3f} s ({plan.status})",
          flush=True)  # fmt: skip
    return {"stations": _stations(problem), "active_evs": len(problem.sessions),
            "time_s": took, "status": plan.status}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evses", type=int, default=1000, help="EVSEs = plugged-in EVs (1000)")
    parser.add_argument("--replans", type=int, default=12, help="consecutive re-plans (12)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--warm-start",
        action="store_true",
        help="seed HiGHS with the previous solution (measured slower)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the Pyomo baseline")
    parser.add_argument("--no-offline", action="store_true", help="skip the full-day solve")
    args = parser.parse_args(argv)
    print(f"planner speed, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    out: dict[str, object] = {"evses": args.evses}
    print(f"rolling-horizon re-plans (direct highspy path, warm start {args.warm_start}):")
    rp = replans(args.evses, args.replans, args.seed, warm=args.warm_start)
    out["replans"] = rp
    print(f"  => mean {rp['mean_s']:.3f} s, p95 {rp['p95_s']:.3f} s, max {rp['max_s']:.3f} s "
          f"(goal: p95 < 1 s for 1,000 EVs x 96 steps)")  # fmt: skip
    if not args.no_offline:
        print("full-day offline solve:")
        out["offline"] = offline(args.evses, args.seed, "direct")
        print("  (goal: under 10 s for 1,000 EVs x 288 steps)")
    if not args.no_baseline:
        base = baseline_replan(args.evses, args.seed)
        out["baseline"] = base
        ratio = float(base["time_s"]) / float(rp["cold_s"])  # type: ignore[arg-type]
        out["speedup_vs_pyomo_rebuild"] = ratio
        print(f"  direct path vs Pyomo rebuild, same instance: {ratio:.1f}x faster")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "planner_speed.json"
    path.write_text(json.dumps(out, indent=1, default=str))
    print(f"results written to benchmarks/results/{path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
