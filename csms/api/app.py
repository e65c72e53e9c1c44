"""The FastAPI application: ``create_app(csms_or_services) -> FastAPI``.

Routes live under ``/api/v1``; the OpenAPI document is at ``/openapi.json`` and the docs at
``/docs``. Errors: 401 (no valid token, with ``WWW-Authenticate: Bearer``), 403 (role or
site grant), 404, 409 as ``{"detail": "..."}``; every 422 in FastAPI's validation shape
``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`` naming the field.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError

from csms.api.allow import AllowMethods
from csms.api.boundary import BoundaryRoute, audit_refusal, validation_error
from csms.api.exceptions import ApiError, Conflict, InvalidField, Unauthorized
from csms.api.overview import warm_up
from csms.api.services import ApiServices
from csms.exceptions import StoreUnavailable
from csms.sites import (
    ConstraintNotFound,
    InvalidConstraint,
    InvalidSite,
    NodeNotFound,
    SiteError,
    SiteNotFound,
)
from dashboards.web import mount_dashboard

if TYPE_CHECKING:
    from csms.api.system import CentralSystemParts

__all__ = ["API_PREFIX", "create_app"]

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    if isinstance(exc, InvalidField):
        detail = [{"loc": list(exc.loc), "msg": exc.message, "type": exc.kind}]
        await audit_refusal(request, detail)
        return JSONResponse({"detail": detail}, status_code=422)
    if isinstance(exc, Conflict):
        await audit_refusal(request, exc.message)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable during %s %s: %s", request.method, request.url, exc)
    return JSONResponse(
        {"detail": "the database is unavailable; retry later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _site_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, SiteNotFound | ConstraintNotFound | NodeNotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)
    if isinstance(exc, InvalidConstraint):
        loc = ["body", *exc.field.split(".")]
        msg = str(exc).removeprefix(f"{exc.field}: ")
        found = [{"loc": loc, "msg": msg, "type": "value_error"}]
        await audit_refusal(request, found)
        return JSONResponse({"detail": found}, status_code=422)
    if isinstance(exc, InvalidSite):
        detail = [
            {
                "loc": ["body", *where.split(".")] if where else ["body"],
                "msg": msg,
                "type": "value_error",
            }
            for where, msg in exc.problems
        ]
        await audit_refusal(request, detail)
        return JSONResponse({"detail": detail}, status_code=422)
    await audit_refusal(request, str(exc))
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A model built inside a service refused a value (422, in the request's shape)."""
    assert isinstance(exc, ValidationError)
    detail = [
        {"loc": ["body", *(str(p) for p in err["loc"])], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors()
    ]
    await audit_refusal(request, detail)
    return JSONResponse({"detail": detail}, status_code=422)


#: what the API emits and accepts for a time of day (JSON Schema's "time" format demands an
#: offset, which pydantic neither writes nor requires)
_TIME_OF_DAY = r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$"


#: FastAPI answers a body that is not JSON with a 400 before any model sees it
_BAD_BODY = {
    "description": "the body is not JSON",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}


def _query_names(dependant: Any) -> set[str]:
    names = {f.alias for f in getattr(dependant, "query_params", ())}
    for sub_dependant in getattr(dependant, "dependencies", ()):
        names |= _query_names(sub_dependant)
    return names


def _allowed_query(route: object) -> frozenset[str]:
    return frozenset(_query_names(getattr(route, "dependant", None)))


def reject_unknown_query(request: Request) -> None:
    """Every query parameter is validated, so one the route does not take is a 422."""
    if not request.query_params:
        return
    allowed = _allowed_query(request.scope.get("route"))
    for name in request.query_params:
        if name not in allowed:
            raise InvalidField(("query", name), "unknown query parameter")


#: an operation without parameters still answers an unknown query parameter with a 422
_UNKNOWN_QUERY = {
    "description": "Validation Error",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}
_VALIDATION_SCHEMAS: dict[str, Any] = {
    "ValidationError": {
        "type": "object",
        "title": "ValidationError",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
    },
    "HTTPValidationError": {
        "type": "object",
        "title": "HTTPValidationError",
        "properties": {
            "detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}
        },
    },
}


def _fix_time_format(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("format") == "time":
            del node["format"]
            node["pattern"] = _TIME_OF_DAY
        for value in node.values():
            _fix_time_format(value)
    elif isinstance(node, list):
        for value in node:
            _fix_time_format(value)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        _fix_time_format(schema)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if "requestBody" in operation:
                    responses.setdefault("400", _BAD_BODY)
                responses.setdefault("422", _UNKNOWN_QUERY)
        known = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in _VALIDATION_SCHEMAS.items():
            known.setdefault(name, definition)
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(target: CentralSystemParts | ApiServices) -> FastAPI:
    """The API app over a started :class:`~csms.app.Csms` (services made and started with
    the app's lifespan) or over :class:`ApiServices` the caller starts and stops."""
    from csms.api.routers import (
        activity,
        audit,
        certificates,
        commands,
        constraints,
        der,
        events,
        history,
        id_tokens,
        overview,
        reports,
        sites,
        stations,
        swaps,
        transactions,
    )
    from csms.api.routers import webhooks as webhook_routes

    services = target if isinstance(target, ApiServices) else ApiServices(target)
    owned = not isinstance(target, ApiServices)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            await services.start()
            services.background(warm_up(services))
        try:
            yield
        finally:
            if owned:
                await services.stop()

    app = FastAPI(
        dependencies=[Depends(reject_unknown_query)],
        title="chargegrid API",
        version="1",
        description="Constraints, commands, events and roles for grid operators, fleet "
        "managers and integrators. Authenticate with `Authorization: Bearer <API token>` "
        "(tokens come from `chargegrid api-token create`).",
        lifespan=lifespan,
    )
    app.state.services = services
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StoreUnavailable, _unavailable)
    app.add_exception_handler(SiteError, _site_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.router.route_class = BoundaryRoute
    routers = (
        stations,
        certificates,
        id_tokens,
        activity,
        transactions,
        swaps,
        der,
        commands,
        events,
        webhook_routes,
        audit,
        sites,
        constraints,
        history,
        overview,
        reports,
    )
    for module in routers:
        app.include_router(module.router, prefix=API_PREFIX)
    _add_metrics(app, services)
    _add_health(app, services)
    mount_dashboard(app)
    app.add_middleware(AllowMethods, routes=lambda: app.router.routes)
    return app


def _add_metrics(app: FastAPI, services: ApiServices) -> None:
    """``GET /metrics``: the telemetry counters (outbox depth, points written, retried,
    dropped, rejected) in Prometheus text format, for any valid API token."""
    from csms.api.deps import get_principal
    from csms.api.exceptions import ResourceNotFound

    # The route answers text, its errors JSON (FastAPI would document them as text).
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}

    @app.get(
        "/metrics",
        tags=["telemetry"],
        dependencies=[Depends(get_principal)],
        response_class=PlainTextResponse,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            401: {"description": "no valid token", "content": error},
            404: {"description": "telemetry is disabled", "content": error},
        },
    )
    def metrics() -> PlainTextResponse:
        """Telemetry health in Prometheus text format: outbox depth, points written,
        retried, dropped, rejected; connections refused by the OCPP server's security
        checks, by reason; the storage controllers' steps, corrections, exclusions and EV
        reduction per site (any valid token)."""
        telemetry = services.csms.telemetry
        if telemetry is None:
            raise ResourceNotFound("telemetry is disabled")
        text = (
            telemetry.metrics_text()
            + services.csms.server.security.metrics_text()
            + services.csms.planning.storage_metrics_text()
        )
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")


_HEALTH_SCHEMA = {
    "type": "object",
    "required": ["ok", "unhealthy", "tasks", "one_shot_failures"],
    "properties": {
        "ok": {"type": "boolean"},
        "unhealthy": {"type": "array", "items": {"type": "string"}},
        "tasks": {"type": "array", "items": {"type": "object"}},
        "one_shot_failures": {"type": "integer"},
    },
}


def _add_health(app: FastAPI, services: ApiServices) -> None:
    """``GET /health`` (no token, for load balancers and monitors): 200 while every
    long-running task of the process runs, 503 naming those failing or dead."""
    content = {"application/json": {"schema": _HEALTH_SCHEMA}}

    @app.get(
        "/health",
        tags=["health"],
        responses={
            200: {"description": "every background task runs", "content": content},
            503: {"description": "a background task is failing or dead", "content": content},
        },
    )
    def health() -> JSONResponse:
        """Each long-running task (planner loops, site watcher, store writer, telemetry
        threads) with its state, failures and last error; 503 when one is not running."""
        report = services.csms.health()
        return JSONResponse(report.as_dict(), status_code=200 if report.ok else 503)
