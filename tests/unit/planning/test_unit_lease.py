"""EV limits leased to each storage unit's discharge (decision 0930): the part of an EV's
limit a unit carries is withdrawn at once when that unit is not counted on (silent, stale,
alarm, a refused setpoint), narrowed by a DER limit, restored when it is counted on again,
and the other units' parts stay."""

from __future__ import annotations

from datetime import datetime, timedelta

from csms.planning.lease import leased_dispatches
from csms.planning.state import Sent
from csms.planning.unit_lease import (
    Commit,
    commits_from,
    lent_parts,
    resend_periods,
    unit_leased,
    value_at,
)
from csms.storage_units.controller import kept_shares
from storage_ctrl import UnitRating
from tests.unit.planning.test_lease import _dispatch
from tests.unit.planning.test_periods import END, STEP, T0, _state

A_END = T0 + timedelta(seconds=15)
B_END = T0 + timedelta(seconds=20)
BOTH = {"A": Commit(A_END), "B": Commit(B_END)}
NOW = T0 + timedelta(seconds=5)


def test_each_units_part_ends_with_that_units_commitment() -> None:
    raised, free = ((T0, 10_000.0),), ((T0, 3_000.0),)
    lent = lent_parts(raised, {"A": ((T0, 7_000.0),), "B": ((T0, 6_000.0),)}, first=T0)
    assert lent == (("A", ((T0, 3_000.0),)), ("B", ((T0, 4_000.0),)))
    # both committed: raised until A's end, less A's part until B's end, then free
    assert unit_leased(raised, free, lent, BOTH, T0) == (
        (T0, 10_000.0), (A_END, 7_000.0), (B_END, 3_000.0)
    )  # fmt: skip
    # A not counted on: exactly A's part is gone from now, B's stays until B's end
    lost_a = {"A": Commit(T0, 0.0), "B": Commit(B_END)}
    assert unit_leased(raised, free, lent, lost_a, T0) == ((T0, 7_000.0), (B_END, 3_000.0))
    # a DER limit that lets A give half its planned discharge: half its part from now
    half_a = {"A": Commit(A_END, 0.5), "B": Commit(B_END)}
    assert unit_leased(raised, free, lent, half_a, T0) == (
        (T0, 8_500.0), (A_END, 7_000.0), (B_END, 3_000.0)
    )  # fmt: skip
    # a unit the controller knows nothing of carries nothing: its part is not counted on
    assert unit_leased(raised, free, lent, {"B": Commit(B_END)}, T0)[0] == (T0, 7_000.0)


def test_never_above_raised_nor_below_free_and_the_rest_ends_first() -> None:
    raised, free = ((T0, 10_000.0), (STEP, 5_000.0)), ((T0, 3_000.0), (STEP, 4_000.0))
    # the parts explain 4 kW of the 7 kW raised: the other 3 kW end with the first part
    lent = (("A", ((T0, 2_000.0), (STEP, 0.0))), ("B", ((T0, 2_000.0), (STEP, 1_000.0))))
    shaped = unit_leased(raised, free, lent, BOTH, T0)
    assert shaped == ((T0, 10_000.0), (A_END, 5_000.0), (B_END, 3_000.0), (STEP, 4_000.0))
    for commits in (BOTH, {"A": Commit(T0, 0.0), "B": Commit(T0, 0.0)}, {}):
        for at in (T0, A_END, B_END, STEP, END):
            w = value_at(unit_leased(raised, free, lent, commits, T0), at)
            assert min(value_at(raised, at), value_at(free, at)) <= w <= value_at(raised, at)
    # parts that explain more than the raised part: never below the free schedule
    over = (("A", ((T0, 6_000.0),)), ("B", ((T0, 6_000.0),)))
    lost = {"A": Commit(T0, 0.0), "B": Commit(T0, 0.0)}
    assert unit_leased(raised, free, over, lost, T0) == ((T0, 3_000.0), (STEP, 4_000.0))


def test_a_silent_unit_withdraws_its_part_of_every_ev_and_restores_it_back() -> None:
    state, a, _ = _state()  # A takes periods
    raised = [_dispatch(state, a, (0, 10_000.0))]
    free = [_dispatch(state, a, (0, 3_000.0))]
    without = {"A": [_dispatch(state, a, (0, 7_000.0))], "B": [_dispatch(state, a, (0, 6_000.0))]}
    out, leases = leased_dispatches(state, raised, free, (a,), to=BOTH, now=T0, valid_to=END,
                                    without=without)  # fmt: skip
    lease = leases[a.key]
    assert lease.lent == (("A", ((T0, 3_000.0),)), ("B", ((T0, 4_000.0),)))
    assert lease.to == A_END
    assert out[0].charging_limit.schedule == ((0, 10000, 3), (15, 7000, 3), (20, 3000, 3))
    assert a.tx is not None
    a.sent = Sent(10_000.0, "TxProfile", T0, "accepted", END, a.tx.id,
                  ((T0, 10_000.0), (A_END, 7_000.0), (B_END, 3_000.0)), lease=lease)  # fmt: skip
    assert resend_periods(a, BOTH, NOW, margin_s=7.5) is None  # what it holds is right
    # A stops reporting: excluded at the next step, its part withdrawn now, B's kept
    silent = commits_from(("A", "B"), {"A": (-3_000.0, A_END), "B": (-4_000.0, B_END)},
                          lost={"A"}, kept={}, now=NOW)  # fmt: skip
    periods, to, why = resend_periods(a, silent, NOW, margin_s=7.5) or ((), T0, "")
    assert why == "withdraw" and periods == ((NOW, 7_000.0), (B_END, 3_000.0))
    assert to == B_END  # the lease now ends with B's schedule
    a.sent = Sent(7_000.0, "TxProfile", NOW, "accepted", END, a.tx.id, periods,
                  lease=lease.__class__(to, lease.raised, lease.free, lease.lent))  # fmt: skip
    assert resend_periods(a, silent, NOW, margin_s=7.5) is None  # sent once, not every step
    # A reports again and accepts its next discharge schedule: its part comes back
    later = NOW + timedelta(seconds=5)
    back = {"A": Commit(later + timedelta(seconds=15)), "B": Commit(B_END)}
    periods, to, why = resend_periods(a, back, later, margin_s=7.5) or ((), T0, "")
    assert why == "restore" and periods[0] == (later, 10_000.0)
    assert to == B_END


def test_a_refused_setpoint_and_a_der_limit_make_the_commitment() -> None:
    sent = {"A": (-3_000.0, A_END), "B": (-4_000.0, B_END), "C": (2_000.0, B_END)}
    got = commits_from(("A", "B", "C", "D"), sent, lost={"B"}, kept={"A": 0.25}, now=T0)
    assert got == {
        "A": Commit(A_END, 0.25),  # a DER limit: a quarter of its planned discharge
        "B": Commit(T0, 0.0),  # refused its last setpoint: nothing
        "C": Commit(T0, 0.0),  # charging: carries no EV headroom
        "D": Commit(T0, 0.0),  # never sent anything
    }
    # an expired schedule commits nothing either
    assert commits_from(("A",), sent, lost=set(), kept={}, now=A_END)["A"] == Commit(A_END, 0.0)


def test_the_kept_share_is_the_rating_in_force_against_the_plan() -> None:
    def rating(unit_id: str, discharge_w: float) -> UnitRating:
        return UnitRating(unit_id, 100_000.0, 30_000.0, discharge_w)

    ratings = {"A": rating("A", 5_000.0), "B": rating("B", 30_000.0), "C": rating("C", 0.0)}
    planned = {"A": -10_000.0, "B": -10_000.0, "C": -1_000.0}
    assert kept_shares(ratings, planned) == {"A": 0.5, "B": 1.0, "C": 0.0}
    assert kept_shares(ratings, {"A": 2_000.0}) == {}  # charging: nothing lent


def test_the_share_by_unit_comes_from_the_plan_without_each_unit() -> None:
    raised: tuple[tuple[datetime, float], ...] = ((T0, 10_000.0), (STEP, 8_000.0))
    lent = lent_parts(raised, {"A": ((T0, 10_000.0),), "B": ((T0, 4_000.0), (STEP, 8_000.0))},
                      first=T0)  # fmt: skip
    assert lent == (("B", ((T0, 6_000.0), (STEP, 0.0))),)  # A carries nothing: left out
