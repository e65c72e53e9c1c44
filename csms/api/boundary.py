"""The API's boundary rule for numbers: every JSON body is read strictly, for every route.

Python's :mod:`json` reads ``NaN``, ``Infinity``, ``-Infinity`` and turns ``1e400`` into
``inf``; none of them is a number JSON allows or a quantity the central system can act on.
:class:`BoundaryRoute` (the route class of every router) reads each JSON body once more
with hooks that mark such numbers, and answers any it finds with a 422 that names every
field holding one, before FastAPI validates the body and before the route runs: a refused
request reaches no service and stores nothing. Ranges per quantity are the models' job
(:mod:`csms.quantities`).

:func:`validation_error` is the app's handler for request validation errors: FastAPI's
shape, but every value made JSON-safe (a refused input is never echoed as a number JSON
cannot encode, so a 422 never turns into a 500), and a refused write to an audited route is
recorded in the audit log as ``refused``.
"""

from __future__ import annotations

import email.message
import json
import logging
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

__all__ = [
    "AUDITED_ROUTES",
    "BoundaryRoute",
    "NonFiniteNumber",
    "audit_refusal",
    "json_safe",
    "non_finite_numbers",
    "strict_loads",
    "validation_error",
]

logger = logging.getLogger(__name__)

#: a JSON integer beyond what any field stores (a 64-bit signed integer)
_MAX_INT = 2**63

#: route name -> the audit action of a write a refused request is recorded under
AUDITED_ROUTES: dict[str, str] = {}


class NonFiniteNumber:
    """A number in a JSON text that is not a finite float (kept as its text)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _walk(node: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(node, NonFiniteNumber):
        return [(path, node.text)]
    found: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _walk(value, (*path, i))
    return found


def _locate(body: bytes | str) -> tuple[Any, list[tuple[tuple[str | int, ...], str]]]:
    """Parse with hooks that mark every NaN, ±Infinity, float overflow and integer beyond 64
    bits, and say where each is (a Python call per number: only for the bodies that hold
    one, or when asked)."""
    marked: list[NonFiniteNumber] = []

    def mark(text: str) -> NonFiniteNumber:
        marker = NonFiniteNumber(text)
        marked.append(marker)
        return marker

    def number(text: str) -> float | NonFiniteNumber:
        value = float(text)
        return value if math.isfinite(value) else mark(text)

    def integer(text: str) -> int | NonFiniteNumber:
        if len(text) > 20:  # more digits than any 64-bit integer: do not build the int
            return mark(text)
        value = int(text)
        return value if -_MAX_INT <= value < _MAX_INT else mark(text)

    parsed = json.loads(body, parse_constant=mark, parse_float=number, parse_int=integer)
    return parsed, (_walk(parsed, ()) if marked else [])


def strict_loads(body: bytes | str) -> tuple[Any, list[tuple[tuple[str | int, ...], str]]]:
    """``body`` parsed as :func:`json.loads` does, and where it holds NaN, ±Infinity or a
    float that overflows (``[(path, text), ...]``). Raises what :func:`json.loads` raises.

    The common case stays in C: one parse that only hooks the constants, and one encoding
    that refuses ``inf`` (a float that overflowed); a body that holds either is parsed again
    with every number hooked to say where. Integers beyond any range are left to the
    models' bounds (every integer field has one)."""
    constants: list[str] = []

    def constant(text: str) -> float:
        constants.append(text)
        return math.nan

    parsed = json.loads(body, parse_constant=constant)
    if not constants:
        try:
            json.dumps(parsed, allow_nan=False)
        except ValueError:  # an overflow to inf somewhere
            pass
        else:
            return parsed, []
    return _locate(body)


def non_finite_numbers(body: bytes | str) -> list[tuple[tuple[str | int, ...], str]]:
    """Where ``body`` (a JSON text) holds NaN, ±Infinity or a number out of every range:
    ``[(path, text), ...]``; empty for a clean body or one that is not JSON at all (FastAPI
    answers that one)."""
    try:
        return _locate(body)[1]
    except (ValueError, RecursionError):
        return []


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type")
    if not content_type:
        return True  # FastAPI reads a body without a content type as JSON
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class BoundaryRoute(APIRoute):
    """An API route whose JSON body holds only finite numbers, or is refused with a 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def strict(request: Request) -> Response:
            if takes_body and request.method not in ("GET", "HEAD", "OPTIONS"):
                body = await request.body()
                if body and _is_json(request):
                    try:
                        parsed, found = strict_loads(body)
                    except (ValueError, RecursionError):  # not JSON: FastAPI answers it
                        parsed, found = None, []
                    else:
                        # The route reads this parse: each body is parsed once.
                        request._json = parsed
                    if found:
                        raise RequestValidationError(
                            [
                                {
                                    "type": "finite_number",
                                    "loc": ("body", *path),
                                    "msg": "must be a finite number in range, not " + text,
                                    "input": text,
                                }
                                for path, text in found
                            ]
                        )
            return await handler(request)

        return strict


def json_safe(value: Any) -> Any:
    """``value`` with every float JSON cannot carry (NaN, ±inf) written as its text and
    anything else JSON does not know as its ``str``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    try:
        return json_safe(jsonable_encoder(value))
    except Exception:  # an input FastAPI cannot encode either: its text serves
        return str(value)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 in FastAPI's shape, JSON-safe; a refused audited write is audited as refused."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        json_safe({k: v for k, v in error.items() if k in ("type", "loc", "msg", "input", "ctx")})
        for error in exc.errors()
    ]
    await audit_refusal(request, detail)
    return JSONResponse({"detail": detail}, status_code=422)


async def audit_refusal(request: Request, detail: Any) -> None:
    """Record a refused write to an audited route (:data:`AUDITED_ROUTES`) by a caller with
    a valid token (others were refused earlier, as 401, and are not the audit log's
    business)."""
    route = request.scope.get("route")
    action = AUDITED_ROUTES.get(getattr(route, "name", ""))
    if action is None:
        return
    from csms.api.auth import parse_token, verify
    from csms.api.exceptions import ApiError
    from csms.api.services import ApiServices

    services = request.app.state.services
    assert isinstance(services, ApiServices)
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return
    try:
        token_id, secret = parse_token(credentials.strip())
        who = verify(await services.repo.get_token(token_id), secret, services.now())
    except ApiError:
        return
    params = request.path_params
    site_id = params.get("site_id")
    target = next((str(v) for k, v in params.items() if k != "site_id"), site_id)
    await services.auditor.record(
        who,
        action,
        "refused",
        site_id=site_id,
        station_id=params.get("station_id"),
        target=target,
        detail={"errors": _without_inputs(detail)},
    )


def _without_inputs(detail: Any) -> Any:
    """The errors without the values refused: an audit entry never holds a password, a
    secret or a driver's token that a refused body carried."""
    if isinstance(detail, list):
        return [
            {k: v for k, v in e.items() if k in ("loc", "msg", "type")}
            if isinstance(e, dict)
            else e
            for e in detail
        ]
    return detail
