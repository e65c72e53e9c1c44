"""EV limits that count on storage discharge last no longer than the storage's schedules
(decision 0626). Pure; the loop and the sender send.

A storage unit is dispatched with a short schedule (decision 0905): when the controller or
the central system stops, the unit is Idle once it runs out. An EV TxProfile raised because
the plan counts on that discharge carries the raised limit only until the unit's schedule
ends (the *lease*), then the limit the planner computed without the storage discharge (the
*free* share); while the units keep being dispatched the raised part is renewed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from csms.planning.dispatch import Dispatch, make_limit, single_period
from csms.planning.problem import Built
from csms.planning.stages import Shares, Window
from csms.planning.state import EvseState, Lease, SiteState
from csms.planning.storage import with_planned_storage
from csms.planning.swap import with_planned_racks
from csms.sites.model import Site
from csms.storage_units import StorageController
from optimizer import Plan

__all__ = [
    "Periods",
    "lease_end",
    "lease_renewal",
    "lease_shares",
    "lease_to",
    "leased",
    "leased_dispatches",
    "record_leases",
    "storage_free",
    "value_at",
]

#: (start, W) periods, in order; the first one's value holds before it starts
Periods = tuple[tuple[datetime, float], ...]


def value_at(periods: Periods, at: datetime) -> float:
    """The value in force at ``at`` (the first period's before it starts)."""
    value = periods[0][1]
    for start, w in periods:
        if start > at:
            break
        value = w
    return value


def leased(raised: Periods, free: Periods, to: datetime) -> Periods:
    """``raised`` until ``to``, then the lower of ``raised`` and ``free``; same first start."""
    first = raised[0][0]
    starts = sorted({first, *(at for at, _ in raised), *(at for at, _ in free if at > to), to})
    out: list[tuple[datetime, float]] = []
    for at in (s for s in starts if s >= first):
        w = value_at(raised, at)
        if at >= to:
            w = min(w, value_at(free, at))
        if not out or out[-1][1] != w:
            out.append((at, w))
    return tuple(out)


def lease_end(storage: StorageController | None, now: datetime) -> datetime:
    """How long the EV limits may count on the storage discharge: the end of the shortest
    discharge schedule a unit holds (``now`` if none does)."""
    sent = storage.sent.values() if storage is not None else ()
    return lease_to(((u.setpoint_w, u.valid_to) for u in sent), now)


def lease_to(setpoints: Iterable[tuple[float | None, datetime]], now: datetime) -> datetime:
    """The end of the shortest discharge schedule a unit holds (``now`` if none does): what
    the EV limits may count on the storage discharge for."""
    ends = [end for w, end in setpoints if w is not None and w < 0 and end > now]
    return min(ends, default=now)


def _schedule(ev: EvseState, first: datetime, end: datetime) -> Periods:
    """The schedule the EVSE holds from ``first`` (its sent TxProfile; 0 without one)."""
    sent = ev.sent
    if sent is None or ev.tx is None or sent.transaction_id != ev.tx.id:
        return ((first, 0.0),)
    later = tuple((at, w) for at, w in sent.periods if first < at < end)
    return ((first, sent.value_at(first)), *later)


def leased_dispatches(
    state: SiteState,
    raised: list[Dispatch],
    free: list[Dispatch],
    still: Iterable[EvseState],
    *,
    to: datetime,
    now: datetime,
    valid_to: datetime,
) -> tuple[list[Dispatch], dict[str, Lease]]:
    """The dispatches with each raised limit leased to ``to``: an EVSE whose schedule (the
    one chosen or, held back, the one it holds) exceeds its free one after ``to`` is sent
    the leased schedule; ``free``: the choice without the storage discharge."""
    chosen = {d.evse.key: d for d in raised}
    without = {d.evse.key: d for d in free}
    out: list[Dispatch] = []
    leases: dict[str, Lease] = {}
    for ev in still:
        d = chosen.get(ev.key)
        high = ((now, d.limit_w), *d.later) if d is not None else _schedule(ev, now, valid_to)
        f = without.get(ev.key)
        low = ((now, f.limit_w), *f.later) if f is not None else _schedule(ev, now, valid_to)
        quirks = state.stations[ev.station.id].quirks
        one = single_period(quirks)
        if one:  # one value for the whole window, no lease to renew: the lower of the two
            shaped: Periods = ((now, min(high[0][1], min(w for _, w in low))),)
        else:
            shaped = leased(high, low, to)
        if shaped == high:
            if d is not None:
                out.append(d)
            continue
        if not one:
            leases[ev.key] = Lease(to, high, low)
        limit = make_limit(ev, shaped[0][1], quirks, purpose="TxProfile", now=now,
                           valid_to=valid_to, later=shaped[1:])  # fmt: skip
        out.append(Dispatch(ev, shaped[0][1], limit, True, shaped[1:]))
    return out, leases


def lease_shares(
    state: SiteState, shares: Shares, free: Shares, *, to: datetime, window: Window
) -> tuple[Shares, dict[str, Lease]]:
    """``shares`` (the storage discharge counted on) with every raised limit leased to
    ``to``; ``free``: the same re-plan's shares without the discharge. The plan's periods
    for the renewal into the next window are held to the free ones past ``to`` too."""
    dispatches, leases = leased_dispatches(state, shares.dispatches, free.dispatches,
                                           shares.still, to=to, now=window.sent_at,
                                           valid_to=window.valid_to)  # fmt: skip
    later = dict(shares.later)
    for key, lease in list(leases.items()):
        low = (*lease.free, *free.later.get(key, ()))
        beyond = tuple((at, w) for at, w in later.get(key, ()) if at >= window.valid_to)
        later[key] = tuple(
            (at, min(w, value_at(low, at)) if at >= to else w) for at, w in later.get(key, ())
        )
        # the renewal into the next window may carry the lease there: the plan's periods
        leases[key] = replace(lease, raised=(*lease.raised, *beyond))
    # An idle EVSE's default has no end: it is held to the room left without the discharge.
    shares = replace(shares, uncontrolled_w=free.uncontrolled_w, later_limits_w=free.later_limits_w)
    return replace(shares, later=later, dispatches=dispatches), leases


def record_leases(state: SiteState, leases: dict[str, Lease]) -> None:
    """Keep each leased TxProfile's lease on what was recorded as sent."""
    for ev in state.evses.values():
        lease = leases.get(ev.key)
        if lease is not None and ev.sent is not None:
            ev.sent = replace(ev.sent, lease=lease)


def lease_renewal(ev: EvseState, to: datetime, now: datetime, margin_s: float) -> Periods | None:
    """The schedule from ``now`` of an EVSE whose lease ends within ``margin_s`` with its
    lease moved to ``to`` (a later end); None when it needs none."""
    sent = ev.sent
    if sent is None or sent.lease is None or ev.tx is None or sent.state != "accepted":
        return None
    lease = sent.lease
    if sent.transaction_id != ev.tx.id or to <= lease.to:
        return None
    if (lease.to - now).total_seconds() > margin_s or sent.valid_to is None:
        return None
    if now >= sent.valid_to:
        return None
    # raised until ``to``, then what the EVSE holds (the free limit past the old lease end)
    shaped = leased(lease.raised, sent.periods or ((sent.at, sent.limit_w),), to)
    return ((now, value_at(shaped, now)), *((at, w) for at, w in shaped if at > now))


def storage_free(built: Built, pv_w: dict[str, tuple[float, ...]], plan: Plan, site: Site) -> Built:
    """``built`` with the supply the EVs have without the plan's storage discharge (its
    planned charging, the PV and the racks still counted)."""
    free = with_planned_storage(pv_w, plan, site, discharge=False)
    return replace(built, pv_w=with_planned_racks(free, plan, site))
