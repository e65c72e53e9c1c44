"""What the loads family sees of the flexible loads and the swap racks' pack jobs
(:mod:`optimizer.swap`), and the swap racks' own arrays; part of
:func:`optimizer.compiled.compile_problem`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from optimizer.problem import Problem
from optimizer.swap import rack_jobs

__all__ = ["FlexRow", "flexible_rows", "rack_arrays", "rack_coef"]


@dataclass(frozen=True, slots=True)
class FlexRow:
    """A flexible load or a swap rack's pack job, as the loads family sees it."""

    load_id: str
    node_id: str
    begin: datetime | None
    end: datetime
    max_kw: float
    need_kwh: float
    eff: float
    priority: float
    voltage_v: float
    rack: int  # -1: not a pack


def flexible_rows(problem: Problem) -> list[FlexRow]:
    """The flexible loads, then every swap rack's pack jobs (:mod:`optimizer.swap`)."""
    out = [
        FlexRow(f.load_id, f.node_id, f.available_from, f.ready_by, f.max_power_w / 1000.0,
                f.energy_wh / 1000.0, 1.0, f.priority, f.voltage_v, -1)
        for f in problem.flexible_loads
    ]  # fmt: skip
    for r, rack in enumerate(problem.swap_racks):
        out += [
            FlexRow(j.load_id, rack.node_id, j.available_from, j.ready_by,
                    rack.max_pack_power_w / 1000.0, j.energy_wh / 1000.0, rack.efficiency,
                    j.priority, rack.voltage_v, r)
            for j in rack_jobs(rack, problem.grid.start, problem.grid.end)
        ]  # fmt: skip
    return out


def rack_arrays(problem: Problem, n_steps: int) -> dict[str, Any]:
    """Each swap rack's pack jobs, which rack each load charges a pack of, and the rack's
    charge power limit per step (:func:`optimizer.model.add_rack_constraints`)."""
    jobs = tuple(rack_jobs(r, problem.grid.start, problem.grid.end) for r in problem.swap_racks)
    rows = [-1] * len(problem.sessions) + [f.rack for f in flexible_rows(problem)]
    cap = np.array([[r.max_rack_power_w / 1000.0] * n_steps for r in problem.swap_racks])
    return {
        "rack_pack_jobs": jobs,
        "rack_load": np.array(rows, dtype=np.int64),
        "rack_cap_kw": cap.reshape(-1, n_steps),
    }


def rack_coef(rack_load: npt.NDArray[np.int64], load_coef: npt.NDArray[np.float64],
              n_racks: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:  # fmt: skip
    """Per swap rack, one of its pack loads (-1: a rack with none) and the coefficient its
    packs have in ``load_coef`` (all alike: one node, voltage and phases; 0 without packs).
    The rack's power column enters the flows with it in its packs' place."""
    first = np.full(n_racks, -1, dtype=np.int64)
    packs = np.nonzero(rack_load >= 0)[0]
    first[rack_load[packs[::-1]]] = packs[::-1]
    if not len(load_coef):
        return first, np.zeros(n_racks)
    return first, np.where(first >= 0, load_coef[np.maximum(first, 0)], 0.0)
