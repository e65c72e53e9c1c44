"""Battery swaps (OCPP 2.1): swap sessions (read like transactions: list with filters, one
by id, energy and cost), a swap asked of a station (RequestBatterySwap, a command), and the
registered packs."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from csms.api.auth import Permission, Principal
from csms.api.boundary import AUDITED_ROUTES, BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.exceptions import InvalidField
from csms.api.loading import load_visible, queried_station
from csms.api.models import ErrorOut, SiteId, record_out
from csms.api.routers.stations import load_station
from csms.api.services import ApiServices
from csms.api.site_common import require_aware
from csms.api.station_calls import STATION_CALL_ERRORS, station_call
from csms.quantities import MAX_ENERGY_WH
from csms.swaps import BatteryPack, BatterySwap, SwapFilter, SwapState

__all__ = ["router"]

router = APIRouter(route_class=BoundaryRoute, tags=["battery swaps"], responses=AUTH_ERRORS)

#: a pack serial number as OCPP 2.1 carries it (BatteryDataType.serialNumber)
Serial = Annotated[str, Path(min_length=1, max_length=50, pattern=r"^[\x21-\x7e]+$")]


class PackOut(BaseModel):
    serial_number: str
    slot: int
    soc_pct: float
    soh_pct: float


class SwapOut(BaseModel):
    id: int
    station_id: str
    site_id: str | None
    request_id: int
    id_token: str
    state: SwapState
    auth_status: str | None = Field(description="the id token's authorization at swap-in")
    requested: bool = Field(description="asked of the station by RequestBatterySwap")
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    packs_in: list[PackOut]
    packs_out: list[PackOut]
    energy_in_wh: float | None
    energy_out_wh: float | None
    energy_wh: float | None = Field(description="billable: energy out less energy in")
    cost: float | None
    currency: str | None


class PackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity_wh: float = Field(
        gt=0, le=MAX_ENERGY_WH, allow_inf_nan=False, description="usable capacity, Wh"
    )


class BatteryPackOut(BaseModel):
    serial_number: str
    capacity_wh: float
    station_id: str | None = Field(description="the station it is in; null: in a vehicle")
    slot: int | None
    soc_pct: float | None
    soh_pct: float | None
    updated_at: datetime | None


class SwapRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_token: str = Field(min_length=1, max_length=255)


async def _out(services: ApiServices, swap: BatterySwap, site_id: str | None) -> SwapOut:
    assert swap.id is not None
    cost, currency = await _cost(services, swap, site_id)
    return record_out(SwapOut, swap, site_id=site_id, cost=cost, currency=currency)


async def _cost(
    services: ApiServices, swap: BatterySwap, site_id: str | None
) -> tuple[float | None, str | None]:
    """The billable energy at the site's import price when the packs came out."""
    from csms.sites import SiteNotFound
    from csms.sites.constraints import price_in_force

    energy = swap.energy_wh
    if services.sites is None or site_id is None or energy is None or swap.ended_at is None:
        return None, None
    try:
        site = await services.sites.get_site(site_id)
    except SiteNotFound:
        return None, None
    price = price_in_force(site, await services.sites.list_constraints(site_id), swap.ended_at)
    return round(max(0.0, energy) / 1000.0 * price, 4), site.tariff.currency


@router.get("/battery-swaps", response_model=list[SwapOut])
async def list_swaps(
    services: Services,
    who: Caller,
    station_id: Annotated[str | None, Query(min_length=1, max_length=48)] = None,
    site_id: Annotated[SiteId | None, Query()] = None,
    id_token: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    state: Annotated[SwapState | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="created at or after")] = None,
    until: Annotated[datetime | None, Query(description="created before")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[SwapOut]:
    """Swap sessions on the caller's sites, oldest first."""
    require_aware("since", since)
    require_aware("until", until)
    if since is not None and until is not None and until <= since:
        raise InvalidField(("query", "until"), "until must be after since")
    who.require(Permission.TRANSACTIONS_READ, site_id, sited=site_id is not None)
    repo = services.csms.central.swaps.repo
    if station_id is not None:
        # A removed station's swaps stay.
        record = await queried_station(
            services,
            station_id,
            kept_rows=lambda: repo.list_swaps(SwapFilter(station_id=station_id, limit=1)),
        )
        if record is not None:
            who.require(Permission.TRANSACTIONS_READ, services.station_site(record))
    narrowed = site_id is not None or who.sites is not None
    f = SwapFilter(
        station_id=station_id,
        id_token=id_token,
        state=state,
        since=since,
        until=until,
        limit=100000 if narrowed else limit,
    )
    out: list[SwapOut] = []
    for swap in await repo.list_swaps(f):
        sid = await services.resolve_site(swap.station_id)
        if not who.covers(sid) or (site_id is not None and sid != site_id):
            continue
        out.append(await _out(services, swap, sid))
        if len(out) >= limit:
            break
    return out


@router.get(
    "/battery-swaps/{swap_id}",
    response_model=SwapOut,
    responses={404: {"model": ErrorOut, "description": "no such swap"}},
)
async def get_swap(
    services: Services, who: Caller, swap_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> SwapOut:
    swap, site_id = await load_visible(
        who,
        Permission.TRANSACTIONS_READ,
        lambda: services.csms.central.swaps.repo.get_swap(swap_id),
        missing=f"no battery swap {swap_id}",
        site_of=lambda swap: services.resolve_site(swap.station_id),
    )
    return await _out(services, swap, site_id)


@router.post(
    "/stations/{station_id}/battery-swaps",
    response_model=SwapOut,
    status_code=201,
    responses=STATION_CALL_ERRORS,
)
async def request_swap(
    services: Services,
    who: Caller,
    station_id: str,
    body: Annotated[SwapRequestIn, Body()],
) -> SwapOut:
    """Ask the station to swap for the driver (RequestBatterySwap); once it accepts, the
    session waits for its packs (state ``requested``) under the request id it was given."""
    record = await load_station(services, who, station_id, Permission.COMMANDS)
    _, request_id = await station_call(
        services,
        who,
        record,
        "command.request_battery_swap",
        {"station_id": station_id},
        lambda: services.commands.request_battery_swap(station_id, id_token=body.id_token),
    )
    swap = await services.csms.central.swaps.repo.latest_swap(station_id, request_id)
    assert swap is not None
    return await _out(services, swap, services.station_site(record))


def _pack_out(pack: BatteryPack) -> BatteryPackOut:
    return record_out(BatteryPackOut, pack)


@router.get("/battery-packs", response_model=list[BatteryPackOut])
async def list_packs(
    services: Services,
    who: Caller,
    station_id: Annotated[str | None, Query(min_length=1, max_length=48)] = None,
) -> list[BatteryPackOut]:
    """Registered packs and where each was last seen."""
    _require_packs(who, Permission.STATIONS_READ)
    if station_id is not None:
        await queried_station(services, station_id)
    packs = await services.csms.central.swaps.repo.list_packs(station_id=station_id)
    return [_pack_out(p) for p in packs]


@router.put("/battery-packs/{serial_number}", response_model=BatteryPackOut)
async def put_pack(
    services: Services,
    who: Caller,
    serial_number: Serial,
    body: Annotated[PackIn, Body()],
) -> BatteryPackOut:
    """Register a pack (or change its capacity): swap events naming a pack not registered
    are refused."""
    _require_packs(who, Permission.STATIONS_WRITE)
    repo = services.csms.central.swaps.repo
    known = (await repo.get_packs([serial_number])).get(serial_number)
    pack = (
        BatteryPack(serial_number, body.capacity_wh)
        if known is None
        else dataclasses.replace(known, capacity_wh=body.capacity_wh)
    )
    await repo.put_pack(pack)
    await services.auditor.record(
        who, "battery_pack.put", "ok", target=serial_number, request=body.model_dump(mode="json")
    )
    return _pack_out(pack)


def _require_packs(who: Principal, permission: Permission) -> None:
    """Packs move between sites: only an all-sites grant sees or registers them."""
    who.require(permission, None)


AUDITED_ROUTES.update(
    {
        request_swap.__name__: "command.request_battery_swap",
        put_pack.__name__: "battery_pack.put",
    }
)
