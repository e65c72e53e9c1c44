"""EV limits that count on storage discharge last no longer than the storage's schedules
(decision 0626). Pure; the loop and the sender send.

A storage unit is dispatched with a short schedule (decision 0905): when the controller or
the central system stops, the unit is Idle once it runs out. An EV TxProfile raised because
the plan counts on that discharge carries the raised limit only until the unit's schedule
ends (the *lease*), then the limit the planner computed without the storage discharge (the
*free* share); while the units keep being dispatched the raised part is renewed. The raised
part is split by unit and each unit's part leased to that unit (decision 0930,
:mod:`csms.planning.unit_lease`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from csms.planning.dispatch import Dispatch, make_limit, single_period
from csms.planning.problem import Built
from csms.planning.stages import Shares, Window
from csms.planning.state import EvseState, Lease, SiteState
from csms.planning.storage import with_planned_storage
from csms.planning.swap import with_planned_racks
from csms.planning.unit_lease import (
    Commit,
    Periods,
    lent_parts,
    unit_commits,
    unit_lease_to,
    unit_leased,
    value_at,
)
from csms.sites.model import Site
from csms.storage_units import StorageController
from optimizer import Plan

__all__ = [
    "lease_shares",
    "leased_dispatches",
    "record_leases",
    "storage_free",
    "unit_lease_shares",
]


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
    to: datetime | Mapping[str, Commit],
    now: datetime,
    valid_to: datetime,
    without: Mapping[str, list[Dispatch]] | None = None,
) -> tuple[list[Dispatch], dict[str, Lease]]:
    """The dispatches with each raised limit leased: an EVSE whose schedule (the one chosen
    or, held back, the one it holds) exceeds its free one is sent the leased schedule;
    ``free``: the choice without the storage discharge. ``to``: the lease's end (0626), or
    each unit's commitment, with ``without`` (unit -> the choice without that unit's
    discharge) splitting the raised part by unit (0930)."""
    chosen = {d.evse.key: d for d in raised}
    without_free = {d.evse.key: d for d in free}
    per_unit = {u: {d.evse.key: d for d in ds} for u, ds in (without or {}).items()}
    commits = to if isinstance(to, Mapping) else {"": Commit(to)}
    out: list[Dispatch] = []
    leases: dict[str, Lease] = {}
    for ev in still:
        d = chosen.get(ev.key)
        high = _periods(ev, d, now, valid_to)
        low = _periods(ev, without_free.get(ev.key), now, valid_to)
        lent = lent_parts(
            high, {u: _periods(ev, ds.get(ev.key), now, valid_to) for u, ds in per_unit.items()},
            first=now,
        )  # fmt: skip
        quirks = state.stations[ev.station.id].quirks
        one = single_period(quirks)
        if one:  # one value for the whole window, no lease to renew: the lower of the two
            shaped: Periods = ((now, min(high[0][1], min(w for _, w in low))),)
        else:
            shaped = unit_leased(high, low, lent, commits, now)
        if shaped == high:
            if d is not None:
                out.append(d)
            continue
        if not one:
            leases[ev.key] = Lease(unit_lease_to(lent, commits, now), high, low, lent)
        limit = make_limit(ev, shaped[0][1], quirks, purpose="TxProfile", now=now,
                           valid_to=valid_to, later=shaped[1:])  # fmt: skip
        out.append(Dispatch(ev, shaped[0][1], limit, True, shaped[1:]))
    return out, leases


def _periods(ev: EvseState, d: Dispatch | None, now: datetime, valid_to: datetime) -> Periods:
    """The schedule a dispatch sets from ``now``, or (none) what the EVSE holds."""
    return ((now, d.limit_w), *d.later) if d is not None else _schedule(ev, now, valid_to)


def lease_shares(
    state: SiteState,
    shares: Shares,
    free: Shares,
    *,
    to: datetime | Mapping[str, Commit],
    window: Window,
    without: Mapping[str, Shares] | None = None,
) -> tuple[Shares, dict[str, Lease]]:
    """``shares`` (the storage discharge counted on) with every raised limit leased to
    ``to`` (per unit with ``without``: each discharging unit's shares without its
    discharge); ``free``: the same re-plan's shares without the discharge. The plan's
    periods for the renewal into the next window are held to the free ones past the lease
    too."""
    per_unit = {u: s.dispatches for u, s in (without or {}).items()}
    dispatches, leases = leased_dispatches(state, shares.dispatches, free.dispatches,
                                           shares.still, to=to, now=window.sent_at,
                                           valid_to=window.valid_to,
                                           without=per_unit)  # fmt: skip
    later = dict(shares.later)
    for key, lease in list(leases.items()):
        low = (*lease.free, *free.later.get(key, ()))
        beyond = tuple((at, w) for at, w in later.get(key, ()) if at >= window.valid_to)
        later[key] = tuple(
            (at, min(w, value_at(low, at)) if at >= lease.to else w) for at, w in later.get(key, ())
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


def storage_free(
    built: Built,
    pv_w: dict[str, tuple[float, ...]],
    plan: Plan,
    site: Site,
    *,
    without: frozenset[str] | None = None,
) -> Built:
    """``built`` with the supply the EVs have without the plan's storage discharge (its
    planned charging, the PV and the racks still counted); ``without``: only these units'
    discharge left out (decision 0930)."""
    free = with_planned_storage(pv_w, plan, site, discharge=False, without=without)
    return replace(built, pv_w=with_planned_racks(free, plan, site))


def unit_lease_shares(
    state: SiteState,
    shares: Shares,
    share_of: Callable[[Built], Shares],
    built: Built,
    pv_w: dict[str, tuple[float, ...]],
    plan: Plan,
    storage: StorageController | None,
    window: Window,
) -> tuple[Shares, dict[str, Lease]]:
    """A re-plan's ``shares`` leased per unit (decision 0930): ``share_of`` shares the plan
    for a supply; ``built``'s without the storage discharge, and without each discharging
    unit's alone, give the free shares and each unit's part; the EVs' limits are leased to
    each unit's commitment now."""
    site = state.site
    units = sorted(u for u, s in plan.storage.items() if any(w < 0 for w in s.power_w))
    per_unit = {
        u: share_of(storage_free(built, pv_w, plan, site, without=frozenset((u,)))) for u in units
    }
    free = share_of(storage_free(built, pv_w, plan, site))
    commits = unit_commits(storage, window.sent_at)
    return lease_shares(state, shares, free, to=commits, window=window, without=per_unit)
