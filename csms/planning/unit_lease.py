"""EV limits leased to each storage unit's discharge (decision 0930). Pure; the loop and the
sender send.

Decision 0626 leases the part of an EV's TxProfile that counts on storage discharge (its
*raised* schedule above the *free* one, computed without the discharge) to the end of the
shortest discharge schedule any unit holds. Here that part is split by unit: a re-plan also
shares the plan once without each discharging unit's discharge, and the part of each EV's
limit that unit ``u`` carries (*lent*) is the raised schedule less the one without ``u``.
Each lent part lasts as long as what its unit is committed to (:class:`Commit`): the end of
the unit's accepted discharge schedule, or now when the unit is silent, stale, alarming or
refused its last setpoint (its part is withdrawn at once), and only the share of it a DER
control still lets the unit give. When the unit comes back its part is restored. What the
lent parts do not explain (the sharing is not additive everywhere) ends with the earliest of
them, and an EV is never below its free schedule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime

from csms.planning.state import EvseState
from csms.storage_units import StorageController
from optimizer import Plan

__all__ = [
    "Commit",
    "Lent",
    "Periods",
    "commits_from",
    "lent_parts",
    "planned_discharge_w",
    "resend_periods",
    "unit_commits",
    "unit_lease_to",
    "unit_leased",
    "value_at",
]

#: (start, W) periods, in order; the first one's value holds before it starts
Periods = tuple[tuple[datetime, float], ...]

#: per unit, the part (start, W >= 0) of an EV's limit its discharge carries
Lent = tuple[tuple[str, Periods], ...]


def value_at(periods: Periods, at: datetime) -> float:
    """The value in force at ``at`` (the first period's before it starts)."""
    value = periods[0][1]
    for start, w in periods:
        if start > at:
            break
        value = w
    return value


#: below this the schedule a station holds and the one it should hold are the same
_TOLERANCE_W = 0.5


@dataclass(frozen=True, slots=True)
class Commit:
    """What the EV limits may count on of one unit: its lent part until ``to`` (its accepted
    discharge schedule's end; now when it is not counted on), and ``kept`` (0..1) of it even
    until then (less than 1 while a DER control narrows the unit below its planned
    discharge)."""

    to: datetime
    kept: float = 1.0


def planned_discharge_w(plan: Plan | None, unit_id: str, now: datetime) -> float:
    """What the plan has the unit discharge at ``now`` (W >= 0; 0 outside the plan)."""
    steps = plan.storage.get(unit_id) if plan is not None else None
    if plan is None or steps is None:
        return 0.0
    grid = plan.grid
    for k in range(grid.n_steps):
        start = grid.step_start(k)
        if start <= now and (now - start).total_seconds() < grid.step_durations_s[k]:
            return max(0.0, -steps.power_w[k])
    return 0.0


def unit_commits(storage: StorageController | None, now: datetime) -> dict[str, Commit]:
    """Each dispatched unit's commitment now, from the storage controller's last step and
    sends (:func:`commits_from`)."""
    if storage is None:
        return {}
    return commits_from(
        storage.units.units,
        {u: (s.setpoint_w, s.valid_to) for u, s in storage.sent.items()},
        lost={*(storage.last.excluded if storage.last is not None else ()), *storage.refused},
        kept=storage.discharge_kept,
        now=now,
    )


def commits_from(
    units: Iterable[str],
    sent: Mapping[str, tuple[float | None, datetime]],
    *,
    lost: Set[str],
    kept: Mapping[str, float],
    now: datetime,
) -> dict[str, Commit]:
    """Each unit's commitment: a unit ``lost`` (excluded at the last step: silent, stale,
    alarm; or its last setpoint refused or failed) or holding no discharge schedule
    (``sent``: its last accepted setpoint and that schedule's end) is committed to nothing;
    one holding a discharge schedule is committed until its end, at the share ``kept`` of
    its planned discharge its DER limit still gives."""
    out: dict[str, Commit] = {}
    for unit_id in units:
        setpoint_w, valid_to = sent.get(unit_id, (None, now))
        if unit_id in lost or setpoint_w is None or setpoint_w >= 0 or valid_to <= now:
            out[unit_id] = Commit(now, 0.0)
        else:
            out[unit_id] = Commit(valid_to, kept.get(unit_id, 1.0))
    return out


def lent_parts(
    raised: Periods, without: Mapping[str, Periods], *, first: datetime
) -> tuple[tuple[str, Periods], ...]:
    """Per unit, the part of ``raised`` that the schedule without the unit's discharge does
    not have (``without``: unit -> that schedule); units that carry none are left out."""
    out = []
    for unit_id, low in sorted(without.items()):
        starts = sorted({first, *(at for at, _ in raised), *(at for at, _ in low)})
        part: list[tuple[datetime, float]] = []
        for at in (s for s in starts if s >= first):
            w = max(0.0, value_at(raised, at) - value_at(low, at))
            if not part or part[-1][1] != w:
                part.append((at, w))
        if any(w > _TOLERANCE_W for _, w in part):
            out.append((unit_id, tuple(part)))
    return tuple(out)


def unit_lease_to(lent: Lent, commits: Mapping[str, Commit], now: datetime) -> datetime:
    """When the first lent part still committed to ends (``now`` if none is); without lent
    parts, the shortest discharge commitment (decision 0626's lease)."""
    if lent:
        ends = [commits[u].to for u, _ in lent if u in commits and commits[u].to > now]
    else:
        ends = [c.to for c in commits.values() if c.to > now]
    return min(ends, default=now)


def _rest_to(lent: Lent, commits: Mapping[str, Commit], now: datetime) -> datetime:
    """When the part no single unit explains ends: with the first lent part, a withdrawn
    one's included (``now``); without lent parts, decision 0626's lease."""
    if not lent:
        return unit_lease_to(lent, commits, now)
    return min(commits[u].to if u in commits else now for u, _ in lent)


def _withdrawn_w(
    lent: Lent, commits: Mapping[str, Commit], at: datetime, gap_w: float, to: datetime
) -> float:
    """How much of the raised part is withdrawn at ``at``."""
    carried_w = withdrawn_w = 0.0
    for unit_id, part in lent:
        w = value_at(part, at)
        carried_w += w
        c = commits.get(unit_id)
        if c is None or at >= c.to:
            withdrawn_w += w
        else:
            withdrawn_w += w * (1.0 - min(1.0, max(0.0, c.kept)))
    rest_w = max(0.0, gap_w - carried_w)  # what no single unit explains
    return withdrawn_w + (rest_w if at >= to else 0.0)


def unit_leased(
    raised: Periods, free: Periods, lent: Lent, commits: Mapping[str, Commit], now: datetime
) -> Periods:
    """``raised`` less each unit's lent part from the end of its commitment (from ``now`` for
    a unit not counted on), never below the lower of ``raised`` and ``free``; same first
    start as ``raised``. All units committed to the same end: decision 0626's schedule."""
    first = raised[0][0]
    to = _rest_to(lent, commits, now)
    ends = (c.to for c in commits.values())
    starts = sorted(
        {
            first,
            to,
            *(at for at, _ in raised),
            *(at for at, _ in free),
            *ends,
            *(at for _, part in lent for at, _ in part),
        }
    )
    out: list[tuple[datetime, float]] = []
    for at in (s for s in starts if s >= first):
        high = value_at(raised, at)
        low = min(high, value_at(free, at))
        w = max(low, high - _withdrawn_w(lent, commits, at, high - low, to))
        if not out or abs(out[-1][1] - w) > 1e-9:
            out.append((at, w))
    return tuple(out)


def _differ(want: Periods, held: Periods, now: datetime) -> tuple[bool, bool, bool]:
    """(lower somewhere from ``now``, higher at ``now``, higher somewhere from ``now``)."""
    starts = sorted({now, *(at for at, _ in want if at > now), *(at for at, _ in held if at > now)})
    diffs = [value_at(want, at) - value_at(held, at) for at in starts]
    return (
        any(d < -_TOLERANCE_W for d in diffs),
        diffs[0] > _TOLERANCE_W,
        any(d > _TOLERANCE_W for d in diffs),
    )


def resend_periods(
    ev: EvseState, commits: Mapping[str, Commit], now: datetime, margin_s: float
) -> tuple[Periods, datetime, str] | None:
    """The schedule from ``now`` an EVSE holding a leased TxProfile must be sent, the lease's
    new end, and why (``withdraw``: a unit's lent part is no longer committed to;
    ``restore``: one is again; ``renew``: the first lent part ends within ``margin_s`` and
    its unit was renewed past it); None when what it holds is right."""
    sent = ev.sent
    if sent is None or sent.lease is None or ev.tx is None or sent.state != "accepted":
        return None
    if sent.transaction_id != ev.tx.id or sent.valid_to is None or now >= sent.valid_to:
        return None
    lease = sent.lease
    shaped = unit_leased(lease.raised, lease.free, lease.lent, commits, now)
    want = ((now, value_at(shaped, now)), *((at, w) for at, w in shaped if at > now))
    held = sent.periods or ((sent.at, sent.limit_w),)
    lower, higher_now, higher = _differ(want, held, now)
    to = unit_lease_to(lease.lent, commits, now)
    if lower:
        return want, to, "withdraw"
    if higher_now:
        return want, to, "restore"
    if higher and (lease.to - now).total_seconds() <= margin_s and to > lease.to:
        return want, to, "renew"
    return None
