"""Every granted site at a glance: stations online / offline / faulted, sessions, power now
against the limit in force, energy and cost today, and what needs attention (alerts).

Built from what the API already reads (stations and their connector status from the store,
site power from :func:`csms.api.power.site_power`, limits and constraints from the site
service, the plan from the planner, telemetry's counters); a role sees only what it may
read: grid operators get no station, session or driver data.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from csms.api.auth import Permission, Principal
from csms.api.dashboard_models import AlertOut, SiteOverviewOut, StationCountsOut
from csms.api.power import site_power
from csms.api.services import ApiServices
from csms.domain import ConnectorStatus
from csms.sites import Site
from csms.store.base import StationRecord
from csms.telemetry import TelemetryStats

__all__ = [
    "DEPARTURE_AT_RISK_WH",
    "MAX_ALERTS",
    "SILENT_AFTER_HEARTBEATS",
    "TELEMETRY_STALL_S",
    "site_overview",
    "telemetry_alert",
    "today_start",
    "warm_up",
]

#: a connected station that has said nothing for this many heartbeat intervals is silent
SILENT_AFTER_HEARTBEATS = 2.5
#: the telemetry outbox holds points and nothing was written for this long (wall seconds)
TELEMETRY_STALL_S = 30.0
#: a session the plan leaves this much short of its energy by its departure is at risk
DEPARTURE_AT_RISK_WH = 500.0
#: alerts listed per site (``alerts_total`` says how many there were)
MAX_ALERTS = 50

logger = logging.getLogger(__name__)

_SEVERITY = {"critical": 0, "warning": 1, "info": 2}


async def warm_up(services: ApiServices) -> None:
    """Read what the overview follows (statuses, power, today's sessions) for every site
    once, in the background after the start, so the first dashboard visitor does not wait
    for thousands of store reads."""
    if services.sites is None:
        return
    try:
        stations = await services.store.list_stations()
        for site in await services.sites.list_sites():
            records = [r for r in stations if services.station_site(r) == site.id]
            for record in records:
                await services.live.statuses(record.station_id)
                await services.live.power(record.station_id)
            await _today(services, site, records, services.now())
    except Exception as exc:  # the figures are then read on the first request
        logger.warning("dashboard figures not read ahead: %s", exc)


def today_start(site: Site, now: datetime) -> datetime:
    """The start of the site's local day that holds ``now``."""
    local = site.local_time(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def site_overview(
    services: ApiServices,
    who: Principal,
    site: Site,
    stations: list[StationRecord],
) -> SiteOverviewOut:
    """The overview of one site for ``who`` (``stations``: every registered station)."""
    assert services.sites is not None
    now = services.now()
    alerts: list[AlertOut] = []
    ids = {s.id for s in site.stations}
    records = [r for r in stations if services.station_site(r) == site.id or r.station_id in ids]
    counts = None
    if who.can(Permission.STATIONS_READ):
        counts = await _stations(services, records, now, alerts)
    power = await site_power(services, site)
    root = site.root
    root_power = next((n for n in power.nodes if root is not None and n.node_id == root.id), None)
    power_w = sum(e.power_w or 0.0 for e in power.evses)
    constraints = await services.sites.list_constraints(site.id, active_at=now)
    for c in constraints:
        alerts.append(
            AlertOut(
                kind="constraint_in_force",
                severity="warning" if c.kind != "price" else "info",
                message=f"{c.kind} on {c.node_id} set by {c.source} until "
                f"{site.local_time(c.end):%Y-%m-%d %H:%M %Z}",
                constraint_id=c.id,
                at=c.start,
            )
        )
    _telemetry_alert(services, alerts)
    sessions = energy = cost = None
    if who.can(Permission.TRANSACTIONS_READ):
        sessions, energy, cost = await _today(services, site, records, now)
        _departure_alerts(services, site, alerts)
    plan_status = _plan_alerts(services, site, alerts)
    alerts.sort(key=lambda a: _SEVERITY[a.severity])
    return SiteOverviewOut(
        site_id=site.id,
        name=site.name or site.id,
        timezone=site.timezone,
        currency=site.tariff.currency,
        evses=sum(len(s.evses) for s in site.stations),
        stations=counts,
        active_sessions=sessions,
        power_w=power_w,
        limit_w=None if root_power is None else root_power.max_import_w,
        energy_today_wh=energy,
        cost_today=cost,
        constraints_in_force=len(constraints),
        plan_status=plan_status,
        alerts=alerts[:MAX_ALERTS],
        alerts_total=len(alerts),
    )


async def _stations(
    services: ApiServices, records: list[StationRecord], now: datetime, alerts: list[AlertOut]
) -> StationCountsOut:
    heartbeat_s = services.csms.settings.ocpp.heartbeat_interval_s
    silent_after = timedelta(seconds=heartbeat_s * SILENT_AFTER_HEARTBEATS)
    online = faulted = 0
    log = services.csms.server.message_log
    for record in records:
        if services.commands.is_online(record.station_id):
            online += 1
            # any frame from the station counts (last_seen_at is written on heartbeats)
            heard = [t for t in (record.last_seen_at, log.last_received(record.station_id)) if t]
            seen = max(heard) if heard else None
            if seen is not None and now - seen > silent_after:
                alerts.append(
                    AlertOut(
                        kind="station_silent",
                        severity="warning",
                        message=f"{record.station_id} is connected but has sent nothing "
                        f"for {int((now - seen).total_seconds() // 60)} min",
                        station_id=record.station_id,
                        at=seen,
                    )
                )
        statuses = await services.live.statuses(record.station_id)
        broken = [s for s in statuses if s.status is ConnectorStatus.FAULTED]
        if broken:
            faulted += 1
        for s in broken:
            alerts.append(
                AlertOut(
                    kind="station_faulted",
                    severity="critical",
                    message=f"{record.station_id} EVSE {s.evse_id} connector {s.connector_id} "
                    f"is Faulted ({s.error_code or 'no error code'})",
                    station_id=record.station_id,
                    evse_id=s.evse_id,
                    at=s.timestamp,
                )
            )
    ours = {r.station_id for r in records}
    for event in services.csms.security_alerts.recent(now):
        if event.station_id in ours:
            alerts.append(
                AlertOut(
                    kind="security_event",
                    severity="critical",
                    message=f"{event.station_id} reported the security event {event.type}"
                    + (f": {event.tech_info[:120]}" if event.tech_info else ""),
                    station_id=event.station_id,
                    at=event.at,
                )
            )
    return StationCountsOut(
        total=len(records), online=online, offline=len(records) - online, faulted=faulted
    )


async def _today(
    services: ApiServices, site: Site, records: list[StationRecord], now: datetime
) -> tuple[int, float, float | None]:
    """(active sessions, energy of today's sessions in Wh, their cost)."""
    ids = {r.station_id for r in records} | {s.id for s in site.stations}
    active = [
        tx
        for tx in await services.store.list_transactions(active=True, limit=100_000)
        if tx.station_id in ids
    ]
    today = [
        tx
        for tx in await services.store.list_transactions(
            since=today_start(site, now), limit=100_000
        )
        if tx.station_id in ids
    ]
    assert services.sites is not None
    sites = services.sites
    figures = await services.live.sessions(
        today,
        site,
        lambda: sites.list_constraints(site.id),
        services.register_points,
    )
    energy = sum(f.energy_wh for f in figures.values())
    costs = [f.cost for f in figures.values()]
    return len(active), energy, round(sum(costs), 2) if costs else None


def _telemetry_alert(services: ApiServices, alerts: list[AlertOut]) -> None:
    telemetry = services.csms.telemetry
    if telemetry is None or telemetry.backend == "disabled":
        return
    alert = telemetry_alert(telemetry.stats, now_unix_s=time.time())
    if alert is not None:
        alerts.append(alert)


def telemetry_alert(stats: TelemetryStats, *, now_unix_s: float) -> AlertOut | None:
    """An alert when the outbox holds points and nothing was written for
    :data:`TELEMETRY_STALL_S`: the telemetry store is unreachable and the outbox grows."""
    if stats.outbox_depth <= 0:
        return None
    last = stats.last_write_ok_unix_s
    stalled_s = now_unix_s - last if last else None
    if stalled_s is not None and stalled_s <= TELEMETRY_STALL_S:
        return None
    waiting = stats.outbox_depth + stats.buffer_depth
    return AlertOut(
        kind="telemetry_backlog",
        severity="warning",
        message=f"telemetry outbox growing: {waiting} points waiting, no write "
        + ("yet" if stalled_s is None else f"for {int(stalled_s)} s"),
    )


def _departure_alerts(services: ApiServices, site: Site, alerts: list[AlertOut]) -> None:
    for missed in services.departures_missed.get(site.id, ()):
        alerts.append(
            AlertOut(
                kind="departure_missed",
                severity="warning",
                message=f"EV at {missed.station_id} EVSE {missed.evse_id} left "
                f"{missed.missing_wh / 1000:.1f} kWh short",
                station_id=missed.station_id,
                evse_id=missed.evse_id,
                transaction_id=missed.transaction_id,
                at=missed.at,
            )
        )
    view = services.plans.view(site.id)
    plan = None if view is None else view.plan
    if plan is None or view is None:
        return
    sessions = {str(e.transaction_id): e for e in view.evses if e.transaction_id is not None}
    for session_id, short_wh in sorted(plan.shortfall_wh.items()):
        ev = sessions.get(session_id)
        if ev is None or short_wh < DEPARTURE_AT_RISK_WH:
            continue
        alerts.append(
            AlertOut(
                kind="departure_at_risk",
                severity="warning",
                message=f"EV at {ev.station_id} EVSE {ev.evse_id} will leave "
                f"{short_wh / 1000:.1f} kWh short of its energy (plan)",
                station_id=ev.station_id,
                evse_id=ev.evse_id,
                transaction_id=ev.transaction_id,
            )
        )


def _plan_alerts(services: ApiServices, site: Site, alerts: list[AlertOut]) -> str | None:
    view = services.plans.view(site.id)
    if view is None:
        return None
    for evse in view.evses:
        if evse.non_compliant:
            alerts.append(
                AlertOut(
                    kind="station_non_compliant",
                    severity="warning",
                    message=f"{evse.station_id} EVSE {evse.evse_id} draws "
                    f"{(evse.measured_w or 0.0) / 1000:.1f} kW, above its limit",
                    station_id=evse.station_id,
                    evse_id=evse.evse_id,
                )
            )
    status: str | None = view.status
    return status
