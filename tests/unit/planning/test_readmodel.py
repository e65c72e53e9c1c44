"""The plan read-model: the loop's view where a loop plans the site, else what was
dispatched; the limits sent, read-only."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from csms.domain import ChargingLimit, ChargingRateUnit
from csms.events import ChargingLimitSent, PlanUpdated
from csms.planning import PlanningSettings, PlanReadModel, SiteState
from csms.planning.loop import SiteLoop
from csms.planning.state import Sent
from tests.unit.planning.test_planning_core import T0, _online, _site, _tx


def test_without_a_loop_the_dispatched_limits_are_shown() -> None:
    plans = PlanReadModel({})
    empty = plans.shown("s")
    assert (empty.site_id, empty.at, empty.status, empty.evses, empty.plan) == (
        "s",
        None,
        None,
        (),
        None,
    )
    plans.on_event(PlanUpdated("s", T0, "optimal", (("A", 1, 7_000.0), ("B", 1, 4_000.0))))
    limit = ChargingLimit("A", 1, ChargingRateUnit.WATT, ((0, 7_000.0, None),))
    plans.on_event(ChargingLimitSent(limit, False, T0))
    assert plans.view("s") is None  # no loop plans the site here
    shown = plans.shown("s")
    assert (shown.at, shown.status, shown.solve_s) == (T0, "optimal", None)
    assert [(e.station_id, e.evse_id, e.planned_w, e.ack, e.online) for e in shown.evses] == [
        ("A", 1, 7_000.0, "rejected", None),
        ("B", 1, 4_000.0, None, None),
    ]
    assert plans.shown("other").status is None
    sent = plans.limits_sent()
    assert sent[("A", 1)].accepted is False
    with pytest.raises(TypeError):
        sent[("A", 2)] = sent[("A", 1)]  # type: ignore[index]


def test_a_loop_view_is_shown_before_anything_dispatched() -> None:
    state = SiteState(_site())
    _online(state)
    state.stations["B"].online = False
    state.take_transaction(_tx(7, "A", 2))
    ev = state.evses[("A", 2)]
    ev.planned_w = 5_000.0
    ev.sent = Sent(5_000.0, "TxProfile", T0, "accepted", None, 7)
    loop = SiteLoop(SimpleNamespace(settings=PlanningSettings()), state)  # type: ignore[arg-type]
    loop.last_plan_at = T0
    plans = PlanReadModel({"s": loop})
    plans.on_event(PlanUpdated("s", T0, "fallback", (("A", 1, 1.0),)))
    view = plans.shown("s")
    assert view == plans.view("s")
    assert (view.at, view.status, view.plan) == (T0, None, None)  # no solve yet
    rows = {(e.station_id, e.evse_id): e for e in view.evses}
    assert set(rows) == {("A", 1), ("A", 2), ("B", 1)}
    a2 = rows[("A", 2)]
    assert (a2.transaction_id, a2.planned_w, a2.sent_w, a2.ack, a2.online) == (
        7,
        5_000.0,
        5_000.0,
        "accepted",
        True,
    )
    assert rows[("B", 1)].online is False and rows[("B", 1)].ack is None
