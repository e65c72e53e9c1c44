"""Stations: register, update, remove, status, connectors, live meter readings."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from csms.api.auth import Permission, Principal
from csms.api.boundary import AUDITED_ROUTES, BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.exceptions import Conflict
from csms.api.loading import load_visible
from csms.api.models import (
    ConnectorOut,
    ErrorOut,
    MeOut,
    MeterReadingOut,
    SiteId,
    StationIn,
    StationOut,
    StationPatch,
    record_out,
)
from csms.api.services import ApiServices
from csms.api.station_calls import audit_station
from csms.domain import RegistrationStatus
from csms.ids import ID_PATTERN, STATION_ID_MAX_LENGTH
from csms.store.base import StationRecord

__all__ = ["load_station", "router"]

router = APIRouter(route_class=BoundaryRoute, tags=["stations"], responses=AUTH_ERRORS)
_404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "no such station"}}
StationPath = Annotated[
    str, Path(min_length=1, max_length=STATION_ID_MAX_LENGTH, pattern=ID_PATTERN)
]


def _out(services: ApiServices, r: StationRecord) -> StationOut:
    return record_out(
        StationOut,
        r,
        site_id=services.station_site(r),
        online=services.commands.is_online(r.station_id),
        has_password=r.password_hash is not None,
    )


async def load_station(
    services: ApiServices, who: Principal, station_id: str, permission: Permission
) -> StationRecord:
    """The station, after checking the caller may ``permission`` on its site (404 / 403)."""
    record, _ = await load_visible(
        who,
        permission,
        lambda: services.store.get_station(station_id),
        missing=f"no station {station_id!r}",
        site_of=services.station_site,
    )
    return record


@router.get("/me", response_model=MeOut, tags=["auth"])
async def me(services: Services, who: Caller) -> MeOut:
    """The calling token: its role, granted sites and what the role may do."""
    return MeOut(
        token_id=who.token_id,
        name=who.name,
        role=who.role.value,
        sites=None if who.sites is None else sorted(who.sites),
        permissions=sorted(p.value for p in Permission if who.can(p)),
        now=services.now(),
    )


@router.get("/stations", response_model=list[StationOut])
async def list_stations(
    services: Services,
    who: Caller,
    site_id: Annotated[SiteId | None, Query()] = None,
) -> list[StationOut]:
    """Stations on the caller's sites (optionally one site)."""
    who.require(Permission.STATIONS_READ, site_id, sited=site_id is not None)
    return [
        _out(services, r)
        for r in await services.store.list_stations()
        if who.covers(services.station_site(r))
        and (site_id is None or services.station_site(r) == site_id)
    ]


@router.post(
    "/stations",
    response_model=StationOut,
    status_code=201,
    responses={409: {"model": ErrorOut, "description": "already registered"}},
)
async def register_station(services: Services, who: Caller, body: StationIn) -> StationOut:
    """Register a station (admin)."""
    from csms.core.passwords import hash_password

    who.require(Permission.STATIONS_WRITE, body.site_id)
    if await services.store.get_station(body.station_id) is not None:
        raise Conflict(f"station {body.station_id!r} is already registered")
    record = StationRecord(
        station_id=body.station_id,
        site_id=body.site_id,
        password_hash=hash_password(body.password) if body.password else None,
        registration=RegistrationStatus(body.registration),
        security_profile=body.security_profile,
    )
    await services.store.put_station(record)
    services.remember_station(body.station_id, body.site_id)
    await services.auditor.record(
        who,
        "station.register",
        "ok",
        site_id=body.site_id,
        station_id=body.station_id,
        target=body.station_id,
        request=body.model_dump(mode="json", exclude={"password"}),
    )
    stored = await services.store.get_station(body.station_id)
    return _out(services, stored or record)


@router.get("/stations/{station_id}", response_model=StationOut, responses=_404)
async def get_station(services: Services, who: Caller, station_id: StationPath) -> StationOut:
    """Status of one station: registration, online, last seen, boot information."""
    return _out(services, await load_station(services, who, station_id, Permission.STATIONS_READ))


@router.patch("/stations/{station_id}", response_model=StationOut, responses=_404)
async def update_station(
    services: Services, who: Caller, station_id: StationPath, body: StationPatch
) -> StationOut:
    """Change site, password or registration (admin)."""
    from csms.core.passwords import hash_password

    record = await load_station(services, who, station_id, Permission.STATIONS_WRITE)
    changes = body.model_dump(exclude_unset=True)
    if "site_id" in changes:
        who.require(Permission.STATIONS_WRITE, body.site_id)
        record = dataclasses.replace(record, site_id=body.site_id)
    if body.password is not None:
        record = dataclasses.replace(
            record, password_hash=hash_password(body.password), pending_password_hash=None
        )
    if body.registration is not None:
        record = dataclasses.replace(record, registration=RegistrationStatus(body.registration))
    if "security_profile" in changes:
        record = dataclasses.replace(record, security_profile=body.security_profile)
    await services.store.put_station(record)
    services.remember_station(station_id, record.site_id)
    await audit_station(
        services,
        who,
        record,
        "station.update",
        request={k: v for k, v in changes.items() if k != "password"}
        | ({"password": "changed"} if "password" in changes else {}),
    )
    return _out(services, await services.store.get_station(station_id) or record)


@router.delete("/stations/{station_id}", status_code=204, responses=_404)
async def remove_station(services: Services, who: Caller, station_id: StationPath) -> Response:
    """Remove a station (admin); its transactions stay."""
    record = await load_station(services, who, station_id, Permission.STATIONS_WRITE)
    await services.store.delete_station(station_id)
    await audit_station(services, who, record, "station.remove")
    services.forget_station(station_id)
    return Response(status_code=204)


@router.get("/stations/{station_id}/connectors", response_model=list[ConnectorOut], responses=_404)
async def connectors(
    services: Services, who: Caller, station_id: StationPath
) -> list[ConnectorOut]:
    """The latest status of every connector."""
    await load_station(services, who, station_id, Permission.STATIONS_READ)
    statuses = await services.store.connector_statuses(station_id)
    return [record_out(ConnectorOut, s) for s in statuses]


@router.get("/stations/{station_id}/meter", response_model=list[MeterReadingOut], responses=_404)
async def meter(services: Services, who: Caller, station_id: StationPath) -> list[MeterReadingOut]:
    """The latest reading per EVSE, connector, measurand and phase."""
    await load_station(services, who, station_id, Permission.STATIONS_READ)
    return [
        record_out(MeterReadingOut, s, s.sample)
        for s in await services.store.latest_samples(station_id)
    ]


# A refused write to these routes is in the audit log as "refused" (see csms.api.boundary).
AUDITED_ROUTES.update(
    {
        register_station.__name__: "station.register",
        update_station.__name__: "station.update",
        remove_station.__name__: "station.remove",
    }
)
