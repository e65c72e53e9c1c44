"""``GET /sites/{id}/history``: a site's recent past from telemetry, for its chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from csms.api.auth import Permission
from csms.api.boundary import BoundaryRoute
from csms.api.dashboard_models import HistoryOut
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.exceptions import InvalidField
from csms.api.history import MAX_WINDOWS, choose_window_s, site_history
from csms.api.models import ErrorOut
from csms.api.query_times import require_times
from csms.api.site_common import SiteId

__all__ = ["DEFAULT_SPAN_S", "MAX_SPAN_S", "router"]

router = APIRouter(route_class=BoundaryRoute, tags=["sites"], responses=AUTH_ERRORS)

#: the longest range one request may ask for
MAX_SPAN_S = 31 * 86400
#: the range shown without start: the last two hours
DEFAULT_SPAN_S = 7200


@router.get(
    "/sites/{site_id}/history",
    response_model=HistoryOut,
    responses={404: {"model": ErrorOut, "description": "no such site"}},
)
async def history(
    services: Services,
    who: Caller,
    site_id: SiteId,
    start: Annotated[datetime | None, Query(description="default: two hours before stop")] = None,
    stop: Annotated[
        datetime | None, Query(description="default: now, back to the last complete window")
    ] = None,
    window_s: Annotated[
        int | None, Query(ge=10, le=86400, description="default: about 240 windows")
    ] = None,
) -> HistoryOut:
    """Per window over ``[start, stop)``: site import (EVSE power + storage charging - PV)
    against the import limit in force, power per EVSE (per node of the limit tree when the
    site has more than 16 EVSEs), the charging power planned beside the measured one, PV,
    storage power and state of charge, and the import price. Series that telemetry could
    not answer are listed in ``problems``."""
    require_times(("start", start), ("stop", stop), bounded=True)
    who.require(Permission.SITES_READ, site_id)
    who.require(Permission.PLANS_READ, site_id)
    assert services.sites is not None
    site = await services.sites.get_site(site_id)
    if stop is None:
        # the last complete window: one whose readings are all in
        window = window_s or choose_window_s(DEFAULT_SPAN_S)
        stop_s = int(services.now().timestamp()) // window * window
        stop = datetime.fromtimestamp(stop_s, tz=UTC)
    start = start or stop - timedelta(seconds=DEFAULT_SPAN_S)
    span_s = (stop - start).total_seconds()
    if span_s <= 0:
        raise InvalidField(("query", "stop"), "stop must be after start")
    if span_s > MAX_SPAN_S:
        raise InvalidField(("query", "start"), f"at most {MAX_SPAN_S // 86400} days at once")
    window = window_s or choose_window_s(span_s)
    if span_s / window > MAX_WINDOWS:
        raise InvalidField(("query", "window_s"), f"more than {MAX_WINDOWS} windows")
    constraints = [
        # a cancelled constraint was in force from its start until it was cancelled
        c
        if c.cancelled_at is None
        else c.model_copy(update={"end": min(c.end, c.cancelled_at), "cancelled_at": None})
        for c in await services.sites.list_constraints(site_id, include_cancelled=True)
        if c.cancelled_at is None or c.cancelled_at > c.start
    ]
    return await site_history(
        services.csms.telemetry, site, constraints, start=start, stop=stop, window_s=window
    )
