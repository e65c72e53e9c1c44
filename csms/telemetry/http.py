"""HTTP routes for telemetry, to include in the CSMS's FastAPI app.

::

    app.include_router(telemetry_router(telemetry))

- ``GET /metrics``: the pipeline counters in Prometheus text format;
- ``GET /telemetry/health``: the same counters as JSON plus the backend, ``ok`` false when
  points are waiting and the server has not accepted anything for ``stale_after_s``;
- ``GET /telemetry/query``: a dashboard query (see :class:`TelemetryQuery`), as JSON.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse

from csms.telemetry.exceptions import QueryError
from csms.telemetry.query import Aggregation, TelemetryQuery
from csms.telemetry.service import Telemetry

__all__ = ["telemetry_router"]

_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


def telemetry_router(telemetry: Telemetry, *, stale_after_s: float = 300.0) -> APIRouter:
    """The routes above, bound to one :class:`Telemetry`."""
    router = APIRouter()

    @router.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(telemetry.metrics_text(), media_type=_PROMETHEUS)

    @router.get("/telemetry/health", tags=["telemetry"])
    def health() -> dict[str, Any]:
        snapshot = telemetry.stats.as_dict()
        last_ok = telemetry.stats.last_write_ok_unix_s
        waiting = telemetry.stats.outbox_depth > 0
        stale = waiting and (last_ok == 0.0 or time.time() - last_ok > stale_after_s)
        return {"backend": telemetry.backend, "ok": not stale, **snapshot}

    @router.get("/telemetry/query", tags=["telemetry"])
    async def query(
        measurement: str,
        start: datetime,
        stop: datetime,
        field: str = "value",
        aggregation: Aggregation = Aggregation.MEAN,
        window_s: Annotated[int | None, Query(gt=0)] = None,
        group_by: Annotated[list[str] | None, Query()] = None,
        where: Annotated[list[str] | None, Query(description="TAG=VALUE, repeatable")] = None,
    ) -> list[dict[str, Any]]:
        filters: dict[str, str] = {}
        for item in where or []:
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise HTTPException(status_code=422, detail=f"where: expected TAG=VALUE: {item!r}")
            filters[key] = value
        try:
            q = TelemetryQuery(
                measurement=measurement,
                field=field,
                start=start,
                stop=stop,
                aggregation=aggregation,
                window_s=window_s,
                group_by=tuple(group_by or ()),
                where=filters,
            )
        except QueryError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        try:
            result = await telemetry.aquery(q)
        except QueryError as exc:
            raise HTTPException(status_code=502, detail=str(exc)) from exc
        return [s.as_json() for s in result]

    return router
