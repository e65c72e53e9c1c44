"""V2G EVs in a site's plan (decision 0910): which sessions may give power back, the plan's
charging-only view the sharing stages work on, and the V2X schedules that carry the plan's
negative steps to OCPP 2.1 EVs as ``CentralSetpoint`` periods, in a re-plan's sends and in the
renewals into the next window (decision 0920). Pure; the loop and the sender send.

Safety: every other EV's limit is chosen with the V2G EVs counted at what they would
*charge* (never at what they give), so an EV that refuses to give, or gives less, never
takes a node over its limit; its discharge only ever adds headroom.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta

from csms.domain import ChargingLimit, ChargingRateUnit, V2XPeriod
from csms.planning.config import PlanningSettings
from csms.planning.dispatch import Dispatch, make_limit
from csms.planning.state import EvseState, SiteState
from optimizer import Plan, Problem, Session

__all__ = [
    "V2XOrder", "charging_view", "discharge_top_w", "giving", "giving_steps", "may_give",
    "renewal_v2x", "v2g_session", "v2x_limit", "v2x_orders",
]  # fmt: skip

#: (the EV, its V2X schedule, the charging-only TxProfile to fall back on if it refuses)
V2XOrder = tuple[EvseState, ChargingLimit, ChargingLimit]

#: Plan steps closer to zero than this (W) are no discharge.
GIVE_MIN_W = 1.0


def may_give(state: SiteState, ev: EvseState, settings: PlanningSettings) -> bool:
    """The EV may be planned to give power back: V2G on, an OCPP 2.1 station, needs that
    allow discharge, and no refusal in this transaction."""
    station = state.stations.get(ev.station.id)
    return (
        settings.v2g
        and station is not None
        and station.ocpp_version == "2.1"
        and ev.tx is not None
        and ev.needs is not None
        and ev.needs.discharge_allowed
        and ev.v2x_refused_tx != ev.tx.id
    )


def discharge_top_w(ev: EvseState) -> float:
    """The most a V2G EV may give (W): its V2X maximum within the EVSE's rating."""
    assert ev.needs is not None and ev.needs.v2x is not None
    return min(ev.needs.v2x.discharge_w, ev.rated_w)


def v2g_session(
    state: SiteState,
    ev: EvseState,
    session: Session,
    settings: PlanningSettings,
    *,
    now: datetime,
) -> Session:
    """``session`` with its discharge limits where the EV may give: its V2X maximum within
    the EVSE's rating, and what it may give less what it has given since its needs (more
    what it has charged since), less what it has been giving since its last reading."""
    if not may_give(state, ev, settings):
        return session
    assert ev.needs is not None and ev.needs.v2x is not None
    since_needs_wh = ev.net_wh - ev.needs_delivered_wh
    if ev.power_w < 0 and ev.power_at is not None:
        since_needs_wh += ev.power_w * max(0.0, (now - ev.power_at).total_seconds()) / 3600.0
    return dataclasses.replace(
        session,
        max_discharge_w=discharge_top_w(ev),
        discharge_limit_wh=max(0.0, ev.needs.v2x.may_give_wh + since_needs_wh),
        discharge_cost_per_kwh=settings.v2g_cost_per_kwh,
    )


def charging_view(plan: Plan, problem: Problem) -> Plan:
    """``plan`` with every EV's and EVSE's negative steps at zero, and the nodes above them
    carrying what those EVs were to give: what the sharing stages (and every other EV's
    limit) count the V2G EVs at."""
    if all(w >= 0 for ev in plan.evses.values() for w in ev.power_w):
        return plan
    node_of = {e.evse_id: e.node_id for e in problem.evses}
    evses = dict(plan.evses)
    added: dict[str, list[float]] = {}
    for key, evse_plan in plan.evses.items():
        if all(w >= 0 for w in evse_plan.power_w):
            continue
        for node_id in problem.ancestors(node_of[key]):
            extra = added.setdefault(node_id, [0.0] * len(evse_plan.power_w))
            for k, w in enumerate(evse_plan.power_w):
                extra[k] -= min(0.0, w)
        power = tuple(max(0.0, w) for w in evse_plan.power_w)
        current = tuple(max(0.0, a) for a in evse_plan.current_a)
        evses[key] = dataclasses.replace(evse_plan, power_w=power, current_a=current)
    nodes = {
        node_id: dataclasses.replace(
            n, power_w=tuple(w + e for w, e in zip(n.power_w, added[node_id], strict=True))
        )
        if node_id in added
        else n
        for node_id, n in plan.nodes.items()
    }
    loads = {k: tuple(max(0.0, w) for w in v) for k, v in plan.load_power_w.items()}
    return dataclasses.replace(plan, evses=evses, nodes=nodes, load_power_w=loads)


def giving_steps(plan: Plan) -> dict[str, frozenset[int]]:
    """EVSE id -> the plan's steps in which its EV gives power back."""
    return {
        key: frozenset(k for k, w in enumerate(evse_plan.power_w) if w <= -GIVE_MIN_W)
        for key, evse_plan in plan.evses.items()
        if any(w <= -GIVE_MIN_W for w in evse_plan.power_w)
    }


def giving(
    plan: Plan, ev: EvseState, *, now: datetime, until: datetime
) -> tuple[tuple[datetime, datetime, float], ...]:
    """The plan's steps in which ``ev`` gives power back between ``now`` and ``until``, as
    (start, end, W < 0), clipped to that window."""
    evse_plan = plan.evses.get(ev.key)
    if evse_plan is None:
        return ()
    grid = plan.grid
    out: list[tuple[datetime, datetime, float]] = []
    for k, watts in enumerate(evse_plan.power_w):
        start, end = grid.step_start(k), grid.step_start(k) + _step(plan, k)
        if watts <= -GIVE_MIN_W and end > now and start < until:
            out.append((max(start, now), min(end, until), watts))
    return tuple(out)


def _step(plan: Plan, k: int) -> timedelta:
    return timedelta(seconds=plan.grid.step_durations_s[k])


def v2x_limit(
    base: ChargingLimit,
    charging: tuple[tuple[datetime, float], ...],
    gives: tuple[tuple[datetime, datetime, float], ...],
    *,
    now: datetime,
    max_discharge_w: float,
) -> ChargingLimit:
    """``base`` (the EV's TxProfile from ``now``) as a V2X schedule in W: ``ChargingOnly``
    at the charging limits ``charging`` ((start, W) from ``now``), ``CentralSetpoint`` at
    the planned power where it ``gives`` (negative), with a discharge limit. Its
    charging-only view (``schedule``) is the charging limits with the giving periods at 0."""
    instants = sorted({now, *(at for at, _ in charging if at >= now),
                       *(t for s, e, _ in gives for t in (s, e))})  # fmt: skip
    end = now + _duration(base)
    periods: list[V2XPeriod] = []
    schedule: list[tuple[int, float, int | None]] = []
    for at in instants:
        if at >= end:
            break
        offset = math.floor((at - now).total_seconds() + 1e-6)
        give = next((w for s, e, w in gives if s <= at < e), None)
        if give is not None:
            watts = -float(math.floor(min(-give, max_discharge_w)))
            limit_w = -float(math.floor(max_discharge_w))
            period = V2XPeriod(offset, "CentralSetpoint", setpoint=watts, discharge_limit=limit_w)
            view = 0.0
        else:
            view = float(math.floor(_value_at(charging, at)))
            period = V2XPeriod(offset, "ChargingOnly", limit=view)
        if periods and offset <= periods[-1].start_s:  # the same second: the later one holds
            periods.pop()
            schedule.pop()
        if periods and dataclasses.replace(periods[-1], start_s=offset) == period:
            continue  # no change
        periods.append(period)
        schedule.append((offset, view, None))
    return dataclasses.replace(
        base, unit=ChargingRateUnit.WATT, schedule=tuple(schedule), v2x=tuple(periods)
    )


def _duration(base: ChargingLimit) -> timedelta:
    return timedelta(seconds=base.duration_s if base.duration_s is not None else 86_400)


def _value_at(periods: tuple[tuple[datetime, float], ...], at: datetime) -> float:
    value = periods[0][1] if periods else 0.0
    for start, watts in periods:
        if start <= at:
            value = watts
        else:
            break
    return value


def v2x_orders(
    state: SiteState,
    plan: Plan,
    dispatches: list[Dispatch],
    still: tuple[EvseState, ...],
    *,
    now: datetime,
    valid_to: datetime,
    renew_to: datetime,
    settings: PlanningSettings,
) -> dict[str, V2XOrder]:
    """Per EVSE key, the V2X schedule of each running V2G session (``still``) the plan has
    giving power back before ``valid_to``: its TxProfile as chosen (dispatched now, else the
    one it has) with the giving steps as ``CentralSetpoint`` periods. Each session's
    TxProfile records the plan's giving until ``renew_to`` (``Sent.gives``: none where it
    may not give), which its renewal into the next window carries (:func:`renewal_v2x`).
    Call after :func:`csms.planning.stages.record_sent`."""
    dispatched = {d.evse.key: d for d in dispatches}
    out: dict[str, V2XOrder] = {}
    for ev in still:
        may = ev.tx is not None and may_give(state, ev, settings)
        sent = ev.sent
        if sent is None or ev.tx is None or sent.transaction_id != ev.tx.id:
            sent = None
        else:
            until = max(valid_to, renew_to)
            sent.gives = giving(plan, ev, now=now, until=until) if may else ()
        gives = giving(plan, ev, now=now, until=valid_to) if may else ()
        if not gives:
            continue
        charging = (
            tuple((at, w) for at, w in sent.periods if at < valid_to)
            if sent is not None and sent.periods
            else ((now, sent.limit_w if sent is not None else 0.0),)
        )
        if ev.key in dispatched:
            base = dispatched[ev.key].charging_limit
        else:
            quirks = state.stations[ev.station.id].quirks
            later = tuple((at, w) for at, w in charging if at > now)
            base = make_limit(ev, _value_at(charging, now), quirks, purpose="TxProfile",
                              now=now, valid_to=valid_to, later=later)  # fmt: skip
        top_w = discharge_top_w(ev)
        out[ev.key] = (ev, v2x_limit(base, charging, gives, now=now, max_discharge_w=top_w), base)
    return out


def renewal_v2x(
    state: SiteState,
    ev: EvseState,
    base: ChargingLimit,
    settings: PlanningSettings,
    *,
    now: datetime,
    valid_to: datetime,
) -> ChargingLimit | None:
    """A V2G EV's renewal (``base``: its TxProfile from ``now`` to ``valid_to``, the
    charging periods it has) as a V2X schedule: the giving its TxProfile records
    (``Sent.gives``) as ``CentralSetpoint`` periods. None where it gives nothing in that
    time, or may no longer give (a refusal, new needs): then ``base`` is the renewal."""
    sent = ev.sent
    if sent is None or not sent.gives or not may_give(state, ev, settings):
        return None
    gives = tuple(
        (max(start, now), min(end, valid_to), watts)
        for start, end, watts in sent.gives
        if end > now and start < valid_to
    )
    if not gives:
        return None
    charging = ((now, sent.value_at(now)), *((at, w) for at, w in sent.periods if at > now))
    return v2x_limit(base, charging, gives, now=now, max_discharge_w=discharge_top_w(ev))
