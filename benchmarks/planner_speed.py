"""Planner speed: rolling-horizon re-plans and a full-day offline solve at scale.

Re-plans: every EVSE of a synthetic site has an EV plugged in, the planner re-plans every
15 minutes over a 96-step (24 h) horizon, delivered energy is carried from one plan to the next;
an EVSE whose EV left gets a new one at the next re-plan (arrivals and departures change the
LP between solves). Each re-plan's problem is solved twice in the same run: by the planner
warm-started from its previous basis (the default) and by a planner that always solves cold
(``warm_start=False``, the baseline); the objectives must agree. Offline: one session per
EVSE arriving during the day, 288 five-minute steps, solved once end to end. A second
baseline is the naive MPC step: build the Pyomo model and solve it (``backend="pyomo"``).
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
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.planner_sites import DAY0, big_site
from optimizer import Planner, PlannerConfig, Problem, Session

RESULTS = Path(__file__).resolve().parent / "results"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _advance(
    problem: Problem, plan_power: dict[str, tuple[float, ...]], step_s: float, rng: random.Random
) -> Problem:
    """The next re-plan's problem: one step later, energy delivered, departed EVs gone and a
    new EV plugged in at each EVSE that was free (arrived during the step)."""
    start = problem.grid.start + timedelta(seconds=step_s)
    horizon_h = step_s * problem.grid.n_steps / 3600.0
    sessions = []
    for s in problem.sessions:
        if s.departure <= start:
            continue
        delivered = plan_power[s.session_id][0] * step_s / 3600.0
        sessions.append(
            dataclasses.replace(s, energy_delivered_wh=s.energy_delivered_wh + delivered)
        )
    busy = {s.evse_id for s in sessions}
    for evse in problem.evses:
        if evse.evse_id not in busy and rng.random() < 0.8:
            arrival = start - timedelta(seconds=rng.uniform(0, step_s))
            departure = start + timedelta(hours=rng.uniform(1, horizon_h))
            wh = rng.uniform(5e3, 40e3)
            sessions.append(
                Session(f"{evse.evse_id}@{start:%H%M}", evse.evse_id, arrival, departure, wh)
            )
    grid = dataclasses.replace(problem.grid, start=start)
    prices = problem.tariff.import_price_per_kwh
    tariff = dataclasses.replace(problem.tariff, import_price_per_kwh=prices[1:] + prices[:1])
    return dataclasses.replace(problem, grid=grid, sessions=tuple(sessions), tariff=tariff)


def _stations(problem: Problem) -> int:
    return len({e.station_id for e in problem.evses})


def _p50(values: list[float]) -> float:
    return statistics.median(values)


def _summary(times: list[float]) -> dict[str, float]:
    return {"p50_s": _p50(times), "p95_s": _p95(times), "max_s": max(times),
            "mean_s": statistics.mean(times)}  # fmt: skip


def replans(n_evses: int, count: int, seed: int, *, cold_baseline: bool) -> dict[str, object]:
    problem = big_site(n_evses=n_evses, start=DAY0, step_s=900.0, n_steps=96, seed=seed,
                       all_plugged=True)  # fmt: skip
    rng = random.Random(seed)
    warm_planner = Planner(PlannerConfig(time_limit_s=30.0))
    cold_planner = Planner(PlannerConfig(time_limit_s=30.0, warm_start=False))
    rows = []
    for k in range(count):
        began, cpu = time.perf_counter(), time.process_time()
        plan = warm_planner.plan(problem)
        took, cpu = time.perf_counter() - began, time.process_time() - cpu
        row: dict[str, object] = {
            "replan": k, "stations": _stations(problem), "evses": len(problem.evses),
            "active_evs": len(problem.sessions), "steps": problem.grid.n_steps,
            "time_s": took, "cpu_s": cpu, "solver_s": plan.solve_time_s, "status": plan.status,
            "start": plan.solver_start, "objective": plan.objective,
        }  # fmt: skip
        line = (f"  re-plan {k:2d}: {_stations(problem)} stations, {len(problem.evses)} EVSEs, "
                f"{len(problem.sessions)} active EVs x {problem.grid.n_steps} steps: "
                f"{took:.3f} s end to end, {cpu:.3f} s CPU "
                f"({plan.status}, {plan.solver_start})")  # fmt: skip
        if cold_baseline:
            began, cpu = time.perf_counter(), time.process_time()
            cold = cold_planner.plan(problem)
            row["cold_time_s"] = time.perf_counter() - began
            row["cold_cpu_s"] = time.process_time() - cpu
            row["cold_objective"] = cold.objective
            gap = abs((plan.objective or 0.0) - (cold.objective or 0.0))
            row["objective_rel_diff"] = gap / max(abs(cold.objective or 1.0), 1e-9)
            line += (f"; cold {row['cold_time_s']:.3f} s ({row['cold_cpu_s']:.3f} s CPU), "
                     f"objective rel. diff "
                     f"{row['objective_rel_diff']:.1e}")  # fmt: skip
        print(line, flush=True)
        rows.append(row)
        problem = _advance(problem, plan.load_power_w, 900.0, rng)
    out: dict[str, object] = {"rows": rows}
    times = [float(r["time_s"]) for r in rows]  # type: ignore[arg-type]
    cpus = [float(r["cpu_s"]) for r in rows]  # type: ignore[arg-type]
    out["all"] = _summary(times)
    out["after_first"] = _summary(times[1:] or times)
    out["cpu_all"] = _summary(cpus)
    out["cpu_after_first"] = _summary(cpus[1:] or cpus)
    if cold_baseline:
        out["cold"] = _summary([float(r["cold_time_s"]) for r in rows])  # type: ignore[arg-type]
        out["cold_cpu"] = _summary([float(r["cold_cpu_s"]) for r in rows])  # type: ignore[arg-type]
        out["max_objective_rel_diff"] = max(float(r["objective_rel_diff"]) for r in rows)  # type: ignore[arg-type]
    return out


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
    parser.add_argument("--replans", type=int, default=24, help="consecutive re-plans (24)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-cold", action="store_true", help="skip solving each re-plan cold as well"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the Pyomo baseline")
    parser.add_argument("--no-offline", action="store_true", help="skip the full-day solve")
    args = parser.parse_args(argv)
    print(f"planner speed, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    out: dict[str, object] = {"evses": args.evses}
    print("rolling-horizon re-plans (direct highspy path; warm = from the previous basis, "
          "the default; cold = the same problem solved from scratch):")  # fmt: skip
    rp = replans(args.evses, args.replans, args.seed, cold_baseline=not args.no_cold)
    out["replans"] = rp
    rows: list[dict[str, Any]] = rp["rows"]  # type: ignore[assignment]
    active = [int(r["active_evs"]) for r in rows]
    span = f"{rows[0]['stations']} stations, {min(active)}-{max(active)} active EVs x 96 steps"

    def show(label: str, stats: dict[str, float]) -> None:
        print(f"  => {label} ({span}): p50 {stats['p50_s']:.3f} s, p95 {stats['p95_s']:.3f} s, "
              f"max {stats['max_s']:.3f} s")  # fmt: skip

    first = f"all {len(rows)} re-plans (the first is cold: no previous basis)"
    show(f"planner, wall, {first}", rp["all"])  # type: ignore[arg-type]
    show("planner, wall, re-plans after the first", rp["after_first"])  # type: ignore[arg-type]
    show(f"planner, CPU, {first}", rp["cpu_all"])  # type: ignore[arg-type]
    show("planner, CPU, re-plans after the first", rp["cpu_after_first"])  # type: ignore[arg-type]
    if "cold" in rp:
        show("cold baseline, wall, same problems", rp["cold"])  # type: ignore[arg-type]
        show("cold baseline, CPU, same problems", rp["cold_cpu"])  # type: ignore[arg-type]
        print(f"  warm vs cold objective: largest relative difference "
              f"{rp['max_objective_rel_diff']:.1e}")  # fmt: skip
    print("  (goal: p95 < 1 s for 1,000 EVs x 96 steps)")
    if not args.no_offline:
        print("full-day offline solve:")
        out["offline"] = offline(args.evses, args.seed, "direct")
        print("  (goal: under 10 s for 1,000 EVs x 288 steps)")
    if not args.no_baseline:
        base = baseline_replan(args.evses, args.seed)
        out["baseline"] = base
        ratio = float(base["time_s"]) / float(rows[0]["time_s"])
        out["speedup_vs_pyomo_rebuild"] = ratio
        print(f"  direct path (cold) vs Pyomo rebuild, same instance: {ratio:.1f}x faster")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "planner_speed.json"
    path.write_text(json.dumps(out, indent=1, default=str))
    print(f"results written to benchmarks/results/{path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
