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
    return {k: v[0] for k, v in fair_steps(plan, problem, ancestors=ancestors, steps=1).items()}


def fair_steps(
    plan: Plan,
    problem: Problem,
    *,
    ancestors: dict[str, list[str]],
    steps: int,
    held: dict[str, float] | None = None,
) -> dict[str, list[float]]:
    """EVSE id -> power (W) for each of the plan's first ``steps`` steps, each step shared
    like the first: the plan's node power at that step, by urgency after what the earlier
    steps delivered. ``held``: EVSEs that keep one value over all the steps (stations that
    take one period per schedule) with that value; later steps share what they leave."""
    grid = plan.grid
    steps = max(1, min(steps, grid.n_steps))
    held = held or {}
    sessions = {s.evse_id: s for s in problem.sessions}
    evses = {e.evse_id: e for e in problem.evses if e.evse_id in sessions}
    members: dict[str, list[str]] = {}
    for evse_id, evse in evses.items():
        for node_id in ancestors.get(evse.node_id, [evse.node_id]):
            members.setdefault(node_id, []).append(evse_id)
    takes: dict[str, float] = {}
    for evse_id, evse in evses.items():
        s = sessions[evse_id]
        takes[evse_id] = (
            evse.max_power_w if s.max_power_w is None else min(evse.max_power_w, s.max_power_w)
        )
    phase_limited = {n.node_id for n in problem.nodes if n.max_phase_current_a is not None}
    delivered = {evse_id: 0.0 for evse_id in evses}  # by the earlier steps (Wh)
    out: dict[str, list[float]] = {evse_id: [] for evse_id in evses}
    for k in range(steps):
        start = grid.step_start(k)
        cap: dict[str, float] = {}
        weight: dict[str, float] = {}
        fixed: dict[str, float] = {}
        for evse_id in evses:
            s = sessions[evse_id]
            if k > 0 and evse_id in held:
                fixed[evse_id] = out[evse_id][0]
                continue
            remaining = s.remaining_wh - delivered[evse_id]
            planned = plan.evses[evse_id].power_w[k] if evse_id in plan.evses else 0.0
            present = s.departure > start
            cap[evse_id] = (
                0.0
                if not present
                else takes[evse_id]
                if remaining > 0
                else min(takes[evse_id], planned)
            )
            hours = max((s.departure - start).total_seconds() / 3600.0, 0.25)
            weight[evse_id] = max(max(remaining, 0.0) / hours, 100.0)
        first = {node_id: max(0.0, n.power_w[k]) for node_id, n in plan.nodes.items()}
        peak: dict[str, float] = {}
        for node_id, n in plan.nodes.items():
            if node_id in phase_limited:  # the per-phase sums are the LP's to keep
                peak[node_id] = first[node_id]
                continue
            ceiling = max(n.power_w)
            limit = n.max_import_w[k]
            peak[node_id] = max(first[node_id], ceiling if limit is None else min(ceiling, limit))
        if fixed:  # what the held EVSEs keep drawing comes off the nodes above them
            for node_id, ids in members.items():
                taken = sum(fixed.get(i, 0.0) for i in ids)
                first[node_id] = first.get(node_id, float("inf")) - taken
                peak[node_id] = peak.get(node_id, float("inf")) - taken
        rising = {node_id: [i for i in ids if i in cap] for node_id, ids in members.items()}
        alloc = {evse_id: 0.0 for evse_id in cap}
        _fill(alloc, cap, weight, first, rising)
        _fill(alloc, {i: cap[i] and takes[i] for i in cap}, {i: 1.0 for i in alloc}, peak, rising)
        for evse_id in evses:
            value = fixed[evse_id] if evse_id in fixed else alloc[evse_id]
            out[evse_id].append(value)
            delivered[evse_id] += value * grid.step_durations_s[k] / 3600.0
    return out
