"""Constraint windows in the plan and in what is sent (sans-I/O).

A demand-response event or a cap holds over ``[start, end)``. For the limit in force to
hold from its first second, and for curtailment not to run outside the window:

- the plan's steps end at every window edge (:func:`plan_grid`), so a cap covers exactly the
  steps inside its window (a cap covers every step it touches), and the TxProfiles' periods
  start and stop exactly at the edges;
- the planner wakes at every edge (:func:`next_edge`);
- a profile carried into the next window is checked against the strictest limit over that
  window (:func:`strictest_limits`), not the one in force when it is carried;
- an idle EVSE's TxDefaultProfile (what an EV arriving there draws before any re-plan) is
  lowered to its share of what the other EVSEs leave under every node (:func:`idle_shares`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from csms.planning.dispatch import fallback_w
from csms.planning.state import EvseState
from csms.sites.constraints import GridConstraint, NodeLimit, limits_in_force
from csms.sites.model import Site
from optimizer import TimeGrid

__all__ = [
    "carry_over_timed",
    "edges",
    "idle_shares",
    "next_edge",
    "plan_grid",
    "room_left",
    "strictest_limits",
    "supply_at",
]


def edges(constraints: Iterable[GridConstraint], start: datetime, end: datetime) -> list[datetime]:
    """Every window edge (a start or an end of a constraint not cancelled) strictly inside
    ``(start, end)``, sorted, without repeats."""
    out: set[datetime] = set()
    for c in constraints:
        if c.cancelled_at is not None:
            continue
        for edge in (c.start, c.end):
            if start < edge < end:
                out.add(edge)
    return sorted(out)


def next_edge(constraints: Iterable[GridConstraint], now: datetime) -> datetime | None:
    """The first window edge after ``now`` (None: none to come)."""
    later = [
        edge
        for c in constraints
        if c.cancelled_at is None
        for edge in (c.start, c.end)
        if edge > now
    ]
    return min(later) if later else None


def plan_grid(
    now: datetime,
    *,
    step_s: float,
    horizon_s: float,
    constraints: Iterable[GridConstraint] = (),
    min_step_s: float = 1.0,
) -> TimeGrid:
    """Steps of ``step_s`` from ``now`` over ``horizon_s``, each split at the window edges
    inside it (a plain step boundary within ``min_step_s`` of an edge gives way to it)."""
    n = max(1, math.ceil(horizon_s / step_s))
    end = now + timedelta(seconds=step_s * n)
    cuts = set(edges(constraints, now, end))
    plain = {now + timedelta(seconds=step_s * k) for k in range(1, n)}
    plain = {b for b in plain if all(abs((b - c).total_seconds()) >= min_step_s for c in cuts)}
    kept = sorted(plain | cuts | {now, end})
    durations = tuple((b - a).total_seconds() for a, b in itertools.pairwise(kept))
    return TimeGrid(start=now, step_durations_s=durations)


def strictest_limits(
    site: Site, constraints: list[GridConstraint], start: datetime, end: datetime
) -> dict[str, NodeLimit]:
    """Each node's smallest import limit at any instant of ``[start, end)`` (with the
    constraints that set it then)."""
    out = limits_in_force(site, constraints, start)
    for at in edges(constraints, start, end):
        for node_id, limit in limits_in_force(site, constraints, at).items():
            before = out[node_id].max_import_w
            if limit.max_import_w is not None and (before is None or limit.max_import_w < before):
                out[node_id] = limit
    return out


def idle_shares(
    site: Site,
    *,
    idle: Mapping[str, str],
    headroom_w: Mapping[str, float | None],
) -> dict[str, float]:
    """Each idle EVSE's share (W) of what is left under every node above it: for an EVSE
    (key -> its node in ``idle``), the smallest over its ancestors of the node's
    ``headroom_w`` (None: unlimited) divided among the idle EVSEs under that node. EVSEs
    under no limited node are left out (nothing to hold them to)."""
    count: dict[str, int] = {}
    for node_id in idle.values():
        for a in site.ancestors(node_id):
            count[a] = count.get(a, 0) + 1
    out: dict[str, float] = {}
    for key, node_id in idle.items():
        shares = [
            max(0.0, room) / count[a]
            for a in site.ancestors(node_id)
            if (room := headroom_w.get(a)) is not None
        ]
        if shares:
            out[key] = min(shares)
    return out


def room_left(
    site: Site,
    instants: Iterable[datetime],
    *,
    limit_at: Callable[[str, datetime], float | None],
    drawn_at: Callable[[str, datetime], float],
) -> dict[str, float | None]:
    """Per node, the least room left at any of ``instants``: ``limit_at(node, t)`` (None:
    no limit then) less ``drawn_at(node, t)``. None for a node limited at none of them."""
    times = list(instants)
    out: dict[str, float | None] = {}
    for node in site.nodes:
        least: float | None = None
        for at in times:
            limit = limit_at(node.id, at)
            if limit is None:
                continue
            room = limit - drawn_at(node.id, at)
            least = room if least is None else min(least, room)
        out[node.id] = least
    return out


def carry_over_timed(
    site: Site,
    candidates: Sequence[EvseState],
    extended: set[str],
    controlled: Sequence[EvseState],
    *,
    instants: Sequence[datetime],
    limit_at: Callable[[str, datetime], float | None],
    base_w: Mapping[str, float],
) -> list[EvseState]:
    """Which of ``candidates`` may have their TxProfile schedule carried into the next
    window now, checked at every instant of it (``instants``: its start, the schedules'
    period starts and the window edges in it) against ``limit_at(node, t)``.

    In the next window an EVSE follows its carried schedule if it was carried
    (``extended``), else its fallback; ``base_w`` (node id -> W) is drawn besides (what is
    not controlled, the idle EVSEs' defaults). A candidate is carried when, with it, every
    node above it holds at every instant; taken in ascending order of their largest raise
    over the fallback, so the CSMS may die after any of them is sent and the window holds.
    """
    times = sorted(set(instants))

    def value(ev: EvseState, at: datetime) -> float:
        return ev.sent.value_at(at) if ev.sent is not None else fallback_w(ev)

    totals: dict[tuple[str, datetime], float] = {
        (node.id, at): base_w.get(node.id, 0.0) for node in site.nodes for at in times
    }
    for ev in controlled:
        for at in times:
            held = value(ev, at) if ev.key in extended else fallback_w(ev)
            for node_id in site.ancestors(ev.node_id):
                totals[(node_id, at)] = totals.get((node_id, at), 0.0) + held
    chosen: list[EvseState] = []

    def most(ev: EvseState) -> float:
        return max((value(ev, at) - fallback_w(ev) for at in times), default=0.0)

    for ev in sorted(candidates, key=most):
        raises = {at: value(ev, at) - fallback_w(ev) for at in times}
        nodes = site.ancestors(ev.node_id)
        over = False
        for at, raise_w in raises.items():
            if raise_w <= 0:
                continue
            for node_id in nodes:
                limit = limit_at(node_id, at)
                if limit is not None and totals.get((node_id, at), 0.0) + raise_w > limit + 1e-6:
                    over = True
        if over:
            continue
        for at, raise_w in raises.items():
            for node_id in nodes:
                totals[(node_id, at)] = totals.get((node_id, at), 0.0) + raise_w
        chosen.append(ev)
    return chosen


def supply_at(
    supply_w: Mapping[str, Sequence[float]], grid: TimeGrid
) -> Callable[[str, datetime], float]:
    """What the EVs under a node may take on top of its import limit at an instant, per the
    plan (``supply_w``: node id -> W per step of ``grid``: the PV counted on and the planned
    storage discharge, less planned charging); nothing outside the plan's grid."""
    starts = [grid.step_start(k) for k in range(grid.n_steps)]
    end = grid.end

    def supply(node_id: str, at: datetime) -> float:
        steps = supply_w.get(node_id)
        if steps is None or at < starts[0] or at >= end:
            return 0.0
        k = max(i for i, start in enumerate(starts) if start <= at)
        return steps[k] if k < len(steps) else 0.0

    return supply
