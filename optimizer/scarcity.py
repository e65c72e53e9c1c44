"""The scarcity-aware tie-break (decision 0424): which limits a plan holds at their bound, and
each load's footprint on them.

Among plans that meet the same energy at the same cost, the earlier-is-better tie-break
charges sooner-leaving loads first, counted per kWh. When one limit binds for hours (a
transformer phase), a kWh of a load that barely loads it and a kWh of one that loads it fully
are not the same: counted per kWh the tie-break gives the scarce limit's early capacity to the
loads that need least of it, and the loads that need it most meet later arrivals on it. The
planner therefore keeps, from each optimal plan, the hours every limit binds
(:func:`binding_hours`), and the next plan weighs each load's earlier-is-better term by its
footprint on those limits (:func:`footprint_weights`): earliest departure first *in units of
the scarce limit*, which is what earliest-deadline-first is on one shared resource.

A limit's key: ``("import", node_id)``, ``("L1" | "L2" | "L3", node_id)`` or ``("lin",
name)`` for a :class:`~optimizer.inputs.CurrentLimit`; keys carry over from one plan to the
next whatever the steps and sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from optimizer.compiled import Compiled
from optimizer.plan import node_flows

__all__ = ["FOOTPRINT_FLOOR", "LimitKey", "binding_hours", "footprint_weights", "weigh_tiebreak"]

FloatArray = npt.NDArray[np.float64]
LimitKey = tuple[str, str]

#: The smallest weight a load's tie-break term keeps (one on the scarce limit's heaviest
#: user): loads on no scarce limit stay ordered among themselves, and the earlier-is-better
#: weights span at most one decade (solver scaling).
FOOTPRINT_FLOOR = 0.1

_PHASES = ("L1", "L2", "L3")


def _at_bound(use: FloatArray, cap: FloatArray) -> npt.NDArray[np.bool_]:
    """Where ``use`` reaches ``cap`` (finite caps only), to the LP's accuracy."""
    finite = np.isfinite(cap)
    bound = np.where(finite, cap, 0.0)
    return finite & (use >= bound - 1e-6 * np.maximum(1.0, np.abs(bound)))


def binding_hours(
    cp: Compiled, p_kw: FloatArray, net_sto_kw: FloatArray, pv_kw: FloatArray
) -> dict[LimitKey, float]:
    """Hours each import, phase-current and linear current limit is at its bound in the plan
    given by load power ``p_kw``, storage's net charge and PV used (all ``(.., T)`` in kW);
    limits never at their bound are left out."""
    power, phases = node_flows(cp, p_kw, net_sto_kw, pv_kw)
    dt = cp.dt_h
    hours: dict[LimitKey, float] = {}

    def add(kind: str, names: tuple[str, ...], at: npt.NDArray[np.bool_]) -> None:
        for i in np.nonzero(at.any(axis=1))[0]:
            hours[(kind, names[i])] = float(dt[at[i]].sum())

    add("import", cp.node_ids, _at_bound(power, cp.node_imp_kw))
    for ph, label in enumerate(_PHASES):
        add(label, cp.node_ids, _at_bound(np.abs(phases[:, ph]), cp.node_phase_a))
    lin_names = tuple(c.name for c in cp.problem.current_limits)
    add("lin", lin_names, _at_bound(cp.lin_coef @ p_kw, cp.lin_cap_a))
    return hours


def _strictest(cap: FloatArray) -> FloatArray:
    """Per row, the smallest finite cap over the horizon (inf if none)."""
    finite = np.where(np.isfinite(cap) & (cap > 0), cap, np.inf)
    out: FloatArray = finite.min(axis=1, initial=np.inf)
    return out


def footprint_weights(cp: Compiled, hours: Mapping[LimitKey, float]) -> FloatArray | None:
    """Per load, its share of the limits that bound the last plan, each kW counted as the
    fraction of a limit it takes times the hours that limit was at its bound, scaled so the
    heaviest user weighs 1 and no load less than :data:`FOOTPRINT_FLOOR`. None when no
    limit of this problem was at its bound (the tie-break stays per kWh)."""
    use = np.zeros(len(cp.load_ids))
    node = {node_id: n for n, node_id in enumerate(cp.node_ids)}
    imp_cap = _strictest(cp.node_imp_kw)
    phase_cap = _strictest(cp.node_phase_a)
    lin_cap = _strictest(cp.lin_cap_a)
    lin_index = {c.name: i for i, c in enumerate(cp.problem.current_limits)}
    for (kind, name), h in hours.items():
        if kind == "lin" and name in lin_index:
            c = lin_index[name]
            use += h * np.clip(cp.lin_coef[c], 0.0, None) / lin_cap[c]
        elif kind == "import" and name in node:
            n = node[name]
            use += h * cp.load_under[n] / imp_cap[n]
        elif kind in _PHASES and name in node:
            n, ph = node[name], _PHASES.index(kind)
            use += h * cp.load_under[n] * cp.load_phase_a_per_kw[:, ph] / phase_cap[n]
    use[~np.isfinite(use)] = 0.0
    top = float(use.max(initial=0.0))
    if top <= 0.0:
        return None
    weights: FloatArray = np.maximum(use / top, FOOTPRINT_FLOOR)
    return weights


def weigh_tiebreak(cp: Compiled, hours: Mapping[LimitKey, float] | None) -> Compiled:
    """``cp`` with each load's earlier-is-better weights times its footprint on the limits
    that bound the last plan (unchanged without any)."""
    weights = None if not hours else footprint_weights(cp, hours)
    if weights is None:
        return cp
    return replace(cp, early_weight=cp.early_weight * weights[:, None])
