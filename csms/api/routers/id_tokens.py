"""Id tokens (driver credentials): admin only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Response

from csms.api.auth import Permission
from csms.api.boundary import AUDITED_ROUTES, BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.loading import found
from csms.api.models import ErrorOut, IdTokenIn, IdTokenOut, record_out
from csms.domain import AuthorizationStatus, IdToken

__all__ = ["router"]

router = APIRouter(route_class=BoundaryRoute, tags=["id tokens"], responses=AUTH_ERRORS)
_404: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such id token"}
}
_TOKEN = Path(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")


def _out(t: IdToken) -> IdTokenOut:
    return record_out(IdTokenOut, t)


@router.get("/id-tokens", response_model=list[IdTokenOut])
async def list_id_tokens(services: Services, who: Caller) -> list[IdTokenOut]:
    who.require(Permission.ID_TOKENS_READ, sited=False)
    return [_out(t) for t in await services.store.list_id_tokens()]


@router.get("/id-tokens/{token}", response_model=IdTokenOut, responses=_404)
async def get_id_token(services: Services, who: Caller, token: str = _TOKEN) -> IdTokenOut:
    who.require(Permission.ID_TOKENS_READ, sited=False)
    return _out(found(await services.store.get_id_token(token), f"no id token {token!r}"))


@router.put("/id-tokens/{token}", response_model=IdTokenOut)
async def put_id_token(
    services: Services, who: Caller, body: IdTokenIn, token: str = _TOKEN
) -> IdTokenOut:
    """Create or replace an id token."""
    who.require(Permission.ID_TOKENS_WRITE, sited=False)
    record = IdToken(
        token=token,
        kind=body.kind,
        status=AuthorizationStatus(body.status),
        expires_at=body.expires_at,
        group_id=body.group_id,
    )
    await services.store.put_id_token(record)
    await services.auditor.record(
        who, "id_token.put", "ok", target=token, request=body.model_dump(mode="json")
    )
    return _out(record)


@router.delete("/id-tokens/{token}", status_code=204, responses=_404)
async def delete_id_token(services: Services, who: Caller, token: str = _TOKEN) -> Response:
    who.require(Permission.ID_TOKENS_WRITE, sited=False)
    found(await services.store.get_id_token(token), f"no id token {token!r}")
    await services.store.delete_id_token(token)
    await services.auditor.record(who, "id_token.delete", "ok", target=token)
    return Response(status_code=204)


# A refused write to these routes is in the audit log as "refused" (see csms.api.boundary).
AUDITED_ROUTES.update(
    {put_id_token.__name__: "id_token.put", delete_id_token.__name__: "id_token.delete"}
)
