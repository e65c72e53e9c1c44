"""From a site's state to the optimizer's :class:`~optimizer.Problem` (sans-I/O).

EVSEs the planner cannot steer (offline, rejecting, non-compliant) are left out of the problem
and their worst-case draw is taken off the limits of every node above them. Session needs come
from the EV (NotifyEVChargingNeeds), else the fleet of its id token, else the site default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from csms.planning.config import PlanningSettings
from csms.planning.state import EvseState, SiteState
from csms.sites.constraints import GridConstraint
from csms.sites.model import SessionDefaults, Site
from optimizer import Evse, LimitNode, NodeCap, Phase, Problem, Session, Tariff, TimeGrid

__all__ = ["Built", "build_problem", "default_problem", "session_needs"]


@dataclass(frozen=True, slots=True)
class Built:
    problem: Problem
    controlled: tuple[EvseState, ...]  # EVSEs in the problem with a session
    uncontrolled_w: dict[str, float]  # node id -> worst-case draw taken off its limit
    missed: tuple[tuple[EvseState, float], ...]  # departures passed with energy missing


def session_needs(
    site: Site, state: EvseState, *, group: str | None, now: datetime
) -> tuple[float, datetime]:
    """(energy requested over the session in Wh, departure) for an active session."""
    assert state.tx is not None
    arrival = state.tx.started_at
    needs = state.needs
    defaults: SessionDefaults = site.defaults
    for fleet in site.fleets:
        if fleet.matches(state.tx.id_token, group):
            defaults = fleet
            break
    energy = defaults.energy_wh
    if needs is not None and needs.energy_requested_wh is not None:
        energy = state.needs_delivered_wh + needs.energy_requested_wh
    if needs is not None and needs.departure_at is not None:
        departure = needs.departure_at
    elif defaults.departure is not None:
        local = site.local_time(arrival)
        candidate = local.replace(
            hour=defaults.departure.hour,
            minute=defaults.departure.minute,
            second=defaults.departure.second,
            microsecond=0,
        )
        if candidate <= local:
            candidate += timedelta(days=1)
        departure = candidate
    else:
        departure = arrival + timedelta(seconds=defaults.dwell_s)
    return energy, departure


def _phase(name: str) -> Phase:
    return Phase(name)


def _optimizer_evse(state: EvseState, site: Site) -> Evse:
    quirks = site.quirks_for(state.station)
    min_a = state.evse.min_current_a
    if quirks is not None and quirks.min_current_a is not None:
        min_a = max(min_a, quirks.min_current_a)
    max_a = state.evse.max_current_a
    if state.station.max_power_w is not None:
        max_a = min(max_a, state.station.max_power_w / (state.evse.voltage_v * state.evse.n_phases))
    return Evse(
        evse_id=state.key,
        node_id=state.node_id,
        phase=_phase(state.evse.phase),
        voltage_v=state.evse.voltage_v,
        min_current_a=min(min_a, max_a),
        max_current_a=max_a,
        station_id=state.station.id,
        ocpp_evse_id=state.evse.id,
    )


def _caps(
    site: Site, constraints: list[GridConstraint], start: datetime, end: datetime
) -> list[NodeCap]:
    caps: list[NodeCap] = []
    for c in constraints:
        if c.kind == "price" or not c.overlaps(start, end):
            continue
        window = (max(c.start, start), min(c.end, end))
        if c.kind == "cap":
            caps.append(
                NodeCap(
                    node_id=c.node_id,
                    start=window[0],
                    end=window[1],
                    max_import_w=c.max_import_w,
                    max_export_w=c.max_export_w,
                    max_phase_current_a=c.max_phase_current_a,
                )
            )
        elif c.reduce_to_w is not None:
            caps.append(NodeCap(c.node_id, window[0], window[1], max_import_w=c.reduce_to_w))
        elif c.reduce_by_pct is not None:
            caps.append(
                NodeCap(c.node_id, window[0], window[1], import_factor=1 - c.reduce_by_pct / 100)
            )
    return caps


def _grid(now: datetime, settings: PlanningSettings) -> TimeGrid:
    n = max(1, math.ceil(settings.horizon_s / settings.step_s))
    return TimeGrid.uniform(start=now, step_s=settings.step_s, n_steps=n)


def _tariff(site: Site, constraints: list[GridConstraint], grid: TimeGrid) -> Tariff:
    from csms.sites.constraints import price_in_force

    prices = tuple(
        price_in_force(site, constraints, grid.step_start(i)) for i in range(grid.n_steps)
    )
    return Tariff(
        import_price_per_kwh=prices,
        export_price_per_kwh=(site.tariff.export_price_per_kwh,) * grid.n_steps,
        demand_charge_per_kw=site.tariff.demand_charge_per_kw,
    )


def _nodes(site: Site, uncontrolled: dict[str, float]) -> tuple[LimitNode, ...]:
    out = []
    for node in site.nodes:
        taken = uncontrolled.get(node.id, 0.0)
        imp = None if node.max_import_w is None else max(0.0, node.max_import_w - taken)
        amps = node.max_phase_current_a
        if amps is not None:
            amps = max(0.0, amps - taken / (node.voltage_v * 3))
        out.append(
            LimitNode(
                node_id=node.id,
                parent_id=node.parent,
                max_import_w=imp,
                max_export_w=node.max_export_w,
                max_phase_current_a=amps,
                voltage_v=node.voltage_v,
            )
        )
    return tuple(out)


def _shrink(caps: list[NodeCap], uncontrolled: dict[str, float], site: Site) -> list[NodeCap]:
    out = []
    for cap in caps:
        taken = uncontrolled.get(cap.node_id, 0.0)
        if taken and cap.max_import_w is not None:
            cap = NodeCap(
                cap.node_id,
                cap.start,
                cap.end,
                max_import_w=max(0.0, cap.max_import_w - taken),
                max_export_w=cap.max_export_w,
                max_phase_current_a=cap.max_phase_current_a,
            )
        elif taken and cap.import_factor is not None:
            node = site.node(cap.node_id)
            if node is not None and node.max_import_w is not None:
                absolute = node.max_import_w * cap.import_factor
                cap = NodeCap(
                    cap.node_id, cap.start, cap.end, max_import_w=max(0.0, absolute - taken)
                )
        out.append(cap)
    return out


def _ev_max_w(ev: EvseState) -> float | None:
    values = [ev.ev_max_w] if ev.ev_max_w is not None else []
    if ev.needs is not None and ev.needs.max_power_w:
        values.append(ev.needs.max_power_w)
    return min(values) if values else None


def build_problem(
    state: SiteState,
    constraints: list[GridConstraint],
    *,
    now: datetime,
    settings: PlanningSettings,
    groups: dict[str, str | None] | None = None,
) -> Built:
    site = state.site
    grid = _grid(now, settings)
    uncontrolled: dict[str, float] = {}
    evses: list[Evse] = []
    sessions: list[Session] = []
    controlled: list[EvseState] = []
    missed: list[tuple[EvseState, float]] = []
    for ev in state.evses.values():
        if not state.controllable(ev):
            draw = state.worst_case_w(ev)
            if draw > 0:
                for node_id in site.ancestors(ev.node_id):
                    uncontrolled[node_id] = uncontrolled.get(node_id, 0.0) + draw
            continue
        evses.append(_optimizer_evse(ev, site))
        if ev.tx is None:
            continue
        group = (groups or {}).get(ev.tx.id_token or "")
        energy, departure = session_needs(site, ev, group=group, now=now)
        delivered = ev.delivered_wh
        if departure <= now:
            if energy - delivered > 1.0 and not ev.missed_reported:
                missed.append((ev, energy - delivered))
            departure = now + timedelta(seconds=settings.step_s)  # keep charging while plugged
        arrival = min(ev.tx.started_at, now)
        sessions.append(
            Session(
                session_id=str(ev.tx.id),
                evse_id=ev.key,
                arrival=arrival,
                departure=max(departure, arrival + timedelta(seconds=1)),
                energy_requested_wh=max(energy, delivered),
                energy_delivered_wh=delivered,
                max_power_w=(
                    ev.needs.max_power_w if ev.needs is not None and ev.needs.max_power_w else None
                ),
                transaction_id=str(ev.tx.id),
            )
        )
        controlled.append(ev)
    caps = _shrink(_caps(site, constraints, grid.start, grid.end), uncontrolled, site)
    problem = Problem(
        grid=grid,
        nodes=_nodes(site, uncontrolled),
        evses=tuple(evses),
        tariff=_tariff(site, constraints, grid),
        sessions=tuple(sessions),
        node_caps=tuple(caps),
    )
    return Built(problem, tuple(controlled), uncontrolled, tuple(missed))


def default_problem(site: Site, constraints: list[GridConstraint], *, now: datetime) -> Problem:
    """Every EVSE of the site, no sessions: for the safe default limits (base limits and the
    constraints in force over the next hour)."""
    grid = TimeGrid.uniform(start=now, step_s=3600.0, n_steps=1)
    state = SiteState(site)
    evses = tuple(_optimizer_evse(ev, site) for ev in state.evses.values())
    return Problem(
        grid=grid,
        nodes=_nodes(site, {}),
        evses=evses,
        tariff=Tariff(import_price_per_kwh=(0.0,)),
        node_caps=tuple(_caps(site, constraints, grid.start, grid.end)),
    )
