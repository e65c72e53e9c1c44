"""A simulated site day under the real central system (issue 15's "Measured" part).

A depot of 30 EVSEs (a share of the vehicles V2G), PV, two OCPP 2.1 storage units under
the central system's storage controller, one battery-swap station, a grid connection of
200 kW capped to 120 kW for two hours in the afternoon, and a fleet that wants more than
that (benchmarks/site_day_world.py), and a grid meter (an OCPP 2.1 station on EVSE 0,
every ``--grid-meter-s``; decision 0931). Each run drives the real CSMS with the simulators on a
virtual clock and meters the site from the devices' own state
(benchmarks/site_day_run.py); it reports the import peak, the energy delivered to the EVs,
swaps served (and those that found no ready pack, and whether the forecast promised one),
cost, seconds over the cap in force, and the checks (benchmarks/site_day_books.py): import
over the cap in force for no more than one control interval, energy conserved within 1 %,
every unit's SoC within its bounds, every promised swap served.

Runs: with and without storage control x with and without V2G (the baseline is the run
without either, measured in the same invocation). Prints a table and writes JSON
(benchmarks/results/site_day.json by default).

    nice -n 10 python benchmarks/site_day.py
    nice -n 10 python benchmarks/site_day.py --stations 3 --scale 0.3 --start-h 13 --hours 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.site_day_faults import FAILURE_RUNS, FAULTS, subprocess_central
from benchmarks.site_day_run import DayOptions, DayResult, RunSpec, in_process, run_day
from benchmarks.site_day_world import DayShape

__all__ = ["MATRIX", "main", "table"]

RESULTS = Path(__file__).resolve().parent / "results" / "site_day.json"

MATRIX = (
    RunSpec("baseline", storage_control=False, v2g=False),
    RunSpec("storage", storage_control=True, v2g=False),
    RunSpec("v2g", storage_control=False, v2g=True),
    RunSpec("storage+v2g", storage_control=True, v2g=True),
)

_COLUMNS = (
    ("run", "run", "{}"),
    ("import_peak_kw", "peak kW", "{:.1f}"),
    ("ev_energy_kwh", "EV kWh", "{:.0f}"),
    ("v2g_given_kwh", "V2G kWh", "{:.1f}"),
    ("swaps", "swaps", "{}"),
    ("swaps_no_ready_pack", "no pack", "{}"),
    ("cost", "cost", "{:.2f}"),
    ("seconds_over_cap", "s over cap", "{:.0f}"),
    ("longest_over_cap_s", "longest s", "{:.0f}"),
    ("longest_over_cap_less_stall_s", "less stalls s", "{:.0f}"),
    ("balance_error_pct", "balance %", "{:.2f}"),
    ("limit_held", "never over", "{}"),
    ("passed", "checks", "{}"),
    ("wall_s", "wall s", "{:.0f}"),
)


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The figures as a fixed-width text table."""
    cells = [[title for _, title, _ in _COLUMNS]]
    for row in rows:
        line = []
        for key, _, fmt in _COLUMNS:
            value = row[key]
            if key == "passed":
                value = "ok" if value else "FAILED: " + ", ".join(_failed(row))
            line.append(fmt.format(value))
        cells.append(line)
    widths = [max(len(c[i]) for c in cells) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells)


def _failed(row: dict[str, Any]) -> list[str]:
    names = ("cap_held", "energy_conserved", "soc_in_bounds", "swaps_served")
    return [n for n in names if not row[n]]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python benchmarks/site_day.py",
        description="A simulated site day (EVs, V2G, PV, storage, battery swaps, an afternoon "
        "grid cap) under the real central system on a virtual clock: with and without "
        "storage control and V2G.",
    )
    p.add_argument("--stations", type=int, default=15, help="charging stations, 2 EVSEs each")
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="scale every power of the site (grid, cap, PV, storage) by this",
    )
    p.add_argument("--start-h", type=float, default=0.0, help="the run starts at this hour")
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours per run")
    p.add_argument("--speed", type=float, default=600.0, help="virtual clock speed")
    p.add_argument(
        "--control-s",
        type=float,
        default=30.0,
        help="storage controller interval (virtual s): the cap check's allowance",
    )
    p.add_argument("--meter-s", type=float, default=30.0, help="meter values interval (virtual s)")
    p.add_argument(
        "--sample-s",
        type=float,
        default=10.0,
        help="the harness's site meter samples this often (virtual s)",
    )
    p.add_argument(
        "--grid-meter-s",
        type=float,
        default=5.0,
        help="the site's grid meter (an OCPP 2.1 station on EVSE 0) reports this often "
        "(virtual s); 0: the site has no grid meter",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--runs",
        default=",".join(r.name for r in MATRIX),
        help="comma-separated runs to do (default: the 2x2 matrix); the failure runs, "
        "each on storage control with V2G: " + ", ".join(r.name for r in FAILURE_RUNS),
    )
    p.add_argument("--json", type=Path, default=RESULTS, help="where to write the figures")
    p.add_argument("--progress", action="store_true", help="print the fleet's progress")
    args = p.parse_args(argv)
    for name in ("stations", "speed", "hours", "control_s", "meter_s", "sample_s", "scale"):
        if not getattr(args, name) > 0:
            p.error(f"--{name.replace('_', '-')} must be above 0")
    if not (args.grid_meter_s >= 0 and math.isfinite(args.grid_meter_s)):
        p.error("--grid-meter-s must be 0 or above")
    if not 0 <= args.start_h < 24:
        p.error("--start-h must be in 0..24")
    known = {r.name for r in (*MATRIX, *FAILURE_RUNS)}
    unknown = set(args.runs.split(",")) - known
    if unknown:
        p.error(f"unknown run(s) {', '.join(sorted(unknown))}; choose from {', '.join(known)}")
    return args


def options(args: argparse.Namespace) -> DayOptions:
    shape = DayShape(stations=args.stations, seed=args.seed)
    if args.scale != 1.0:
        shape = shape.scaled(args.scale)
    return DayOptions(
        shape=shape,
        start_h=args.start_h,
        hours=args.hours,
        speed=args.speed,
        control_s=args.control_s,
        meter_s=args.meter_s,
        sample_s=args.sample_s,
        grid_meter_s=args.grid_meter_s or None,
    )


async def run_all(args: argparse.Namespace) -> list[DayResult]:
    opt = options(args)
    chosen = set(args.runs.split(","))
    out: list[DayResult] = []
    say = (lambda line: print(line, file=sys.stderr)) if args.progress else None
    for spec in (*MATRIX, *FAILURE_RUNS):
        if spec.name not in chosen:
            continue
        fault = FAULTS[spec.failure] if spec.failure is not None else None
        central = subprocess_central if spec.failure == "kill" else in_process
        out.append(await run_day(spec, opt, fault=fault, central=central, progress=say))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    results = asyncio.run(run_all(args))
    rows = [r.figures() for r in results]
    print(table(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    conditions = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    args.json.write_text(json.dumps({"conditions": conditions, "runs": rows}, indent=2) + "\n")
    print(f"written to {args.json}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
