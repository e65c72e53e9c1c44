"""Transactions (charging sessions): list with filters, one by id, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from csms.api.auth import Permission, Principal
from csms.api.boundary import BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.loading import load_visible, queried_station
from csms.api.models import ErrorOut, SiteId, TransactionOut, record_out
from csms.api.query_times import require_order, require_times
from csms.api.services import ApiServices
from csms.domain import Transaction

__all__ = ["TransactionFilter", "csv_cell", "load_transaction", "router", "select_transactions"]

router = APIRouter(route_class=BoundaryRoute, tags=["transactions"], responses=AUTH_ERRORS)

CSV_COLUMNS = (
    "id",
    "station_id",
    "site_id",
    "evse_id",
    "connector_id",
    "id_token",
    "started_at",
    "stopped_at",
    "meter_start_wh",
    "meter_stop_wh",
    "energy_wh",
    "stop_reason",
    "cost",
    "currency",
)


class TransactionFilter:
    def __init__(
        self,
        station_id: Annotated[str | None, Query(min_length=1, max_length=48)] = None,
        site_id: Annotated[SiteId | None, Query()] = None,
        id_token: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
        since: Annotated[datetime | None, Query(description="started at or after")] = None,
        until: Annotated[datetime | None, Query(description="started before")] = None,
        active: Annotated[bool | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> None:
        require_times(("since", since), ("until", until))
        require_order(since, until)
        self.station_id = station_id
        self.site_id = site_id
        self.id_token = id_token
        self.since = since
        self.until = until
        self.active = active
        self.limit = limit


Filter = Annotated[TransactionFilter, Depends()]


async def select_transactions(
    services: ApiServices, who: Principal, f: TransactionFilter
) -> list[TransactionOut]:
    who.require(Permission.TRANSACTIONS_READ, f.site_id, sited=f.site_id is not None)
    if f.station_id is not None:
        # A removed station's sessions stay.
        station_id = f.station_id
        record = await queried_station(
            services,
            station_id,
            kept_rows=lambda: services.store.list_transactions(station_id=station_id, limit=1),
        )
        site = services.station_site(record) if record is not None else None
        who.require(Permission.TRANSACTIONS_READ, site)
    rows = await services.store.list_transactions(
        station_id=f.station_id,
        active=f.active,
        since=f.since,
        until=f.until,
        limit=f.limit if f.id_token is None and who.sites is None and f.site_id is None else 100000,
    )
    out: list[TransactionOut] = []
    for tx in rows:
        site_id = await services.resolve_site(tx.station_id)
        if not who.covers(site_id) or (f.site_id is not None and site_id != f.site_id):
            continue
        if f.id_token is not None and tx.id_token != f.id_token:
            continue
        out.append(await _out(services, tx, site_id))
        if len(out) >= f.limit:
            break
    return out


async def _out(services: ApiServices, tx: Transaction, site_id: str | None) -> TransactionOut:
    cost, currency = await services.cost_of(tx, site_id)
    return record_out(TransactionOut, tx, site_id=site_id, cost=cost, currency=currency)


def csv_cell(value: object) -> object:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted with ``'``
    (id tokens and station ids come from outside)."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@router.get("/transactions", response_model=list[TransactionOut])
async def list_transactions(services: Services, who: Caller, f: Filter) -> list[TransactionOut]:
    """Sessions on the caller's sites, oldest first."""
    return await select_transactions(services, who, f)


@router.get(
    "/transactions.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_transactions(services: Services, who: Caller, f: Filter) -> Response:
    """The same selection as CSV, with energy (Wh) and cost when the site has a tariff."""
    rows = await select_transactions(services, who, f)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow([csv_cell(data[c]) for c in CSV_COLUMNS])
    return Response(
        buf.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="transactions.csv"'},
    )


@router.get(
    "/transactions/{transaction_id}",
    response_model=TransactionOut,
    responses={404: {"model": ErrorOut, "description": "no such transaction"}},
)
async def get_transaction(
    services: Services,
    who: Caller,
    transaction_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> TransactionOut:
    tx, site_id = await load_transaction(services, who, transaction_id)
    return await _out(services, tx, site_id)


async def load_transaction(
    services: ApiServices, who: Principal, transaction_id: int
) -> tuple[Transaction, str | None]:
    """The transaction and its site, for a caller who may read transactions there (404 for
    an unknown one, checked after the caller may read any transactions at all)."""
    return await load_visible(
        who,
        Permission.TRANSACTIONS_READ,
        lambda: services.store.get_transaction(transaction_id),
        missing=f"no transaction {transaction_id}",
        site_of=lambda tx: services.resolve_site(tx.station_id),
    )
