"""``GET /reports/energy`` (and ``.csv``): energy and cost per day, vehicle group or id
token, over the sessions ``GET /transactions`` selects."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from csms.api.boundary import BoundaryRoute
from csms.api.dashboard_models import EnergyReportOut, EnergyReportRow
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.exceptions import InvalidField
from csms.api.models import SiteId, TransactionOut
from csms.api.query_times import require_times
from csms.api.routers.transactions import TransactionFilter, csv_cell, select_transactions
from csms.api.services import ApiServices
from csms.domain import Transaction
from csms.sites import Site

__all__ = ["REPORT_COLUMNS", "GroupBy", "router"]

router = APIRouter(route_class=BoundaryRoute, tags=["reports"], responses=AUTH_ERRORS)

GroupBy = Literal["day", "vehicle_group", "id_token"]
REPORT_COLUMNS = ("key", "sessions", "active_sessions", "energy_wh", "cost", "currency")
#: the longest period one report covers
MAX_PERIOD = timedelta(days=400)
_NO_GROUP = "(no vehicle group)"
_NO_TOKEN = "(no id token)"


By = Annotated[GroupBy, Query(description="day (site's local day), vehicle_group or id_token")]
Since = Annotated[datetime | None, Query(description="sessions started at or after")]
Until = Annotated[datetime | None, Query(description="sessions started before (default: now)")]


async def _report(
    services: Services,
    who: Caller,
    group_by: By = "day",
    site_id: Annotated[SiteId | None, Query()] = None,
    since: Since = None,
    until: Until = None,
) -> EnergyReportOut:
    """The report the query asks for: what both forms of the report depend on."""
    require_times(("since", since), ("until", until), bounded=True)
    until = until or services.now()
    since = since or until - timedelta(days=7)
    if until <= since:
        raise InvalidField(("query", "until"), "until must be after since")
    if until - since > MAX_PERIOD:
        raise InvalidField(("query", "since"), f"at most {MAX_PERIOD.days} days at once")
    selection = TransactionFilter(site_id=site_id, since=since, until=until, limit=10000)
    sessions = await select_transactions(services, who, selection)
    so_far = await _energy_so_far(services, [t for t in sessions if t.active])
    sites: dict[str, Site] = {}
    if services.sites is not None:
        sites = {s.id: s for s in await services.sites.list_sites()}
    groups: dict[str, str | None] = {}
    rows: dict[tuple[str, str | None], list[TransactionOut]] = defaultdict(list)
    for tx in sessions:
        site = sites.get(tx.site_id or "")
        key = await _key(services, group_by, tx, site, groups)
        rows[(key, tx.currency)].append(tx)
    out = []
    for (key, currency), txs in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        costs = [t.cost for t in txs if t.cost is not None]
        out.append(
            EnergyReportRow(
                key=key,
                sessions=len(txs),
                active_sessions=sum(t.active for t in txs),
                energy_wh=round(sum(_energy(t, so_far) for t in txs), 3),
                cost=round(sum(costs), 4) if costs else None,
                currency=currency,
            )
        )
    return EnergyReportOut(
        group_by=group_by,
        since=since,
        until=until,
        rows=out,
        total_energy_wh=round(sum(r.energy_wh for r in out), 3),
        total_sessions=len(sessions),
    )


def _energy(tx: TransactionOut, so_far: dict[int, float]) -> float:
    if tx.energy_wh is not None:
        return tx.energy_wh
    return so_far.get(tx.id, 0.0)


async def _energy_so_far(services: ApiServices, active: list[TransactionOut]) -> dict[int, float]:
    """The energy of sessions still charging, from their register readings so far."""
    out: dict[int, float] = {}
    by_site: dict[str | None, list[Transaction]] = defaultdict(list)
    for row in active:
        tx = await services.store.get_transaction(row.id)
        if tx is not None:
            by_site[row.site_id].append(tx)
    for site_id, txs in by_site.items():
        for tx_id, (energy, _, _) in (await services.energy_and_cost(txs, site_id)).items():
            if energy is not None:
                out[tx_id] = energy
    return out


async def _key(
    services: ApiServices,
    group_by: GroupBy,
    tx: TransactionOut,
    site: Site | None,
    groups: dict[str, str | None],
) -> str:
    if group_by == "day":
        started = site.local_time(tx.started_at) if site is not None else tx.started_at
        return started.date().isoformat()
    if group_by == "id_token":
        return tx.id_token or _NO_TOKEN
    if site is None or tx.id_token is None:
        return _NO_GROUP
    if tx.id_token not in groups:
        record = await services.store.get_id_token(tx.id_token)
        groups[tx.id_token] = None if record is None else record.group_id
    for fleet in site.fleets:
        if fleet.matches(tx.id_token, groups[tx.id_token]):
            return fleet.id
    return _NO_GROUP


Report = Annotated[EnergyReportOut, Depends(_report)]


@router.get("/reports/energy", response_model=EnergyReportOut)
async def energy_report(report: Report) -> EnergyReportOut:
    """Energy (Wh) and cost of the sessions that started in ``[since, until)`` (default: the
    last 7 days) on the caller's sites, per day, vehicle group (the site's fleet the id
    token belongs to) or id token. Sessions still charging (``active_sessions``) count the
    energy and cost so far. Costs in different currencies are separate rows."""
    return report


@router.get(
    "/reports/energy.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def energy_report_csv(report: Report) -> Response:
    """The same report as CSV."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for row in report.rows:
        data = row.model_dump(mode="json")
        writer.writerow([csv_cell(data[c]) for c in REPORT_COLUMNS])
    return Response(
        buf.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="energy-by-{report.group_by}.csv"'},
    )
