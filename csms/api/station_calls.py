"""A command to one station run while the HTTP request waits, audited whatever happens.

The station's answer decides the response: accepted (the route's result, audited ``ok``
or, with ``outcome``, as the answer says, such as a trust store's ``Rejected``), refused by
the station (409, audited ``rejected``), offline (409, ``offline``), a command its OCPP version
does not have (409, ``unsupported``), no answer or a CALLERROR (502, ``failed``), a value
the central system will not send (422; the route is audited as ``refused`` through
:data:`csms.api.boundary.AUDITED_ROUTES`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from csms.api.auth import Principal
from csms.api.exceptions import ApiError, InvalidField
from csms.api.models import ErrorOut
from csms.api.services import ApiServices
from csms.exceptions import (
    CommandError,
    CommandFailed,
    CommandRejected,
    CommandTimeout,
    StationOffline,
)
from csms.store.base import StationRecord

__all__ = [
    "STATION_CALL_ERRORS",
    "StationFailed",
    "StationRefused",
    "audit_station",
    "station_call",
]

T = TypeVar("T")

STATION_CALL_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such station"},
    409: {
        "model": ErrorOut,
        "description": "the station refused, is offline, or its OCPP version lacks the command",
    },
    502: {"model": ErrorOut, "description": "the station did not answer, or with an error"},
}


class StationFailed(ApiError):
    status_code = 502


class StationRefused(ApiError):
    """The station refused, or is offline (409; audited here, so not a :class:`Conflict`,
    which the app audits again as a refused request)."""

    status_code = 409


async def audit_station(
    services: ApiServices,
    who: Principal,
    record: StationRecord,
    action: str,
    result: str = "ok",
    *,
    target: str | None = None,
    request: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record ``action`` on ``record``'s station in the audit log, on the station's site
    and, unless another ``target`` is named, with the station as its target."""
    await services.auditor.record(
        who,
        action,
        result,
        site_id=services.station_site(record),
        station_id=record.station_id,
        target=target or record.station_id,
        request=request,
        detail=detail,
    )


async def station_call(
    services: ApiServices,
    who: Principal,
    record: StationRecord,
    action: str,
    request: dict[str, Any],
    call: Callable[[], Awaitable[T]],
    *,
    target: str | None = None,
    field: tuple[str | int, ...] = ("body",),
    outcome: Callable[[T], str] | None = None,
) -> T:
    """Run ``call`` for ``record``'s station and audit it as ``action``; an answer is audited
    as ``outcome(answer)`` when given, else as ``ok``."""

    async def audit(result: str, detail: dict[str, Any] | None = None) -> None:
        await audit_station(
            services, who, record, action, result, target=target, request=request, detail=detail
        )

    try:
        result = await call()
    except StationOffline as exc:
        await audit("offline")
        raise StationRefused(str(exc)) from None
    except CommandRejected as exc:
        await audit("rejected", {"status": exc.status})
        raise StationRefused(str(exc)) from None
    except (CommandFailed, CommandTimeout) as exc:
        await audit("failed", {"error": str(exc)})
        raise StationFailed(str(exc)) from None
    except CommandError as exc:  # not sent: the station's OCPP version has no such message
        await audit("unsupported", {"error": str(exc)})
        raise StationRefused(str(exc)) from None
    except ValueError as exc:
        # a 422: the route is in AUDITED_ROUTES, which records it as refused
        where = getattr(exc, "field", None)
        loc = (*field, *str(where).split(".")) if where else field
        raise InvalidField(loc, str(exc)) from None
    await audit("ok" if outcome is None else outcome(result))
    return result
