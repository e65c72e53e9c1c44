"""From a site's state to the optimizer's :class:`~optimizer.Problem` (sans-I/O).

EVSEs the planner cannot steer (offline, rejecting, non-compliant) are left out of the problem
and their worst-case draw is taken off the limits of every node above them. Session needs come
from the EV (NotifyEVChargingNeeds), else the fleet of its id token, else the site default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from csms.domain import Transaction
from csms.planning.config import PlanningSettings
from csms.planning.ev_limits import Taper, ev_max_w, session_taper
from csms.planning.history import expected_sessions
from csms.planning.state import EvseState, SiteState
from csms.planning.storage import live_units, storage_draw_w
from csms.planning.swap import racks_uncontrolled_w, swap_racks
from csms.planning.under import add_steps_under, add_under
from csms.planning.v2x import v2g_session
from csms.sites.constraints import GridConstraint
from csms.sites.model import SessionDefaults, Site
from optimizer import (
    Evse,
    LimitNode,
    NodeCap,
    Phase,
    Problem,
    PvPlant,
    Session,
    Tariff,
    TimeGrid,
)

__all__ = [
    "Built",
    "Taper",
    "build_problem",
    "default_problem",
    "session_defaults",
    "session_needs",
    "session_taper",
]


@dataclass(frozen=True, slots=True)
class Built:
    problem: Problem
    controlled: tuple[EvseState, ...]  # EVSEs in the problem with a session
    uncontrolled_w: dict[str, float]  # node id -> worst-case draw taken off its limit
    missed: tuple[tuple[EvseState, float], ...]  # departures passed with energy missing
    #: node id -> PV power (W) counted on under the node, per step of the problem's grid
    pv_w: dict[str, tuple[float, ...]] = field(default_factory=dict)


def session_defaults(site: Site, state: EvseState, *, group: str | None) -> SessionDefaults:
    """The defaults of the fleet the session's id token (or its group) belongs to, else the
    site's."""
    assert state.tx is not None
    for fleet in site.fleets:
        if fleet.matches(state.tx.id_token, group):
            return fleet
    return site.defaults


def session_needs(
    site: Site, state: EvseState, defaults: SessionDefaults, *, now: datetime
) -> tuple[float, datetime]:
    """(energy requested over the session in Wh, departure) for an active session, from
    the EV's needs, else ``defaults`` (its :func:`session_defaults`)."""
    assert state.tx is not None
    arrival = state.tx.started_at
    needs = state.needs
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
    allowed = quirks.allowed_currents_a if quirks is not None else ()
    return Evse(
        evse_id=state.key,
        node_id=state.node_id,
        phase=_phase(state.evse.phase),
        voltage_v=state.evse.voltage_v,
        min_current_a=min(min_a, max_a),
        max_current_a=max_a,
        allowed_currents_a=tuple(a for a in allowed if a <= max_a + 1e-9),
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


def _grid(now: datetime, settings: PlanningSettings, constraints: list[GridConstraint]) -> TimeGrid:
    """Steps of ``step_s``, split at every constraint window's edges (decision 0613)."""
    from csms.planning.windows import plan_grid

    return plan_grid(
        now, step_s=settings.step_s, horizon_s=settings.horizon_s, constraints=constraints
    )


def _tariff(
    site: Site, constraints: list[GridConstraint], grid: TimeGrid, peak_so_far_w: float = 0.0
) -> Tariff:
    from csms.sites.constraints import price_in_force

    prices = tuple(
        price_in_force(site, constraints, grid.step_start(i)) for i in range(grid.n_steps)
    )
    return Tariff(
        import_price_per_kwh=prices,
        export_price_per_kwh=(site.tariff.export_price_per_kwh,) * grid.n_steps,
        demand_charge_per_kw=site.tariff.demand_charge_per_kw,
        peak_so_far_w=peak_so_far_w if site.tariff.demand_charge_per_kw > 0 else 0.0,
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


def _pv(
    state: SiteState, grid: TimeGrid, now: datetime, settings: PlanningSettings
) -> tuple[PvPlant, ...]:
    """The PV power the plan counts on, per plant with a fresh reading: now the measured
    power (or the forecast if lower); later the forecast where there is one, else the
    measured power for ``pv_hold_s`` after the reading, then none; ``pv_count_pct`` of it,
    never above the plant's peak."""
    out = []
    share = settings.pv_count_pct / 100.0
    age_s = settings.readings_max_age_s
    fresh = state.pv_plants.counted(now, max_age_s=age_s, refuse_ahead=False)
    for asset in state.site.pv:
        reading = fresh.get(asset.id)
        if reading is None:
            continue
        values = []
        for k in range(grid.n_steps):
            start = grid.step_start(k)
            forecast = reading.forecast_at(max(start, now))
            if k == 0:
                watts = reading.power_w if forecast is None else min(forecast, reading.power_w)
            elif forecast is not None:
                watts = forecast
            elif (start - reading.at).total_seconds() < settings.pv_hold_s:
                watts = reading.power_w
            else:
                watts = 0.0
            values.append(share * min(max(0.0, watts), asset.peak_w))
        out.append(PvPlant(asset.id, asset.node, tuple(values)))
    return tuple(out)


def build_problem(
    state: SiteState,
    constraints: list[GridConstraint],
    *,
    now: datetime,
    settings: PlanningSettings,
    groups: dict[str, str | None] | None = None,
    past: list[Transaction] | None = None,
    peak_so_far_w: float = 0.0,
) -> Built:
    """The problem for a re-plan at ``now``. ``past``: the site's earlier transactions, from
    which the sessions expected later today are added (:mod:`csms.planning.history`);
    ``peak_so_far_w``: the billing period's peak import so far (only import above it costs
    demand charge)."""
    site = state.site
    grid = _grid(now, settings, constraints)
    uncontrolled = _uncontrolled_w(state, now, settings)
    evses: list[Evse] = []
    sessions: list[Session] = []
    controlled: list[EvseState] = []
    missed: list[tuple[EvseState, float]] = []
    for ev in state.evses.values():
        if not state.controllable(ev):
            continue
        optimizer_evse = _optimizer_evse(ev, site)
        evses.append(optimizer_evse)
        if ev.tx is None:
            continue
        group = (groups or {}).get(ev.tx.id_token or "")
        session, missing_wh = _session(
            ev, site, optimizer_evse, group=group, now=now, step_s=settings.step_s
        )
        if missing_wh is not None:
            missed.append((ev, missing_wh))
        sessions.append(v2g_session(state, ev, session, settings, now=now))
        controlled.append(ev)
    caps = _shrink(_caps(site, constraints, grid.start, grid.end), uncontrolled, site)
    pv = _pv(state, grid, now, settings)
    if past:
        sessions += expected_sessions(
            state,
            past,
            now=now,
            busy_until={s.evse_id: s.departure for s in sessions},
            evse_ids={e.evse_id for e in evses},
            horizon_end=grid.end,
        )
    problem = Problem(
        grid=grid,
        nodes=_nodes(site, uncontrolled),
        evses=tuple(evses),
        tariff=_tariff(site, constraints, grid, peak_so_far_w),
        sessions=tuple(sessions),
        pv=pv,
        storage=live_units(state, now, settings),
        node_caps=tuple(caps),
        swap_racks=swap_racks(state.racks, site, grid, metered_soc=settings.swap_metered_soc),
    )
    pv_w = _pv_by_node(site, pv)
    return Built(problem, tuple(controlled), uncontrolled, tuple(missed), pv_w)


def _uncontrolled_w(
    state: SiteState, now: datetime | None = None, settings: PlanningSettings | None = None
) -> dict[str, float]:
    """Per node what the planner does not steer may draw: storage it does not schedule at
    what it charges (until it says less) and the load the grid meter shows the estimate
    misses (:mod:`csms.planning.storage`), each swap rack whose station did not take its
    limit at the rack's rating, and each EVSE it cannot steer at its worst case."""
    site = state.site
    uncontrolled = storage_draw_w(state, now, settings)
    for node_id, rack_w in racks_uncontrolled_w(state.racks, site).items():
        uncontrolled[node_id] = uncontrolled.get(node_id, 0.0) + rack_w
    for ev in state.evses.values():
        if not state.controllable(ev):
            draw = state.worst_case_w(ev)
            if draw > 0:
                add_under(uncontrolled, site, ev.node_id, draw)
    return uncontrolled


def _session(
    ev: EvseState,
    site: Site,
    optimizer_evse: Evse,
    *,
    group: str | None,
    now: datetime,
    step_s: float,
) -> tuple[Session, float | None]:
    """The optimizer's session for ``ev``'s transaction, and the energy (Wh) it misses if
    its departure has passed unreported (it keeps charging while plugged in)."""
    assert ev.tx is not None
    defaults = session_defaults(site, ev, group=group)
    energy, departure = session_needs(site, ev, defaults, now=now)
    delivered = ev.delivered_wh
    max_w = ev_max_w(ev, defaults)
    taper = session_taper(
        defaults,
        ev,
        energy_wh=energy,
        peak_w=optimizer_evse.max_power_w if max_w is None else max_w,
    )
    if taper is not None:
        energy, max_w = taper.energy_requested_wh, taper.max_power_w
    missing_wh = None
    if departure <= now:
        if energy - delivered > 1.0 and not ev.missed_reported:
            missing_wh = energy - delivered
        departure = now + timedelta(seconds=step_s)  # keep charging while plugged
    arrival = min(ev.tx.started_at, now)
    tapering = (
        {}
        if taper is None
        else {
            "taper_start_wh": taper.start_wh,
            "taper_end_wh": taper.end_wh,
            "taper_floor_w": taper.floor_w,
        }
    )
    session = Session(
        session_id=str(ev.tx.id),
        evse_id=ev.key,
        arrival=arrival,
        departure=max(departure, arrival + timedelta(seconds=1)),
        energy_requested_wh=max(energy, delivered),
        energy_delivered_wh=delivered,
        max_power_w=max_w,
        transaction_id=str(ev.tx.id),
        **tapering,
    )
    return session, missing_wh


def _pv_by_node(site: Site, pv: tuple[PvPlant, ...]) -> dict[str, tuple[float, ...]]:
    """Node id -> the PV power counted on under it, per step."""
    pv_w: dict[str, tuple[float, ...]] = {}
    for plant in pv:
        add_steps_under(pv_w, site, plant.node_id, plant.forecast_w)
    return pv_w


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
