"""Share each node's first-step power fairly among the sessions under it (sans-I/O).

The LP decides how much each node draws in the first step (the tariff, caps and departures
weigh in), but many sessions are interchangeable to it: its solution gives some EVs full
power and others none, and a different set at the next re-plan. Stations and batteries
dislike that. So the first step is re-shared by weighted progressive filling (max-min
fairness): every session rises at the pace of its urgency until it reaches what it can
take or a node above it reaches its budget. The urgency is the constant power that gets the
session its missing energy by its departure (energy missing per hour left), more for an EV
whose taper will hold it back near full: the pace at which it still finishes.

A second round hands out what is left up to the plan's own peak at each node (never above
its limit): an EV whose stated need is met may keep charging on capacity that would
otherwise go unused, without raising the peak the plan accepted (the demand charge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from optimizer import Evse, Plan, Problem, Session

__all__ = ["fair_first_step"]


def _fill(
    alloc: dict[str, float],
    cap: dict[str, float],
    weight: dict[str, float],
    budget: dict[str, float],
    members: dict[str, list[str]],
    *,
    from_level: bool = False,
) -> None:
    """Progressive filling: every EVSE in ``alloc`` rises at the pace of its weight until it
    reaches its cap or a node above it its budget. ``from_level``: an EVSE already holding
    ``alloc`` (its minimum) waits until the common level reaches it, so each ends at
    max(alloc, weight x level): the weighted max-min share with a floor."""
    active = {i for i in alloc if cap[i] > alloc[i] + 1e-9}
    level = 0.0
    for _ in range(len(members) + 2 * len(alloc) + 2):
        if not active:
            return
        if from_level:
            rising = {i for i in active if weight[i] * level >= alloc[i] - 1e-9}
        else:
            rising = active
        step = float("inf")
        for i in active - rising:  # the next one to join the rise
            step = min(step, alloc[i] / weight[i] - level)
        for node_id, ids in members.items():
            up = [i for i in ids if i in rising]
            if not up:
                continue
            room = budget.get(node_id, float("inf")) - sum(alloc[i] for i in ids)
            step = min(step, max(0.0, room) / sum(weight[i] for i in up))
        for i in rising:
            step = min(step, (cap[i] - alloc[i]) / weight[i])
        if step == float("inf"):
            return
        level += step
        for i in rising:
            alloc[i] += weight[i] * step
        done = {i for i in rising if alloc[i] >= cap[i] - 1e-6}
        for node_id, ids in members.items():
            room = budget.get(node_id, float("inf")) - sum(alloc[i] for i in ids)
            if room <= 1e-6:
                done.update(i for i in ids if i in active)
        if not done and not (active - rising):
            return
        active -= done


def _admit(
    candidates: list[str],
    alloc: dict[str, float],
    floor: dict[str, float],
    reserve: dict[str, float],
    budget: dict[str, float],
    nodes_of: dict[str, list[str]],
    members: dict[str, list[str]],
) -> list[str]:
    """Give each of ``candidates`` (most urgent first) its minimum ``floor`` where that
    still fits under every node above it, after what the EVSEs already admitted hold and
    ``reserve`` (what each admitted one needs, at least its floor); the others wait (0)."""
    used = {node_id: sum(alloc[i] for i in ids) for node_id, ids in members.items()}
    admitted = []
    for i in candidates:
        nodes = nodes_of.get(i, [])
        if all(
            used[n] + floor[i] <= budget.get(n, float("inf")) + 1e-6 for n in nodes if n in used
        ):
            alloc[i] = floor[i]
            extra = max(reserve[i], floor[i])
            for n in nodes:
                if n in used:
                    used[n] += extra
            admitted.append(i)
    return admitted


def _quantize(
    alloc: dict[str, float],
    levels: dict[str, tuple[float, ...]],
    cap: dict[str, float],
    order: list[str],
    budget: dict[str, float],
    nodes_of: dict[str, list[str]],
    members: dict[str, list[str]],
) -> None:
    """Round each share with ``levels`` down to one of them, then raise the EVs that still
    want more one level at a time, in ``order``, pass after pass, while every node above
    them stays within ``budget``."""
    for i, steps in levels.items():
        if i in alloc:
            alloc[i] = max(w for w in steps if w <= alloc[i] + 1e-6)
    used = {node_id: sum(alloc[i] for i in ids) for node_id, ids in members.items()}
    progress = True
    while progress:
        progress = False
        for i in order:
            if i not in levels or alloc[i] >= cap[i] - 1e-6:
                continue
            higher = [w for w in levels[i] if w > alloc[i] + 1e-6]
            if not higher:
                continue
            delta = higher[0] - alloc[i]
            nodes = [n for n in nodes_of.get(i, []) if n in used]
            if all(used[n] + delta <= budget.get(n, float("inf")) + 1e-6 for n in nodes):
                alloc[i] = higher[0]
                for n in nodes:
                    used[n] += delta
                progress = True


def _hold_must(
    order: list[str],
    admitted: set[str],
    alloc: dict[str, float],
    must: dict[str, float],
    budget: dict[str, float],
    nodes_of: dict[str, list[str]],
    members: dict[str, list[str]],
) -> None:
    """Raise each admitted EVSE (``order``: least laxity first) to what it ``must`` draw now,
    as far as the nodes above it have room: the shares then rise from there."""
    used = {node_id: sum(alloc[i] for i in ids) for node_id, ids in members.items()}
    for i in order:
        if i not in admitted or must[i] <= alloc[i]:
            continue
        nodes = [n for n in nodes_of.get(i, []) if n in used]
        room = min((budget.get(n, float("inf")) - used[n] for n in nodes), default=float("inf"))
        up = max(0.0, min(must[i] - alloc[i], room))
        alloc[i] += up
        for n in nodes:
            used[n] += up


def _line(s: Session, evse_max_w: float) -> tuple[float, float, float] | None:
    """(start Wh, power W at the start, W less per Wh) of the session's taper, or None."""
    if s.taper_start_wh is None:
        return None
    top = evse_max_w if s.max_power_w is None else s.max_power_w
    floor = min(s.taper_floor_w, top)
    slope = (top - floor) / (s.taper_full_wh - s.taper_start_wh)
    return (s.taper_start_wh, top, slope) if slope > 0 else None


def taper_w(s: Session, evse_max_w: float, energy_wh: float) -> float:
    """What the EV takes with ``energy_wh`` of session energy in its battery, by its taper
    (infinite where it has none or has not reached it)."""
    line = _line(s, evse_max_w)
    if line is None or energy_wh < line[0]:
        return math.inf
    start, top, slope = line
    return max(min(s.taper_floor_w, top), top - slope * (energy_wh - start))


def _hours(line: tuple[float, float, float], rate_w: float, lo_wh: float, hi_wh: float) -> float:
    """Hours to take the energy from ``lo_wh`` to ``hi_wh`` under a constant ``rate_w``,
    the taper ``line`` (see :func:`_line`) taking over where it falls below it."""
    start, top, slope = line
    bend = start + max(0.0, top - rate_w) / slope  # where the taper falls below rate_w
    flat = max(0.0, min(hi_wh, bend) - lo_wh) / rate_w
    a = max(lo_wh, bend)
    if a >= hi_wh:
        return flat
    at_a, at_hi = top - slope * (a - start), top - slope * (hi_wh - start)
    return flat + math.log(at_a / max(at_hi, 1e-9)) / slope


def pace_w(
    s: Session, evse_max_w: float, takes_w: float, energy_wh: float, need_wh: float, hours: float
) -> float:
    """The constant power that gets ``need_wh`` more into the EV (at ``energy_wh`` now) within
    ``hours``, its taper considered. An EV that can not make it even at ``takes_w`` gets that
    scaled by the hours it would need over the hours it has (``need_wh / hours`` without a
    taper, as with one)."""
    if need_wh <= 0:
        return 0.0
    even = need_wh / hours
    line = _line(s, evse_max_w)
    if line is None:
        return even
    hi_wh = energy_wh + need_wh
    at_full = _hours(line, takes_w, energy_wh, hi_wh)
    if at_full >= hours:
        return takes_w * at_full / hours
    lo, hi = even, takes_w
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if _hours(line, mid, energy_wh, hi_wh) > hours:
            lo = mid
        else:
            hi = mid
    return hi


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
    pv_w: dict[str, tuple[float, ...]] | None = None,
    finish_margin_s: float = 0.0,
    min_w: dict[str, float] | None = None,
    charging: set[str] | None = None,
    hysteresis_s: float = 0.0,
    levels_w: dict[str, tuple[float, ...]] | None = None,
    giving: dict[str, frozenset[int]] | None = None,
) -> dict[str, list[float]]:
    """EVSE id -> power (W) for each of the plan's first ``steps`` steps, each step shared
    like the first: the plan's node power at that step, by urgency after what the earlier
    steps delivered. ``held``: EVSEs that keep one value over all the steps (stations that
    take one period per schedule) with that value; later steps share what they leave.
    ``pv_w``: node id -> PV power under it per step, which the EVs under it may take on top
    of the node's net import. ``finish_margin_s``: the urgency paces each EV to finish this
    long before its departure (the plan and the meters lag a little).

    Every EVSE gets 0 or at least its minimum power (``min_w``, EVSE id -> W; default the
    problem's ``min_current_a``): where the budget does not reach every EVSE's minimum, the
    EVs with the least laxity charge and the others wait, and as the waiting ones lose
    laxity they take their turn. ``charging``: the EVSEs charging now, which keep their
    place unless one waiting has ``hysteresis_s`` less laxity (no flapping at every
    re-plan). ``levels_w``: EVSE id -> the only limits (W, 0 first) its station takes
    (default: the problem's ``allowed_currents_a``); each share is rounded down to one, and
    the power that frees goes out again one level at a time, least laxity first, within
    every node's budget. ``giving``: EVSE id -> the steps its V2G EV gives power back in,
    where it takes no share (0; decision 0910)."""
    grid = plan.grid
    steps = max(1, min(steps, grid.n_steps))
    held = held or {}
    giving = giving or {}
    pv_w = pv_w or {}
    fleet = _fleet(problem, grid.start, ancestors, min_w, levels_w)
    was = charging or set()
    delivered = {evse_id: 0.0 for evse_id in fleet.evses}  # by the earlier steps (Wh)
    out: dict[str, list[float]] = {evse_id: [] for evse_id in fleet.evses}
    for k in range(steps):
        gives = frozenset(evse_id for evse_id, ks in giving.items() if k in ks)
        claims = _claims(fleet, plan, k, out, delivered, held, finish_margin_s, gives)
        first, peak = _budgets(plan, k, pv_w, fleet, claims.fixed)
        if k > 0:
            was = {i for i in fleet.evses if out[i] and out[i][-1] > 0}
        alloc = _share_step(fleet, claims, first, peak, was, hysteresis_s)
        for evse_id in fleet.evses:
            value = claims.fixed[evse_id] if evse_id in claims.fixed else alloc[evse_id]
            out[evse_id].append(value)
            delivered[evse_id] += value * grid.step_durations_s[k] / 3600.0
    return out


@dataclass(frozen=True, slots=True)
class _Fleet:
    """The sessions plugged in at the plan's start and what each EVSE may take."""

    sessions: dict[str, Session]
    evses: dict[str, Evse]
    #: node id -> the EVSEs under it
    members: dict[str, list[str]]
    #: EVSE id -> the nodes above it
    nodes_of: dict[str, list[str]]
    #: EVSE id -> the most it takes (W): its own and its session's maximum
    takes: dict[str, float]
    minimum_w: dict[str, float]
    levels: dict[str, tuple[float, ...]]
    #: the nodes with a per-phase current limit (the LP keeps their per-phase sums)
    phase_limited: set[str]


def _fleet(
    problem: Problem,
    start: datetime,
    ancestors: dict[str, list[str]],
    min_w: dict[str, float] | None,
    levels_w: dict[str, tuple[float, ...]] | None,
) -> _Fleet:
    # the sessions plugged in (expected arrivals from the site's history come later)
    sessions = {s.evse_id: s for s in problem.sessions if s.arrival <= start}
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
    minimum_w = {
        e.evse_id: e.power_w(e.min_current_a) for e in problem.evses if e.evse_id in sessions
    }
    minimum_w.update(min_w or {})
    levels = {
        e.evse_id: (0.0, *(e.power_w(a) for a in e.allowed_currents_a if a >= e.min_current_a))
        for e in problem.evses
        if e.evse_id in sessions and e.allowed_currents_a
    }
    levels.update(levels_w or {})
    nodes_of: dict[str, list[str]] = {}
    for node_id, ids in members.items():
        for i in ids:
            nodes_of.setdefault(i, []).append(node_id)
    phase_limited = {n.node_id for n in problem.nodes if n.max_phase_current_a is not None}
    return _Fleet(sessions, evses, members, nodes_of, takes, minimum_w, levels, phase_limited)


@dataclass(slots=True)
class _Claims:
    """Per EVSE sharing at one step: what it may get (``cap``), what it accepts now, its
    urgency (``weight``), its minimum (``floor``) and its hours to spare (``laxity``);
    ``fixed``: the held EVSEs' values."""

    cap: dict[str, float] = field(default_factory=dict)
    accepts: dict[str, float] = field(default_factory=dict)
    weight: dict[str, float] = field(default_factory=dict)
    floor: dict[str, float] = field(default_factory=dict)
    laxity: dict[str, float] = field(default_factory=dict)
    fixed: dict[str, float] = field(default_factory=dict)
    #: what it must draw now to still finish at what it accepts (no more than the plan gave it)
    must: dict[str, float] = field(default_factory=dict)


def _claims(
    fleet: _Fleet,
    plan: Plan,
    k: int,
    out: dict[str, list[float]],
    delivered: dict[str, float],
    held: dict[str, float],
    finish_margin_s: float,
    gives: frozenset[str] = frozenset(),
) -> _Claims:
    start = plan.grid.step_start(k)
    c = _Claims()
    for evse_id, evse in fleet.evses.items():
        s = fleet.sessions[evse_id]
        if evse_id in gives:  # a V2G EV giving power back takes no share
            c.fixed[evse_id] = 0.0
            continue
        if k > 0 and evse_id in held:
            c.fixed[evse_id] = out[evse_id][0]
            continue
        takes = fleet.takes[evse_id]
        remaining = s.remaining_wh - delivered[evse_id]
        energy = s.energy_delivered_wh + delivered[evse_id]
        accepts = c.accepts[evse_id] = min(takes, taper_w(s, evse.max_power_w, energy))
        planned = plan.evses[evse_id].power_w[k] if evse_id in plan.evses else 0.0
        present = s.departure > start
        c.cap[evse_id] = 0.0 if not present else accepts if remaining > 0 else min(accepts, planned)
        left_s = (s.departure - start).total_seconds() - finish_margin_s
        hours = max(left_s / 3600.0, 0.25)
        pace = pace_w(s, evse.max_power_w, takes, energy, remaining, hours)
        c.weight[evse_id] = max(pace, 100.0)
        c.floor[evse_id] = fleet.minimum_w.get(evse_id, 0.0)
        # hours to spare: time left less the time its need takes at what it takes
        c.laxity[evse_id] = (
            left_s / 3600.0 - remaining / max(accepts, 1e-9) if remaining > 0 else 1e9
        )
        stay_s = (s.departure - start).total_seconds()
        must = _must_w(remaining, accepts, left_s, stay_s, plan.grid.step_durations_s[k])
        c.must[evse_id] = min(must, planned, c.cap[evse_id])
    return c


def _must_w(
    remaining_wh: float, accepts_w: float, left_s: float, stay_s: float, step_s: float
) -> float:
    """The power an EV must draw in this step (of ``step_s``) to still get ``remaining_wh``
    in ``left_s`` at ``accepts_w`` afterwards; 0 when it could still wait, and 0 when it
    cannot get it by its departure (``stay_s``) even at ``accepts_w`` from now: holding its
    power would not make it finish, the fair share decides."""
    if remaining_wh <= 0 or accepts_w <= 0 or remaining_wh > accepts_w * stay_s / 3600.0:
        return 0.0
    after_h = max(0.0, left_s - step_s) / 3600.0
    now_wh = remaining_wh - accepts_w * after_h
    return min(accepts_w, max(0.0, now_wh * 3600.0 / step_s))


def _budgets(
    plan: Plan,
    k: int,
    pv_w: dict[str, tuple[float, ...]],
    fleet: _Fleet,
    fixed: dict[str, float],
) -> tuple[dict[str, float], dict[str, float]]:
    """Each node's budget at step ``k``: the plan's power there (``first``) and up to the
    plan's own peak, never above its limit (``peak``); both with the PV under it, less what
    the held EVSEs keep drawing."""
    pv = {node_id: values[k] for node_id, values in pv_w.items()}
    first = {
        node_id: max(0.0, n.power_w[k] + pv.get(node_id, 0.0)) for node_id, n in plan.nodes.items()
    }
    peak: dict[str, float] = {}
    for node_id, n in plan.nodes.items():
        if node_id in fleet.phase_limited:  # the per-phase sums are the LP's to keep
            peak[node_id] = first[node_id]
            continue
        ceiling = max(n.power_w)
        limit = n.max_import_w[k]
        net = ceiling if limit is None else min(ceiling, limit)
        peak[node_id] = max(first[node_id], net + pv.get(node_id, 0.0))
    if fixed:  # what the held EVSEs keep drawing comes off the nodes above them
        for node_id, ids in fleet.members.items():
            taken = sum(fixed.get(i, 0.0) for i in ids)
            first[node_id] = first.get(node_id, float("inf")) - taken
            peak[node_id] = peak.get(node_id, float("inf")) - taken
    return first, peak


def _share_step(
    fleet: _Fleet,
    c: _Claims,
    first: dict[str, float],
    peak: dict[str, float],
    was: set[str],
    hysteresis_s: float,
) -> dict[str, float]:
    """One step's shares: who charges (0 or at least its minimum, by urgency), filled up to
    the plan's power, then up to its peak, rounded to the levels the stations take."""
    cap = c.cap
    rising = {node_id: [i for i in ids if i in cap] for node_id, ids in fleet.members.items()}
    # Who charges: an EVSE gets 0 or at least its minimum. The most urgent (least
    # laxity; one charging already keeps its place for ``hysteresis_s`` more of it) get
    # their minimum first while it fits after what the more urgent ones claim.
    order = sorted(
        (i for i in cap if cap[i] > 0),
        key=lambda i: (c.laxity[i] - (hysteresis_s / 3600.0 if i in was else 0.0), i),
    )
    # Each EV's claim is its share as if every EV could charge at any current; the EVs
    # whose share is below their minimum are lifted to it or wait.
    alloc = {evse_id: 0.0 for evse_id in cap}
    _fill(alloc, cap, c.weight, first, rising)
    reserve = dict(alloc)
    alloc = {evse_id: 0.0 for evse_id in cap}
    nodes_of, floor = fleet.nodes_of, c.floor
    for i in order:  # an EV behind its pace must not lose what the plan gave it
        reserve[i] = max(reserve[i], c.must[i])
    admitted = set(_admit(order, alloc, floor, reserve, first, nodes_of, rising))
    _hold_must(order, admitted, alloc, c.must, first, nodes_of, rising)
    zero = {i: 0.0 for i in cap}
    for _ in range(len(order) + 1):
        _fill(
            alloc,
            {i: cap[i] if i in admitted else 0.0 for i in cap},
            c.weight,
            first,
            rising,
            from_level=True,
        )
        more = _admit(
            [i for i in order if i not in admitted], alloc, floor, zero, first, nodes_of, rising
        )
        if not more:
            break
        admitted.update(more)
    # The second round (up to the plan's peak) may let waiting EVs in where it can.
    admitted.update(
        _admit([i for i in order if i not in admitted], alloc, floor, zero, peak, nodes_of, rising)
    )
    top = {i: c.accepts[i] if i in admitted and cap[i] > 0 else 0.0 for i in cap}
    _fill(alloc, top, {i: 1.0 for i in alloc}, peak, rising)
    if fleet.levels:
        _quantize(alloc, fleet.levels, cap, order, peak, nodes_of, rising)
    return alloc
