"""The HTTP API of the central system (FastAPI): stations, id tokens, transactions, commands
as jobs, the event stream, webhooks, the audit log, and (with ``csms.sites``) sites, limit
trees, tariffs, constraints and plans. See ``docs/api.md``."""

from __future__ import annotations

from csms.api.app import API_PREFIX, create_app
from csms.api.auth import ApiToken, Permission, Principal, Role
from csms.api.exceptions import (
    ApiError,
    Conflict,
    Forbidden,
    IdempotencyMismatch,
    InvalidField,
    ResourceNotFound,
    Unauthorized,
)
from csms.api.repository import ApiRepository, MemoryApiRepository, open_repository
from csms.api.server import ApiServer
from csms.api.services import ApiServices
from csms.api.tokens import TokenService

__all__ = [
    "API_PREFIX",
    "ApiError",
    "ApiRepository",
    "ApiServer",
    "ApiServices",
    "ApiToken",
    "Conflict",
    "Forbidden",
    "IdempotencyMismatch",
    "InvalidField",
    "MemoryApiRepository",
    "Permission",
    "Principal",
    "ResourceNotFound",
    "Role",
    "TokenService",
    "Unauthorized",
    "create_app",
    "open_repository",
]
