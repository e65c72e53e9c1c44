"""The live event stream (Server-Sent Events)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from csms.api.auth import Permission, Role
from csms.api.boundary import BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.exceptions import InvalidField
from csms.api.models import SiteId
from csms.api.stream import (
    DRIVER_EVENT_TYPES,
    EventFilter,
    Subscription,
    check_type_filter,
    sse_frame,
)
from csms.ids import is_station_id

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(route_class=BoundaryRoute, tags=["events"], responses=AUTH_ERRORS)


async def _frames(
    sub: Subscription,
    *,
    epoch: str,
    keepalive_s: float,
    max_s: float | None,
    unsubscribe: object,
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = None if max_s is None else loop.time() + max_s
    try:
        yield b": connected\n\n"
        while True:
            wait_s = keepalive_s
            if deadline is not None:
                left = deadline - loop.time()
                if left <= 0:
                    return
                wait_s = min(wait_s, left)
            event = await sub.next(timeout_s=wait_s)
            if event is not None:
                yield sse_frame(event, epoch=epoch)
            elif sub.ended:
                if sub.dropped:
                    yield b'event: dropped\ndata: {"reason": "client too slow"}\n\n'
                return
            else:
                yield b": keepalive\n\n"
    finally:
        unsubscribe()  # type: ignore[operator]


#: one event of the stream (OpenAPI 3.1: the schema of an event stream describes each event)
_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "one Server-Sent Event: `id`, `event` (the type) and `data` (the event "
    "as JSON text)",
    "required": ["data"],
    "properties": {
        "id": {"type": "string"},
        "event": {"type": "string"},
        "data": {"type": "string"},
        "retry": {"type": "integer"},
    },
}


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": _SSE_EVENT}}}},
)
async def stream_events(
    services: Services,
    who: Caller,
    site_id: Annotated[list[SiteId] | None, Query(max_length=100)] = None,
    station_id: Annotated[list[str] | None, Query(max_length=100)] = None,
    type: Annotated[
        list[str] | None,
        Query(max_length=50, description="event types, e.g. station.status or transaction.*"),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=64,
            description="resume after this event (replays the recent ones kept)",
        ),
    ] = None,
) -> StreamingResponse:
    """Station status, transaction, meter, limit, constraint and plan events as they happen,
    as ``text/event-stream``. Grid operators do not receive transaction, EV or
    missed-departure (driver) events. A client that falls too far behind gets an
    ``event: dropped`` and the stream ends."""
    for value in type or ():
        problem = check_type_filter(value)
        if problem is not None:
            raise InvalidField(("query", "type"), problem)
    for value in station_id or ():
        if not is_station_id(value):
            raise InvalidField(("query", "station_id"), f"not a station id: {value!r}")
    sites = frozenset(site_id) if site_id else None
    if sites is not None:
        for s in sites:
            who.require(Permission.EVENTS_READ, s)
    else:
        who.require(Permission.EVENTS_READ, sited=False)
    flt = EventFilter(
        site_ids=sites,
        station_ids=frozenset(station_id) if station_id else None,
        types=frozenset(type) if type else None,
        granted_sites=who.sites,
        hide_types=DRIVER_EVENT_TYPES if who.role is Role.GRID_OPERATOR else frozenset(),
    )
    cfg = services.settings
    sub = services.hub.subscribe(
        flt, max_queue=cfg.stream_queue_events, last_event_id=last_event_id
    )
    return StreamingResponse(
        _frames(
            sub,
            epoch=services.hub.epoch,
            keepalive_s=cfg.stream_keepalive_s,
            max_s=cfg.stream_max_s,
            unsubscribe=lambda: services.hub.unsubscribe(sub),
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
