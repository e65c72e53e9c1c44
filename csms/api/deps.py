"""FastAPI dependencies: the services and the authenticated caller."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from csms.api.auth import Principal, parse_token, verify
from csms.api.exceptions import Unauthorized
from csms.api.models import ErrorOut
from csms.api.services import ApiServices

__all__ = ["AUTH_ERRORS", "Caller", "Services", "get_principal", "get_services"]

_bearer = HTTPBearer(auto_error=False, description="an API token: `cgk_<id>_<secret>`")


def get_services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]


async def get_principal(
    services: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    token_id, secret = parse_token(credentials.credentials)
    stored = await services.repo.get_token(token_id)
    return verify(stored, secret, services.now())


Caller = Annotated[Principal, Depends(get_principal)]

#: documented on every authenticated route
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no valid token"},
    403: {"model": ErrorOut, "description": "role or site grant does not allow it"},
}
