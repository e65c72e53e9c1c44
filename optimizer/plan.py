"""The plan: what every EVSE, storage unit and flexible load may draw, per step.

Built from load/storage/PV arrays (an LP solution, a rounded one or the fallback) by
:func:`make_plan`, which also recomputes every node's power and phase currents, marks the
binding limit per node and step, prices the plan and reports each load's shortfall.
:func:`check_limits` lists hard-limit violations (there must be none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from optimizer.compiled import Compiled
from optimizer.inputs import Phase
from optimizer.problem import TimeGrid
from optimizer.swap import RackPlan

__all__ = [
    "EvsePlan",
    "FlexibleLoadPlan",
    "NodePlan",
    "Plan",
    "StoragePlan",
    "check_limits",
    "make_plan",
]

FloatArray = npt.NDArray[np.float64]

#: Absolute tolerance (kW or A) when testing whether a limit binds or is violated.
TOLERANCE = 1e-6

PhaseCurrents = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class EvsePlan:
    evse_id: str
    phase: Phase
    session_ids: tuple[str | None, ...]  # the session charging in each step, if any
    power_w: tuple[float, ...]
    current_a: tuple[float, ...]  # per-phase current on each connected phase

    @property
    def phase_current_a(self) -> tuple[PhaseCurrents, ...]:
        """(L1, L2, L3) per step: ``current_a`` on the connected phases, 0 on the others
        (derived on access: a plan for 1,000 EVSEs would otherwise hold 100,000 triples)."""
        if self.phase is Phase.THREE:
            return tuple((a, a, a) for a in self.current_a)
        on = int(self.phase.value[1]) - 1
        return tuple(
            (a if on == 0 else 0.0, a if on == 1 else 0.0, a if on == 2 else 0.0)
            for a in self.current_a
        )


@dataclass(frozen=True, slots=True)
class StoragePlan:
    storage_id: str
    power_w: tuple[float, ...]  # charge positive, discharge negative
    soc_wh: tuple[float, ...]  # at the end of each step
    phase_current_a: tuple[float, ...]  # on each of the three phases (balanced)


@dataclass(frozen=True, slots=True)
class FlexibleLoadPlan:
    load_id: str
    power_w: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class NodePlan:
    node_id: str
    power_w: tuple[float, ...]  # net import through the node
    phase_current_a: tuple[PhaseCurrents, ...]
    max_import_w: tuple[float | None, ...]
    binding: tuple[str | None, ...]  # "import", "export", "L1", "L2", "L3" or None


@dataclass(frozen=True, slots=True)
class Plan:
    grid: TimeGrid
    status: str  # "optimal" or "fallback"
    evses: dict[str, EvsePlan]
    storage: dict[str, StoragePlan]
    flexible_loads: dict[str, FlexibleLoadPlan]
    nodes: dict[str, NodePlan]
    shortfall_wh: dict[str, float]  # per session / flexible load
    grid_import_w: tuple[float, ...]
    grid_export_w: tuple[float, ...]
    energy_cost: float
    demand_charge_cost: float
    degradation_cost: float
    peak_import_w: float
    solve_time_s: float
    backend: str
    reason: str | None = None  # why the fallback was used
    objective: float | None = None
    #: first-step energy lost to executable currents vs the LP (< 0: the rounding's last pass
    #: drew more than the LP's first step, decision 0420)
    rounding_loss_wh: float = 0.0
    load_power_w: dict[str, tuple[float, ...]] = field(default_factory=dict)
    solver_start: str | None = None  # "warm", "cold" or "cold: <why>" (direct path)
    swap_racks: dict[str, RackPlan] = field(default_factory=dict)

    @property
    def total_cost(self) -> float:
        return self.energy_cost + self.demand_charge_cost + self.degradation_cost

    def energy_wh(self, load_id: str) -> float:
        """AC energy the plan gives one session or flexible load over the horizon."""
        return sum(
            p * d / 3600.0
            for p, d in zip(self.load_power_w[load_id], self.grid.step_durations_s, strict=True)
        )


def node_flows(
    cp: Compiled, p_kw: FloatArray, net_sto_kw: FloatArray, pv_kw: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Net power (N, T) in kW and phase currents (N, 3, T) in A through every node."""
    sto = cp.sto_under.astype(float)
    pvu = cp.pv_under.astype(float)
    under = cp.load_under.astype(float)
    power = under @ p_kw + sto @ net_sto_kw - pvu @ pv_kw
    phases = np.stack(
        [
            under @ (cp.load_phase_a_per_kw[:, ph, None] * p_kw)
            + sto @ (cp.sto_phase_a_per_kw[:, None] * net_sto_kw)
            - pvu @ (cp.pv_phase_a_per_kw[:, None] * pv_kw)
            for ph in range(3)
        ],
        axis=1,
    )
    return power, phases


def check_limits(
    cp: Compiled, p_kw: FloatArray, net_sto_kw: FloatArray, pv_kw: FloatArray
) -> list[str]:
    """Every hard node limit the arrays break, as readable lines (empty = none)."""
    power, phases = node_flows(cp, p_kw, net_sto_kw, pv_kw)
    out: list[str] = []
    over = np.argwhere(power > cp.node_imp_kw + TOLERANCE)
    out += [f"{cp.node_ids[n]} step {t}: import {power[n, t]:.3f} kW > "
            f"{cp.node_imp_kw[n, t]:.3f} kW" for n, t in over]  # fmt: skip
    under = np.argwhere(-power > cp.node_exp_kw + TOLERANCE)
    out += [f"{cp.node_ids[n]} step {t}: export {-power[n, t]:.3f} kW > "
            f"{cp.node_exp_kw[n, t]:.3f} kW" for n, t in under]  # fmt: skip
    amps = np.abs(phases) > cp.node_phase_a[:, None, :] + TOLERANCE
    out += [f"{cp.node_ids[n]} step {t}: L{ph + 1} {phases[n, ph, t]:.3f} A > "
            f"{cp.node_phase_a[n, t]:.3f} A" for n, ph, t in np.argwhere(amps)]  # fmt: skip
    lin = cp.lin_coef @ p_kw
    out += [f"current limit {cp.problem.current_limits[c].name} step {t}: {lin[c, t]:.3f} A > "
            f"{cp.lin_cap_a[c, t]:.3f} A"
            for c, t in np.argwhere(lin > cp.lin_cap_a + TOLERANCE)]  # fmt: skip
    rack = np.array([p_kw[cp.rack_load == r].sum(axis=0) for r in range(len(cp.rack_cap_kw))])
    rack = rack.reshape(cp.rack_cap_kw.shape)
    out += [f"swap rack {cp.problem.swap_racks[r].rack_id} step {t}: {rack[r, t]:.3f} kW > "
            f"{cp.rack_cap_kw[r, t]:.3f} kW"
            for r, t in np.argwhere(rack > cp.rack_cap_kw + TOLERANCE)]  # fmt: skip
    if (p_kw > cp.load_pmax_kw + TOLERANCE).any():
        out.append("a load draws more than its EVSE / EV / dimming cap")
    return out


def _binding(cp: Compiled, power: FloatArray, phases: FloatArray) -> list[tuple[str | None, ...]]:
    """Per node and step: "import", else "export", else the first phase at its limit, else
    None."""
    tol = 1e-5
    labels = np.full(power.shape, None, dtype=object)
    at_phase = np.abs(phases) >= cp.node_phase_a[:, None, :] - tol  # (N, 3, T)
    first = np.argmax(at_phase, axis=1)
    any_phase = at_phase.any(axis=1)
    labels[any_phase] = np.array(["L1", "L2", "L3"], dtype=object)[first[any_phase]]
    labels[-power >= cp.node_exp_kw - tol] = "export"
    labels[power >= cp.node_imp_kw - tol] = "import"
    return [tuple(row) for row in labels.tolist()]


def _t(values: FloatArray, scale: float = 1.0) -> tuple[float, ...]:
    return tuple((np.asarray(values, dtype=float) * scale).tolist())


def _triples(rows: FloatArray) -> tuple[PhaseCurrents, ...]:
    """(T, 3) array as a tuple of (L1, L2, L3) tuples."""
    return tuple(map(tuple, rows.tolist()))


def _evse_plans(cp: Compiled, p_kw: FloatArray) -> dict[str, EvsePlan]:
    """Power and current per EVSE and step, and the session charging there: the last one
    drawing power, else the first one plugged in."""
    problem = cp.problem
    n_e, n_t = len(problem.evses), cp.n_steps
    sess = np.nonzero(cp.load_is_session)[0]
    ev_of = cp.load_evse[sess]
    evse_power = np.zeros((n_e, n_t))
    np.add.at(evse_power, ev_of, p_kw[sess])
    drawing = np.full((n_e, n_t), -1, dtype=np.int64)
    plugged = np.full((n_e, n_t), len(cp.load_ids), dtype=np.int64)
    k, t_on = np.nonzero(p_kw[sess] != 0)
    np.maximum.at(drawing, (ev_of[k], t_on), sess[k])
    k, t_on = np.nonzero(cp.load_pmax_kw[sess] > 0)
    np.minimum.at(plugged, (ev_of[k], t_on), sess[k])
    chosen = np.where(drawing >= 0, drawing, plugged)
    names = np.array([*cp.load_ids, None], dtype=object)
    evse_session = names[chosen].tolist()
    evses: dict[str, EvsePlan] = {}
    for e, evse in enumerate(problem.evses):
        watts = evse_power[e] * 1000.0
        amps = watts / (evse.voltage_v * evse.phase.n_phases)
        evses[evse.evse_id] = EvsePlan(
            evse_id=evse.evse_id,
            phase=evse.phase,
            session_ids=tuple(evse_session[e]),
            power_w=_t(watts),
            current_a=_t(amps),
        )
    return evses


def _node_plans(cp: Compiled, power: FloatArray, phases: FloatArray) -> dict[str, NodePlan]:
    binding = _binding(cp, power, phases)
    return {
        node_id: NodePlan(
            node_id=node_id,
            power_w=_t(power[n], 1000.0),
            phase_current_a=_triples(phases[n].T),
            max_import_w=tuple(
                None if np.isinf(v) else float(v) * 1000.0 for v in cp.node_imp_kw[n]
            ),
            binding=binding[n],
        )
        for n, node_id in enumerate(cp.node_ids)
    }


#: A pack short of its readiness threshold by more than this is expected to be unready.
READY_TOLERANCE_KWH = 1e-3


def _rack_plans(cp: Compiled, p_kw: FloatArray, shortfall_kwh: FloatArray) -> dict[str, RackPlan]:
    """Each swap rack's power, its pack jobs' shortfalls and the swaps they leave unready."""
    out = {}
    for r, rack in enumerate(cp.problem.swap_racks):
        loads = np.nonzero(cp.rack_load == r)[0]
        jobs = cp.rack_pack_jobs[r]
        short = shortfall_kwh[loads]
        out[rack.rack_id] = RackPlan(
            rack_id=rack.rack_id,
            power_w=_t(p_kw[loads].sum(axis=0), 1000.0),
            jobs=jobs,
            shortfall_wh=_t(short, 1000.0),
            unready_swaps=tuple(
                job.swap_at
                for job, miss in zip(jobs, short, strict=True)
                if job.swap_at is not None and miss > READY_TOLERANCE_KWH
            ),
        )
    return out


def make_plan(
    cp: Compiled,
    *,
    p_kw: FloatArray,
    ch_kw: FloatArray,
    dis_kw: FloatArray,
    soc_kwh: FloatArray,
    pv_kw: FloatArray,
    status: str,
    solve_time_s: float,
    backend: str,
    reason: str | None = None,
    objective: float | None = None,
    rounding_loss_wh: float = 0.0,
    solver_start: str | None = None,
    v2g_kw: FloatArray | None = None,
) -> Plan:
    """The plan of a solution; ``v2g_kw``: what V2G sessions give back, so their steps (and
    the EVSE's) are net power, negative while they give (decision 0908)."""
    problem = cp.problem
    net_sto = ch_kw - dis_kw
    given = np.zeros_like(p_kw) if v2g_kw is None else v2g_kw
    net_kw = p_kw - given
    power, phases = node_flows(cp, net_kw, net_sto, pv_kw)
    storage = {
        unit.storage_id: StoragePlan(
            storage_id=unit.storage_id,
            power_w=_t(net_sto[b], 1000.0),
            soc_wh=_t(soc_kwh[b], 1000.0),
            phase_current_a=_t(net_sto[b] * cp.sto_phase_a_per_kw[b]),
        )
        for b, unit in enumerate(problem.storage)
    }
    n_s = len(problem.sessions)
    flex = {
        load.load_id: FlexibleLoadPlan(load_id=load.load_id, power_w=_t(p_kw[n_s + j], 1000.0))
        for j, load in enumerate(problem.flexible_loads)
    }
    delivered_kwh = (p_kw * cp.dt_h[None, :]).sum(axis=1) * cp.load_eff - (
        given * cp.dt_h[None, :]
    ).sum(axis=1) / cp.load_eff
    shortfall = np.clip(cp.load_need_kwh - delivered_kwh, 0.0, None)
    root = power[cp.root]
    imp = np.clip(root, 0.0, None)
    exp = np.clip(-root, 0.0, None)
    peak_kw = max(float(imp.max(initial=0.0)), cp.peak_so_far_kw)
    return Plan(
        grid=problem.grid,
        status=status,
        evses=_evse_plans(cp, net_kw),
        storage=storage,
        flexible_loads=flex,
        nodes=_node_plans(cp, power, phases),
        shortfall_wh={lid: float(shortfall[ld]) * 1000.0 for ld, lid in enumerate(cp.load_ids)},
        grid_import_w=_t(imp, 1000.0),
        grid_export_w=_t(exp, 1000.0),
        energy_cost=float((cp.dt_h * (cp.price_imp * imp - cp.price_exp * exp)).sum()),
        demand_charge_cost=cp.demand_charge_per_kw * peak_kw,
        degradation_cost=float((cp.sto_degr[:, None] * cp.dt_h[None, :] * (ch_kw + dis_kw)).sum()),
        peak_import_w=peak_kw * 1000.0,
        solve_time_s=solve_time_s,
        backend=backend,
        reason=reason,
        objective=objective,
        rounding_loss_wh=rounding_loss_wh,
        load_power_w={lid: _t(net_kw[ld], 1000.0) for ld, lid in enumerate(cp.load_ids)},
        solver_start=solver_start,
        swap_racks=_rack_plans(cp, p_kw, shortfall),
    )
