"""EV limits that count on storage discharge last no longer than the units' schedules
(decision 0626): the raised part of a TxProfile ends at the lease's end, then the limit the
planner computed without the storage discharge."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from csms.planning.dispatch import Dispatch, make_limit
from csms.planning.lease import leased_dispatches
from csms.planning.state import EvseState, Sent, SiteState
from csms.planning.unit_lease import Commit, Periods, commits_from, resend_periods, unit_leased
from tests.unit.planning.test_periods import END, STEP, T0, _state

LEASE = T0 + timedelta(seconds=15)


def leased(raised: Periods, free: Periods, to: datetime) -> Periods:
    """Decision 0626's schedule: the raised part split by no unit, all of it leased to ``to``."""
    return unit_leased(raised, free, (), {"": Commit(to)}, raised[0][0])


def _dispatch(state: SiteState, ev: EvseState, *periods: tuple[float, float]) -> Dispatch:
    """A TxProfile from T0: (offset s, W) periods."""
    later = tuple((T0 + timedelta(seconds=s), w) for s, w in periods[1:])
    quirks = state.stations[ev.station.id].quirks
    limit = make_limit(ev, periods[0][1], quirks, purpose="TxProfile", now=T0, valid_to=END,
                       later=later)  # fmt: skip
    return Dispatch(ev, periods[0][1], limit, False, later)


def test_the_raised_part_ends_at_the_lease_end_then_the_storage_free_limit() -> None:
    raised = ((T0, 10_000.0), (STEP, 8_000.0))
    free = ((T0, 4_000.0), (STEP, 6_000.0))
    assert leased(raised, free, LEASE) == ((T0, 10_000.0), (LEASE, 4_000.0), (STEP, 6_000.0))
    # never above the raised schedule, and no raised part for a lease already over
    assert leased(raised, ((T0, 12_000.0),), LEASE) == raised
    assert leased(raised, free, T0) == ((T0, 4_000.0), (STEP, 6_000.0))


def test_only_the_evs_above_their_free_limit_get_a_leased_profile() -> None:
    state, a, b = _state()  # A takes periods, B (single-period) one value
    raised = [_dispatch(state, a, (0, 6_000.0)), _dispatch(state, b, (0, 5_000.0))]
    free = [_dispatch(state, a, (0, 2_000.0), (900, 3_000.0)), _dispatch(state, b, (0, 5_000.0))]
    out, leases = leased_dispatches(state, raised, free, (a, b), to=LEASE, now=T0, valid_to=END)
    by_key = {d.evse.key: d for d in out}
    assert by_key[a.key].charging_limit.schedule == ((0, 6000, 3), (15, 2000, 3), (900, 3000, 3))
    assert by_key[a.key].forced and set(leases) == {a.key}
    assert by_key[b.key] is raised[1]  # counts on no storage: unchanged
    # A single-period station cannot end a raise inside its schedule: the free limit now.
    out, leases = leased_dispatches(
        state, raised, [free[0], _dispatch(state, b, (0, 1_000.0))], (a, b),
        to=LEASE, now=T0, valid_to=END,
    )  # fmt: skip
    assert {d.evse.key: d.limit_w for d in out}[b.key] == 1_000.0
    assert b.key not in leases  # one value: nothing to renew


def test_a_held_back_limit_that_counts_on_storage_is_leased_too() -> None:
    state, a, _ = _state()
    assert a.tx is not None
    a.sent = Sent(6_000.0, "TxProfile", T0, "accepted", END, a.tx.id, ((T0, 6_000.0),))
    out, leases = leased_dispatches(
        state, [], [_dispatch(state, a, (0, 2_000.0))], (a,), to=LEASE, now=T0, valid_to=END
    )
    assert [d.evse.key for d in out] == [a.key]
    assert out[0].charging_limit.schedule == ((0, 6000, 3), (15, 2000, 3))
    assert leases[a.key].raised == ((T0, 6_000.0),)


def test_a_lease_is_renewed_only_near_its_end_and_only_to_a_later_end() -> None:
    state, a, _ = _state()
    assert a.tx is not None
    _, leases = leased_dispatches(
        state, [_dispatch(state, a, (0, 6_000.0))], [_dispatch(state, a, (0, 2_000.0))], (a,),
        to=LEASE, now=T0, valid_to=END,
    )  # fmt: skip
    a.sent = Sent(6_000.0, "TxProfile", T0, "accepted", END, a.tx.id,
                  ((T0, 6_000.0), (LEASE, 2_000.0)), lease=leases[a.key])  # fmt: skip
    now, later = T0 + timedelta(seconds=10), LEASE + timedelta(seconds=15)
    renewed = {"": Commit(later)}
    assert resend_periods(a, renewed, now, margin_s=7.5) == (
        ((now, 6_000.0), (later, 2_000.0)),
        later,
        "renew",
    )
    assert resend_periods(a, renewed, T0, margin_s=7.5) is None  # not near its end yet
    assert resend_periods(a, {"": Commit(LEASE)}, now, margin_s=7.5) is None  # not renewed
    a.sent = replace(a.sent, state="rejected")
    assert resend_periods(a, renewed, now, margin_s=7.5) is None


def test_the_lease_is_the_shortest_discharge_schedule() -> None:
    sent = {"a": (-5_000.0, T0 + timedelta(seconds=20)), "b": (-1.0, LEASE), "c": (3_000.0, T0),
            "d": (None, T0)}  # fmt: skip
    commits = commits_from(sent, sent, lost=set(), kept={}, now=T0)
    raised, free = ((T0, 10_000.0),), ((T0, 4_000.0),)
    assert unit_leased(raised, free, (), commits, T0) == ((T0, 10_000.0), (LEASE, 4_000.0))
    idle = commits_from(["c", "d"], sent, lost=set(), kept={}, now=T0)  # nothing discharges
    assert unit_leased(raised, free, (), idle, T0) == ((T0, 4_000.0),)
