"""The rolling-horizon planner (MPC) and the one-shot :func:`solve`.

:class:`Planner` is sans-I/O: the caller hands it a :class:`~optimizer.problem.Problem` built
from the current state whenever :meth:`Planner.due` says so (the timer ran out, or an event was
noted with :meth:`Planner.notify`), and gets a :class:`~optimizer.plan.Plan` back. A solve that
fails, is infeasible or passes its time limit never leaves the site without limits: the plan
is the proportional-share fallback, the reason is logged and kept on the plan, and the next
call to :meth:`Planner.due` is true so the planner tries again next cycle.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

from optimizer.basis import SolvedBasis
from optimizer.compiled import Compiled, compile_problem
from optimizer.direct import solve_direct
from optimizer.exceptions import InvalidProblem, SolveFailed
from optimizer.fallback import proportional_share
from optimizer.model import solve_pyomo
from optimizer.plan import Plan, make_plan
from optimizer.problem import Problem
from optimizer.rounding import round_first_step
from optimizer.scarcity import LimitKey, binding_hours, weigh_tiebreak
from optimizer.solution import Solution

__all__ = ["Planner", "PlannerConfig", "fallback_plan", "solve"]

logger = logging.getLogger(__name__)

Backend = Literal["direct", "pyomo"]
#: ``"off"``: the earlier-is-better tie-break per kWh; ``"on"``: in units of the limits the
#: last plan held at their bound (decision 0424); ``"gated"``: so only where no demand charge
#: is in force and the last plan met every load it knew with arrivals ahead (decision 0430).
ScarcityMode = Literal["off", "gated", "on"]

#: A load at most this short (Wh) counts as met for the gate of the scarcity tie-break.
MET_WH = 1.0


@dataclass(frozen=True, slots=True)
class PlannerConfig:
    """Planner settings.

    ``backend``: ``"direct"`` assembles the LP with numpy and solves it with ``highspy``
    (the hot loop); ``"pyomo"`` builds the Pyomo model and solves it with ``solver_name``.
    ``round_first_step``: make the first step executable (minimum / discrete currents);
    ``reallocate``: hand out the headroom rounding frees (False: plain truncation).
    ``warm_start``: start HiGHS from the previous solve's simplex basis, carried over by
    (kind, entity, step) key to the new LP: shifted by the elapsed steps, arrivals' columns
    nonbasic, departures' kept as ghost columns the dual simplex drives out (direct backend;
    see :mod:`optimizer.basis` and decision 0406). A rejected basis or a warm solve that does
    not end optimal is solved again cold.
    ``laxity_tiebreak``: among equally good plans prefer charging loads that leave sooner
    (more demands met in the ACN benchmark, same energy) at the price of slower solves.
    ``scarcity_tiebreak``: ``"on"`` counts that preference in units of the limits the
    previous plan held at their bound (each load's weight its footprint on them, decision
    0424): the scarce limit's early capacity goes to the loads that need it most,
    soonest-leaving first. ``"gated"`` (decision 0430) does so only while no demand charge is
    in force and after a plan that met every load it knew and saw arrivals ahead (expected
    or announced); otherwise per kWh, as ``"off"``.
    """

    backend: Backend = "direct"
    solver_name: str = "appsi_highs"
    time_limit_s: float = 10.0
    replan_interval_s: float = 300.0
    round_first_step: bool = True
    reallocate: bool = True
    warm_start: bool = True
    laxity_tiebreak: bool = False
    scarcity_tiebreak: ScarcityMode = "off"

    def __post_init__(self) -> None:
        if self.backend not in ("direct", "pyomo"):
            raise InvalidProblem("backend", f"must be 'direct' or 'pyomo', got {self.backend!r}")
        if not self.time_limit_s > 0:
            raise InvalidProblem("time_limit_s", "must be positive")
        if not self.replan_interval_s > 0:
            raise InvalidProblem("replan_interval_s", "must be positive")
        if self.scarcity_tiebreak not in ("off", "gated", "on"):
            raise InvalidProblem(
                "scarcity_tiebreak",
                f"must be 'off', 'gated' or 'on', got {self.scarcity_tiebreak!r}",
            )


def demand_charge_in_force(problem: Problem) -> bool:
    """The plan pays for its peak: the scarcity tie-break's gate stays shut (decision 0430)."""
    return problem.tariff.demand_charge_per_kw > 0


def opens_scarcity_gate(problem: Problem, plan: Plan) -> bool:
    """A plan whose binding hours the gated tie-break may use next (decision 0430): no demand
    charge in force, every load it knew met (within :data:`MET_WH`), and arrivals ahead in it
    (a plan that met only the loads present says nothing about the rest of the day)."""
    if demand_charge_in_force(problem) or plan.status != "optimal":
        return False
    if any(short > MET_WH for short in plan.shortfall_wh.values()):
        return False
    start = problem.grid.start
    return any(s.arrival > start for s in problem.sessions)


def fallback_plan(cp: Compiled, reason: str, *, solve_time_s: float = 0.0) -> Plan:
    """The proportional-share plan (no solver)."""
    began = time.perf_counter()
    p = proportional_share(cp)
    n_b = cp.sto_soc0_kwh.shape[0]
    zeros = np.zeros((n_b, cp.n_steps))
    return make_plan(
        cp,
        p_kw=p,
        ch_kw=zeros,
        dis_kw=zeros,
        soc_kwh=np.repeat(cp.sto_soc0_kwh[:, None], cp.n_steps, axis=1),
        pv_kw=np.zeros_like(cp.pv_kw),
        status="fallback",
        solve_time_s=solve_time_s + time.perf_counter() - began,
        backend="fallback",
        reason=reason,
    )


def _solve_lp(cp: Compiled, config: PlannerConfig, warm: SolvedBasis | None) -> Solution:
    if config.backend == "pyomo":
        return solve_pyomo(cp, solver_name=config.solver_name, time_limit_s=config.time_limit_s)
    return solve_direct(cp, time_limit_s=config.time_limit_s, basis=warm)


def _plan_from(cp: Compiled, sol: Solution, config: PlannerConfig) -> Plan:
    p = sol.p_kw
    loss_kwh = 0.0
    if config.round_first_step:
        p, loss_kwh = round_first_step(
            cp, sol.p_kw, sol.ch_kw - sol.dis_kw, sol.pv_kw, reallocate=config.reallocate
        )
    return make_plan(
        cp,
        p_kw=p,
        v2g_kw=sol.given_kw(),
        ch_kw=sol.ch_kw,
        dis_kw=sol.dis_kw,
        soc_kwh=sol.soc_kwh,
        pv_kw=sol.pv_kw,
        status="optimal",
        solve_time_s=sol.solve_time_s,
        backend=sol.backend,
        objective=sol.objective,
        rounding_loss_wh=loss_kwh * 1000.0,
        solver_start=sol.start,
    )


def solve(problem: Problem, config: PlannerConfig | None = None) -> Plan:
    """One plan for ``problem``; the fallback plan if the solve fails (never raises for that)."""
    return Planner(config).plan(problem)


class Planner:
    """Re-plans on a timer and on events, warm-starting from its previous solve's basis."""

    def __init__(self, config: PlannerConfig | None = None) -> None:
        self.config = config or PlannerConfig()
        self.last_plan: Plan | None = None
        self._last_start: datetime | None = None
        self._last_basis: SolvedBasis | None = None
        self._binding: dict[LimitKey, float] | None = None
        self._pending: list[str] = []
        self.failures = 0

    def notify(self, event: str) -> None:
        """Note an event that calls for a re-plan: arrival, departure, constraint, deviation."""
        self._pending.append(event)

    def due(self, now: datetime) -> bool:
        if self._last_start is None or self._pending:
            return True
        if self.last_plan is not None and self.last_plan.status != "optimal":
            return True  # retry after a fallback
        return (now - self._last_start).total_seconds() >= self.config.replan_interval_s

    def plan(self, problem: Problem) -> Plan:
        cp = compile_problem(problem, laxity_tiebreak=self.config.laxity_tiebreak)
        mode = self.config.scarcity_tiebreak
        if mode == "on" or (mode == "gated" and not demand_charge_in_force(problem)):
            cp = weigh_tiebreak(cp, self._binding)
        began = time.perf_counter()
        try:
            warm = self._last_basis if self.config.warm_start else None
            sol = _solve_lp(cp, self.config, warm)
        except SolveFailed as exc:
            self.failures += 1
            logger.warning(
                "plan at %s: %s; using proportional share under every node limit",
                problem.grid.start.isoformat(),
                exc,
            )
            plan = fallback_plan(cp, str(exc), solve_time_s=time.perf_counter() - began)
            self._last_basis = None
            self._binding = None
        else:
            plan = _plan_from(cp, sol, self.config)
            self._last_basis = sol.basis
            self._binding = None
            if mode == "on" or (mode == "gated" and opens_scarcity_gate(problem, plan)):
                self._binding = binding_hours(cp, sol.p_kw, sol.ch_kw - sol.dis_kw, sol.pv_kw)
        if self._pending:
            logger.debug("re-planned for %s", ", ".join(self._pending))
        self._pending.clear()
        self._last_start = problem.grid.start
        self.last_plan = plan
        return plan
