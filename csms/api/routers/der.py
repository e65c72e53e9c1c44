"""DER control (OCPP 2.1): the controls in force on a station, set and cleared by a grid
operator (audited), the station asked to report its controls, and its DER alarms."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from csms.api.auth import Permission
from csms.api.boundary import AUDITED_ROUTES, BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.exceptions import InvalidField
from csms.api.models import record_out
from csms.api.routers.stations import load_station
from csms.api.site_common import require_aware
from csms.api.station_calls import STATION_CALL_ERRORS, station_call
from csms.der import DerControl, DerControlRecord, DerControlType

__all__ = ["router"]

router = APIRouter(route_class=BoundaryRoute, tags=["der"], responses=AUTH_ERRORS)

ControlId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[\x21-\x7e]+$")]


class DerControlIn(BaseModel):
    """A control to set: its type, whether it is the unit's default, and its setting with
    the fields of the type's kind (``csms.der.SETTING_KEYS``, snake_case: a curve's
    ``priority``, ``y_unit``, ``curve_data``; a fixed power factor's ``priority``,
    ``displacement``, ``excitation``; ...)."""

    model_config = ConfigDict(extra="forbid")
    control_type: DerControlType
    is_default: bool = False
    setting: dict[str, Any] = Field(description="the setting of the type's kind, snake_case")


class DerControlOut(BaseModel):
    station_id: str
    control_id: str
    control_type: DerControlType
    setting_kind: str
    is_default: bool
    priority: int
    setting: dict[str, Any]
    source: str = Field(description="set (accepted from us) or reported (by the station)")
    recorded_at: datetime
    started: bool | None
    started_changed_at: datetime | None
    superseded: bool
    cleared_at: datetime | None
    in_force: bool


class DerAlarmOut(BaseModel):
    station_id: str
    control_type: DerControlType
    at: datetime
    grid_event_fault: str | None
    alarm_ended: bool
    extra_info: str | None


class ReportRequestedOut(BaseModel):
    status: str
    request_id: int


def control_out(r: DerControlRecord) -> DerControlOut:
    return record_out(DerControlOut, r, r.control)


@router.get(
    "/stations/{station_id}/der-controls",
    response_model=list[DerControlOut],
    responses={404: STATION_CALL_ERRORS[404]},
)
async def list_der_controls(
    services: Services,
    who: Caller,
    station_id: str,
    all: Annotated[bool, Query(description="also the cleared and superseded ones")] = False,
) -> list[DerControlOut]:
    """The station's DER controls in force (all it ever had with ``all=true``), by type
    and priority."""
    await load_station(services, who, station_id, Permission.DER_READ)
    records = await services.csms.central.der.repo.list_controls(station_id, in_force=not all)
    return [control_out(r) for r in records]


@router.put(
    "/stations/{station_id}/der-controls/{control_id}",
    response_model=DerControlOut,
    responses=STATION_CALL_ERRORS,
)
async def set_der_control(
    services: Services,
    who: Caller,
    station_id: str,
    control_id: ControlId,
    body: Annotated[DerControlIn, Body()],
) -> DerControlOut:
    """Send the control (SetDERControl); once the station accepts it, it is in force and
    the ones it superseded are not. A station that refuses it answers 409 and nothing is
    recorded."""
    record = await load_station(services, who, station_id, Permission.DER_WRITE)
    control = DerControl(control_id, body.control_type, body.is_default, body.setting)
    await station_call(
        services,
        who,
        record,
        "der.control.set",
        body.model_dump(mode="json"),
        lambda: services.commands.set_der_control(station_id, control),
        target=control_id,
        field=("body", "setting"),
    )
    stored = await services.csms.central.der.repo.get_control(station_id, control_id)
    assert stored is not None
    return control_out(stored)


@router.delete(
    "/stations/{station_id}/der-controls/{control_id}",
    response_model=list[str],
    responses=STATION_CALL_ERRORS,
)
async def clear_der_control(
    services: Services,
    who: Caller,
    station_id: str,
    control_id: ControlId,
    is_default: Annotated[
        bool | None, Query(description="the control's default flag when the station set it alone")
    ] = None,
) -> list[str]:
    """Clear the control (ClearDERControl); answers the ids no longer in force."""
    record = await load_station(services, who, station_id, Permission.DER_WRITE)
    known = await services.csms.central.der.repo.get_control(station_id, control_id)
    default = known.control.is_default if known is not None else is_default
    if default is None:
        raise InvalidField(
            ("query", "is_default"), f"control {control_id!r} is not known here: say is_default"
        )
    await station_call(
        services,
        who,
        record,
        "der.control.clear",
        {"is_default": default},
        lambda: services.commands.clear_der_control(
            station_id, is_default=default, control_id=control_id
        ),
        target=control_id,
    )
    cleared = await services.csms.central.der.repo.get_control(station_id, control_id)
    return [control_id] if cleared is not None and cleared.cleared_at is not None else []


@router.post(
    "/stations/{station_id}/der-controls/report",
    response_model=ReportRequestedOut,
    status_code=202,
    responses=STATION_CALL_ERRORS,
)
async def request_der_report(
    services: Services,
    who: Caller,
    station_id: str,
    control_type: Annotated[DerControlType | None, Query()] = None,
    is_default: Annotated[bool | None, Query()] = None,
) -> ReportRequestedOut:
    """Ask the station for its controls (GetDERControl); they arrive as ReportDERControl
    and are listed by ``GET .../der-controls``."""
    record = await load_station(services, who, station_id, Permission.DER_WRITE)
    request_id = secrets.randbelow(2**31 - 1) + 1
    result = await station_call(
        services,
        who,
        record,
        "der.control.report",
        {"control_type": control_type, "is_default": is_default, "request_id": request_id},
        lambda: services.commands.get_der_control(
            station_id, request_id=request_id, control_type=control_type, is_default=is_default
        ),
    )
    return ReportRequestedOut(status=result.status, request_id=request_id)


@router.get(
    "/stations/{station_id}/der-alarms",
    response_model=list[DerAlarmOut],
    responses={404: STATION_CALL_ERRORS[404]},
)
async def list_der_alarms(
    services: Services,
    who: Caller,
    station_id: str,
    since: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[DerAlarmOut]:
    """The station's DER alarms, newest first."""
    require_aware("since", since)
    await load_station(services, who, station_id, Permission.DER_READ)
    alarms = await services.csms.central.der.repo.list_alarms(
        station_id=station_id, since=since, limit=limit
    )
    return [record_out(DerAlarmOut, a) for a in alarms]


# A refused write to these routes is in the audit log as "refused" (see csms.api.boundary).
AUDITED_ROUTES.update(
    {
        set_der_control.__name__: "der.control.set",
        clear_der_control.__name__: "der.control.clear",
        request_der_report.__name__: "der.control.report",
    }
)
