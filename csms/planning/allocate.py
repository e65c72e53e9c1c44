"""Share each node's first-step power fairly among the sessions under it (sans-I/O).

The LP decides how much each node draws in the first step (the tariff, caps and departures
weigh in), but many sessions are interchangeable to it: its solution gives some EVs full
power and others none, and a different set at the next re-plan. Stations and batteries
dislike that. So the first step is re-shared by weighted progressive filling (max-min
fairness): every session rises at the pace of its urgency (energy missing per hour left)
until it reaches what it can take or a node above it reaches its budget.
"""

from __future__ import annotations

from datetime import datetime

from optimizer import Plan, Problem

__all__ = ["fair_first_step"]


def fair_first_step(
    plan: Plan, problem: Problem, *, now: datetime, ancestors: dict[str, list[str]]
) -> dict[str, float]:
    """EVSE id -> first-step power (W); ``ancestors`` maps each EVSE's node to the node ids
    from it up to the root."""
    sessions = {s.evse_id: s for s in problem.sessions}
    evses = {e.evse_id: e for e in problem.evses if e.evse_id in sessions}
    cap: dict[str, float] = {}
    weight: dict[str, float] = {}
    for evse_id, evse in evses.items():
        s = sessions[evse_id]
        limit = evse.max_power_w if s.max_power_w is None else min(evse.max_power_w, s.max_power_w)
        planned = plan.evses[evse_id].power_w[0] if evse_id in plan.evses else 0.0
        cap[evse_id] = limit if s.remaining_wh > 0 else min(limit, planned)
        hours = max((s.departure - now).total_seconds() / 3600.0, 0.25)
        weight[evse_id] = max(s.remaining_wh / hours, 100.0)
    budget: dict[str, float] = {}
    for node_id, node_plan in plan.nodes.items():
        budget[node_id] = max(0.0, node_plan.power_w[0])
    members: dict[str, list[str]] = {}
    for evse_id, evse in evses.items():
        for node_id in ancestors.get(evse.node_id, [evse.node_id]):
            members.setdefault(node_id, []).append(evse_id)
    alloc = {evse_id: 0.0 for evse_id in evses}
    active = {evse_id for evse_id in evses if cap[evse_id] > 0}
    for _ in range(len(plan.nodes) + len(evses) + 1):
        if not active:
            break
        # The largest common level every node can still afford.
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
            break
        active -= done
    return alloc
