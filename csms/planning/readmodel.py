"""The plans as the API and the dashboard show them: the planning wing's read-model.

Per site it answers with the view of the site's loop (per EVSE what was planned, sent,
acknowledged and measured, and the optimizer's plan behind it); where no loop runs in this
process (planning disabled), with what the bus said was dispatched (the last
:class:`~csms.events.PlanUpdated` and the last :class:`~csms.events.ChargingLimitSent` per
EVSE). Readers use :meth:`PlanReadModel.view` and :meth:`PlanReadModel.shown`, never a loop
(decision 0621).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from csms.events import ChargingLimitSent, DomainEvent, PlanUpdated
from csms.planning.loop import SiteLoop
from csms.planning.swap import RackState
from csms.planning.view import EvseView, PlanView, RackView
from optimizer import Plan

__all__ = ["PlanReadModel", "view_of"]


def view_of(loop: SiteLoop) -> PlanView:
    """What ``loop`` planned, sent, had acknowledged and measured, per EVSE."""
    plan, state = loop.last_plan, loop.state
    binding: dict[str, str | None] = {}
    if plan is not None:
        binding = {node_id: n.binding[0] for node_id, n in plan.nodes.items()}
    rows = []
    for ev in state.evses.values():
        rows.append(
            EvseView(
                station_id=ev.station.id,
                evse_id=ev.evse.id,
                online=state.stations[ev.station.id].online,
                transaction_id=ev.tx.id if ev.tx is not None else None,
                planned_w=ev.planned_w,
                sent_w=ev.sent.limit_w if ev.sent is not None else None,
                ack=ev.sent.state if ev.sent is not None else None,
                confirmed_w=ev.confirmed_w,
                default_w=ev.default_w,
                measured_w=ev.power_w,
                non_compliant=ev.non_compliant,
            )
        )
    return PlanView(
        loop.site_id,
        loop.last_plan_at,
        plan.status if plan is not None else None,
        loop.last_solve_s,
        tuple(rows),
        binding,
        state.non_compliance_count,
        plan,
        tuple(_rack_view(rack, plan) for rack in state.racks.values()),
    )


def _rack_view(rack: RackState, plan: Plan | None) -> RackView:
    planned = plan.swap_racks.get(rack.swap.id) if plan is not None else None
    reading = rack.reading
    return RackView(
        swap_id=rack.swap.id,
        station_id=rack.swap.station,
        planned_w=planned.power_w[0] if planned is not None else None,
        sent_w=rack.sent_w,
        ack=rack.sent_state,
        packs_ready=None
        if reading is None
        else sum(soc >= rack.swap.ready_soc_pct for soc in reading.pack_soc_pct),
        swaps_seen=rack.swaps_seen,
        no_ready_pack_count=rack.no_ready_pack,
        last_no_ready_pack_at=rack.last_no_ready_at,
        unready_swaps_expected=planned.unready_swaps if planned is not None else (),
    )


class PlanReadModel:
    """Every site's plan as shown; fed by the site loops and by the bus (:meth:`on_event`)."""

    def __init__(self, loops: Mapping[str, SiteLoop]) -> None:
        self._loops = loops
        self._dispatched: dict[str, PlanUpdated] = {}
        self._sent: dict[tuple[str, int], ChargingLimitSent] = {}

    def on_event(self, event: DomainEvent) -> None:
        if isinstance(event, PlanUpdated):
            self._dispatched[event.site_id] = event
        elif isinstance(event, ChargingLimitSent):
            self._sent[(event.limit.station_id, event.limit.evse_id)] = event

    def view(self, site_id: str) -> PlanView | None:
        """The view of the site's loop; None where no loop plans the site here."""
        loop = self._loops.get(site_id)
        return view_of(loop) if loop is not None else None

    def shown(self, site_id: str) -> PlanView:
        """:meth:`view`, else what was dispatched: per EVSE of the last plan its limit and
        whether the station accepted the last one sent (nothing else is known)."""
        view = self.view(site_id)
        if view is not None:
            return view
        last = self._dispatched.get(site_id)
        if last is None:
            return PlanView(site_id, None, None, None, (), {}, 0)
        rows = []
        for station_id, evse_id, limit_w in last.limits_w:
            sent = self._sent.get((station_id, evse_id))
            rows.append(
                EvseView(
                    station_id=station_id,
                    evse_id=evse_id,
                    online=None,
                    transaction_id=None,
                    planned_w=limit_w,
                    sent_w=None,
                    ack=None if sent is None else ("accepted" if sent.accepted else "rejected"),
                    confirmed_w=None,
                    default_w=None,
                    measured_w=None,
                    non_compliant=False,
                )
            )
        return PlanView(site_id, last.at, last.status, None, tuple(rows), {}, 0)

    def limits_sent(self) -> Mapping[tuple[str, int], ChargingLimitSent]:
        """The last limit sent per (station, EVSE), whoever sent it (read-only)."""
        return MappingProxyType(self._sent)
