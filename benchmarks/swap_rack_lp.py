"""What swap racks cost the planner: a 1,000-EVSE re-plan (96 x 15-min steps, every EVSE
occupied; ``benchmarks/planner_sites.big_site``) solved without racks, the baseline in the
same run, and with 1 and 4 swap racks of 20 packs under the grid connection, each with a swap
forecast every 20 minutes (72 swaps in the horizon: 92 pack jobs per rack). Reported: the LP's
columns and rows, the cold solve's wall and CPU time (the least of ``--repeats``), HiGHS's
simplex iterations (independent of the machine's load), each with its ratio to the baseline,
and the swaps the plan cannot ready.

    python benchmarks/swap_rack_lp.py                 # 1,000 EVSEs
    python benchmarks/swap_rack_lp.py --evses 200     # quicker
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.planner_sites import DAY0, big_site
from optimizer import PlannerConfig, Problem, SwapRack, compile_problem, solve, solve_direct
from optimizer.fastlp import build_lp

RESULTS = Path(__file__).resolve().parent / "results"


def _with_racks(base: Problem, racks: int) -> Problem:
    start = base.grid.start
    swaps = tuple(start + timedelta(minutes=20 * j + 10) for j in range(72))
    rack_list = tuple(
        SwapRack(
            f"rack{r}",
            "grid",
            pack_soc_pct=tuple(float((13 * k + 7 * r) % 90 + 5) for k in range(20)),
            pack_capacity_wh=60_000.0,
            max_pack_power_w=20_000.0,
            max_rack_power_w=150_000.0,
            ready_soc_pct=90.0,
            swap_times=swaps,
        )
        for r in range(racks)
    )
    return dataclasses.replace(base, swap_racks=rack_list)


def _measure(problem: Problem, repeats: int) -> dict[str, Any]:
    cp = compile_problem(problem)
    lp = build_lp(cp)
    iterations = solve_direct(cp, time_limit_s=120).iterations  # load-independent
    walls, cpus = [], []
    plan = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        plan = solve(problem, PlannerConfig(warm_start=False, time_limit_s=120))
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    assert plan is not None and plan.status == "optimal", plan and plan.reason
    return {
        "columns": lp.n_cols,
        "rows": lp.n_rows,
        "wall_s": min(walls),
        "cpu_s": min(cpus),
        "iterations": iterations,
        "unready_swaps": sum(len(r.unready_swaps) for r in plan.swap_racks.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evses", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    base = big_site(n_evses=args.evses, start=DAY0 + timedelta(hours=8), step_s=900,
                    n_steps=96, seed=7, all_plugged=True)  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    for racks in (0, 1, 4):
        rows[f"{racks} racks"] = row = _measure(_with_racks(base, racks), args.repeats)
        for key in ("wall_s", "cpu_s", "iterations"):
            row[f"{key.removesuffix('_s')}_ratio"] = row[key] / rows["0 racks"][key]
        print(f"{racks} racks: {row['columns']} columns, {row['rows']} rows, "
              f"wall {row['wall_s']:.3f} s (x{row['wall_ratio']:.2f}), "
              f"cpu {row['cpu_s']:.3f} s (x{row['cpu_ratio']:.2f}), "
              f"{row['iterations']} iterations (x{row['iterations_ratio']:.2f}), "
              f"{row['unready_swaps']} swaps unready")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    out = {"evses": args.evses, "repeats": args.repeats, "load": os.getloadavg(),
           "machine": platform.platform(), "rows": rows}  # fmt: skip
    path = RESULTS / "swap_rack_lp.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"results written to benchmarks/results/{path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
