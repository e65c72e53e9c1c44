"""API tokens, roles and site grants: pure logic, no I/O.

A token reads ``cgk_<token_id>_<secret>``. Only ``sha256(secret)`` is stored; the secret is
256 random bits, so a fast hash is enough (no password stretching needed) and a check is a
constant-time comparison.

Roles and what they may do (``Permission`` values); every permission except those marked
*global* is further limited to the sites granted to the token:

============== =====================================================================
admin          everything, on every site
grid_operator  sites (read, limit tree), constraints (read, write), plans, tariffs (read),
               DER controls (read, write), events (no transaction or driver data), audit
               (read)
fleet_manager  sites, constraints, plans, tariffs (read), stations, transactions and
               battery swaps (read), DER controls (read), commands, jobs, events, audit
               (read)
viewer         sites, constraints, plans, tariffs, stations, transactions, battery swaps,
               DER controls, jobs, events (read)
============== =====================================================================
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from csms.api.exceptions import Forbidden, Unauthorized

__all__ = [
    "ALL_SITES",
    "ROLE_PERMISSIONS",
    "ApiToken",
    "Permission",
    "Principal",
    "Role",
    "hash_secret",
    "new_token",
    "parse_token",
    "verify",
]

ALL_SITES = "*"
_PREFIX = "cgk"


class Role(enum.StrEnum):
    ADMIN = "admin"
    GRID_OPERATOR = "grid_operator"
    FLEET_MANAGER = "fleet_manager"
    VIEWER = "viewer"


class Permission(enum.StrEnum):
    SITES_READ = "sites:read"
    SITES_WRITE = "sites:write"
    SITES_CREATE = "sites:create"
    CONSTRAINTS_READ = "constraints:read"
    CONSTRAINTS_WRITE = "constraints:write"
    PLANS_READ = "plans:read"
    TARIFFS_READ = "tariffs:read"
    TARIFFS_WRITE = "tariffs:write"
    STATIONS_READ = "stations:read"
    STATIONS_WRITE = "stations:write"
    ID_TOKENS_READ = "id_tokens:read"
    ID_TOKENS_WRITE = "id_tokens:write"
    TRANSACTIONS_READ = "transactions:read"
    COMMANDS = "commands:write"
    JOBS_READ = "jobs:read"
    EVENTS_READ = "events:read"
    WEBHOOKS = "webhooks:manage"
    AUDIT_READ = "audit:read"
    READINGS_WRITE = "readings:write"
    #: OCPP 2.1 DER controls of a station (set, clear, ask for a report) and its DER alarms
    DER_READ = "der:read"
    DER_WRITE = "der:write"
    #: station certificates and trust stores (admin only)
    CERTIFICATES = "certificates:manage"


_P = Permission
_SITE_READ = {_P.SITES_READ, _P.CONSTRAINTS_READ, _P.PLANS_READ, _P.TARIFFS_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.GRID_OPERATOR: frozenset(
        _SITE_READ
        | {
            _P.SITES_WRITE,
            _P.CONSTRAINTS_WRITE,
            _P.READINGS_WRITE,
            _P.DER_READ,
            _P.DER_WRITE,
            _P.EVENTS_READ,
            _P.AUDIT_READ,
        }
    ),
    Role.FLEET_MANAGER: frozenset(
        _SITE_READ
        | {
            _P.STATIONS_READ,
            _P.TRANSACTIONS_READ,
            _P.DER_READ,
            _P.COMMANDS,
            _P.JOBS_READ,
            _P.EVENTS_READ,
            _P.AUDIT_READ,
        }
    ),
    Role.VIEWER: frozenset(
        _SITE_READ
        | {_P.STATIONS_READ, _P.TRANSACTIONS_READ, _P.DER_READ, _P.JOBS_READ, _P.EVENTS_READ}
    ),
}


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A stored token (without its secret)."""

    token_id: str
    secret_hash: str
    name: str
    role: Role
    #: granted site ids; ``None`` = every site.
    sites: frozenset[str] | None
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the checked token."""

    token_id: str
    name: str
    role: Role
    sites: frozenset[str] | None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def covers(self, site_id: str | None) -> bool:
        """Whether the grant includes ``site_id`` (``None``: a resource on no site, which only
        an all-sites grant covers)."""
        if self.sites is None:
            return True
        return site_id is not None and site_id in self.sites

    def require(
        self, permission: Permission, site_id: str | None = None, *, sited: bool = True
    ) -> None:
        """Raise :class:`Forbidden` unless the role has ``permission`` and, when ``sited``,
        the grant covers ``site_id``."""
        if not self.can(permission):
            raise Forbidden(f"role {self.role.value} may not {permission.value}")
        if sited and not self.covers(site_id):
            raise Forbidden(f"token not granted site {site_id!r}")

    def visible_sites(self, sites: Iterable[str | None]) -> list[str | None]:
        return [s for s in sites if self.covers(s)]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh token: ``(token_id, secret, full token string)``."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"{_PREFIX}_{token_id}_{secret}"


def parse_token(text: str) -> tuple[str, str]:
    """Split a presented token into ``(token_id, secret)``; :class:`Unauthorized` if malformed."""
    prefix, sep, rest = text.partition("_")
    token_id, sep2, secret = rest.partition("_")
    if prefix != _PREFIX or not sep or not sep2 or not token_id or not secret:
        raise Unauthorized("malformed API token")
    return token_id, secret


def verify(token: ApiToken | None, secret: str, now: datetime) -> Principal:
    """Check a presented secret against the stored token at ``now``."""
    if token is None:
        raise Unauthorized("unknown API token")
    if not hmac.compare_digest(token.secret_hash, hash_secret(secret)):
        raise Unauthorized("unknown API token")
    if token.revoked_at is not None and token.revoked_at <= now:
        raise Unauthorized("API token revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthorized("API token expired")
    return Principal(token.token_id, token.name, token.role, token.sites)
