"""Share each node's first-step power fairly among the sessions under it (sans-I/O).

The LP decides how much each node draws in the first step (the tariff, caps and departures
weigh in), but many sessions are interchangeable to it: its solution gives some EVs full
power and others none, and a different set at the next re-plan. Stations and batteries
dislike that. So the first step is re-shared by weighted progressive filling (max-min
fairness): every session rises at the pace of its urgency (energy missing per hour left)
until it reaches what it can take or a node above it reaches its budget.

A second round hands out what is left up to the plan's own peak at each node (never above
its limit): an EV whose stated need is met may keep charging on capacity that would
otherwise go unused, without raising the peak the plan accepted (the demand charge).
"""

from __future__ import annotations

from datetime import datetime

from optimizer import Plan, Problem

__all__ = ["fair_first_step"]


def _fill(
    alloc: dict[str, float],
    cap: dict[str, float],
    weight: dict[str, float],
    budget: dict[str, float],
    members: dict[str, list[str]],
) -> None:
    active = {i for i in alloc if cap[i] > alloc[i] + 1e-9}
    for _ in range(len(members) + len(alloc) + 1):
        if not active:
            return
        level = float("inf")
        for node_id, ids in members.items():
            rising = [i for i in ids if i in active]
            if not rising:
                continue
            room = budget.get(node_id, float("inf")) - sum(alloc[i] for i in ids)
            level = min(level, max(0.0, room) / sum(weight[i] for i in rising))
        for i in active:
            level = min(level, (cap[i] - alloc[i]) / weight[i])
        for i in active:
            alloc[i] += weight[i] * level
        done = {i for i in active if alloc[i] >= cap[i] - 1e-6}
        for node_id, ids in members.items():
            room = budget.get(node_id, float("inf")) - sum(alloc[i] for i in ids)
            if room <= 1e-6:
                done.update(i for i in ids if i in active)
        if not done:
            return
        active -= done


def fair_first_step(
    plan: Plan, problem: Problem, *, now: datetime, ancestors: dict[str, list[str]]
) -> dict[str, float]:
    """EVSE id -> first-step power (W); ``ancestors`` maps each node to the node ids from it
    up to the root."""
    sessions = {s.evse_id: s for s in problem.sessions}
    evses = {e.evse_id: e for e in problem.evses if e.evse_id in sessions}
    takes: dict[str, float] = {}
    cap: dict[str, float] = {}
    weight: dict[str, float] = {}
    for evse_id, evse in evses.items():
        s = sessions[evse_id]
        takes[evse_id] = (
            evse.max_power_w if s.max_power_w is None else min(evse.max_power_w, s.max_power_w)
        )
        planned = plan.evses[evse_id].power_w[0] if evse_id in plan.evses else 0.0
        cap[evse_id] = takes[evse_id] if s.remaining_wh > 0 else min(takes[evse_id], planned)
        hours = max((s.departure - now).total_seconds() / 3600.0, 0.25)
        weight[evse_id] = max(s.remaining_wh / hours, 100.0)
    members: dict[str, list[str]] = {}
    for evse_id, evse in evses.items():
        for node_id in ancestors.get(evse.node_id, [evse.node_id]):
            members.setdefault(node_id, []).append(evse_id)
    alloc = {evse_id: 0.0 for evse_id in evses}
    first = {node_id: max(0.0, n.power_w[0]) for node_id, n in plan.nodes.items()}
    _fill(alloc, cap, weight, first, members)
    phase_limited = {n.node_id for n in problem.nodes if n.max_phase_current_a is not None}
    peak: dict[str, float] = {}
    for node_id, n in plan.nodes.items():
        if node_id in phase_limited:  # the per-phase sums are the LP's to keep
            peak[node_id] = first[node_id]
            continue
        ceiling = max(n.power_w)
        limit = n.max_import_w[0]
        peak[node_id] = max(first[node_id], ceiling if limit is None else min(ceiling, limit))
    _fill(alloc, takes, {i: 1.0 for i in alloc}, peak, members)
    return alloc
