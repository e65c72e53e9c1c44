"""What the API's strict JSON reading costs per request.

Every API route reads its JSON body with :func:`csms.api.boundary.strict_loads` (hooks that
mark NaN, ±Infinity and numbers out of every range) and FastAPI validates that parse; before,
FastAPI parsed the body with :func:`json.loads` alone. This times both, in the same run, on
three bodies the API takes (a grid constraint, site readings with a day's PV forecast in
15-minute steps, a whole 40-station site), and reports the strict reader's time and its ratio
to ``json.loads`` (the baseline). The route hands its parse to FastAPI, so what a request pays
for the rule is the difference. A body that holds a refused number is parsed a second time
with every number hooked (to name the fields); that path is not timed here. Figures are
printed and saved to ``benchmarks/results/api_boundary.json``.

    python benchmarks/api_boundary.py --repeat 7
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _bodies() -> dict[str, str]:
    constraint = {
        "node_id": "grid",
        "kind": "cap",
        "start": "2026-03-02T16:00:00Z",
        "end": "2026-03-02T19:00:00Z",
        "max_import_w": 80000.0,
        "source": "dso-east",
        "priority": 5,
    }
    readings = {
        "pv": [
            {
                "pv_id": "roof",
                "power_w": 12345.6,
                "forecast": [
                    {
                        "start": f"2026-03-02T{h:02d}:{m:02d}:00Z",
                        "end": f"2026-03-02T{h:02d}:{m + 14:02d}:59Z",
                        "power_w": 100.0 * (h * 4 + m // 15),
                    }
                    for h in range(24)
                    for m in (0, 15, 30, 45)
                ],
            }
        ],
        "storage": [{"storage_id": "bess", "power_w": -5000.0, "soc_pct": 55.5}],
    }
    site = {
        "id": "depot",
        "nodes": [
            {"id": "grid", "kind": "grid_connection", "max_import_w": 400000.0},
            *(
                {"id": f"feeder-{i}", "kind": "feeder", "parent": "grid", "max_import_w": 1e5}
                for i in range(4)
            ),
        ],
        "stations": [
            {
                "id": f"CP{i:03d}",
                "node": f"feeder-{i % 4}",
                "evses": [{"id": e, "max_current_a": 32.0, "min_current_a": 6.0} for e in (1, 2)],
            }
            for i in range(40)
        ],
    }
    return {
        "constraint": json.dumps(constraint),
        "readings_96_steps": json.dumps(readings),
        "site_40_stations": json.dumps(site),
    }


def _best_us(func: Any, number: int, repeat: int) -> float:
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number * 1e6


def main(argv: list[str] | None = None) -> int:
    from csms.api.boundary import strict_loads

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timing rounds (best is kept)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "api_boundary.json"))
    args = parser.parse_args(argv)
    rows = []
    for name, body in _bodies().items():
        raw = body.encode()
        number = max(50, 200_000 // len(raw))
        assert strict_loads(raw) == (json.loads(raw), [])  # same parse, nothing refused
        baseline = _best_us(lambda raw=raw: json.loads(raw), number, args.repeat)
        strict = _best_us(lambda raw=raw: strict_loads(raw), number, args.repeat)
        rows.append(
            {
                "body": name,
                "bytes": len(raw),
                "json_loads_us": round(baseline, 2),
                "strict_loads_us": round(strict, 2),
                "ratio": round(strict / baseline, 2),
            }
        )
        print(
            f"{name:>20}: {len(raw):6d} B  json.loads {baseline:8.1f} us  strict "
            f"{strict:8.1f} us  x{strict / baseline:.2f}"
        )
    result = {
        "benchmark": "api_boundary",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "repeat": args.repeat,
        "median_ratio": statistics.median(r["ratio"] for r in rows),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
