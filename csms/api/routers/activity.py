"""A station's recent OCPP messages and a session's meter curve (the dashboard's station
and session pages)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from chargegrid.measurands import Measurand
from csms.api.auth import Permission
from csms.api.boundary import BoundaryRoute
from csms.api.dashboard_models import OcppMessageOut, SessionSampleOut
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.models import ErrorOut
from csms.api.routers.stations import load_station
from csms.api.routers.transactions import load_transaction

__all__ = ["CURVE_MEASURANDS", "router"]

router = APIRouter(route_class=BoundaryRoute, responses=AUTH_ERRORS)
_404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "not found"}}

#: what a session's curve shows
CURVE_MEASURANDS = frozenset(
    {
        Measurand.ENERGY_ACTIVE_IMPORT_REGISTER,
        Measurand.POWER_ACTIVE_IMPORT,
        Measurand.SOC,
        Measurand.CURRENT_IMPORT,
    }
)


@router.get(
    "/stations/{station_id}/messages",
    response_model=list[OcppMessageOut],
    responses=_404,
    tags=["stations"],
)
async def messages(
    services: Services,
    who: Caller,
    station_id: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[OcppMessageOut]:
    """The station's most recent OCPP frames in both directions (kept in memory by this
    server, newest first). Payloads that can carry secrets or certificates
    (ChangeConfiguration, SetVariables, DataTransfer, ...) are not shown."""
    await load_station(services, who, station_id, Permission.STATIONS_READ)
    who.require(Permission.TRANSACTIONS_READ, sited=False)  # frames carry drivers' id tokens
    log = services.csms.server.message_log
    return [
        OcppMessageOut(
            at=m.at,
            direction="in" if m.direction == "in" else "out",
            kind=m.kind,  # type: ignore[arg-type]
            unique_id=m.unique_id,
            action=m.action,
            error_code=m.error_code,
            payload=m.payload,
        )
        for m in log.messages(station_id, limit=limit)
    ]


@router.get(
    "/transactions/{transaction_id}/meter",
    response_model=list[SessionSampleOut],
    responses=_404,
    tags=["transactions"],
)
async def session_meter(
    services: Services,
    who: Caller,
    transaction_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> list[SessionSampleOut]:
    """The session's meter samples (energy register, power, current, state of charge;
    without phase), oldest first: its energy curve."""
    await load_transaction(services, who, transaction_id)
    samples = [
        s.sample
        for s in await services.store.samples_for_transaction(transaction_id)
        if s.sample.measurand in CURVE_MEASURANDS and s.sample.phase is None
    ]
    samples.sort(key=lambda s: s.timestamp)
    return [
        SessionSampleOut(
            timestamp=s.timestamp, measurand=s.measurand, value=s.value, unit=s.unit, phase=None
        )
        for s in samples
    ]
