"""Creating, listing and revoking API tokens (used by the admin CLI and by tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from csms.api.auth import ALL_SITES, ApiToken, Role, hash_secret, new_token
from csms.api.exceptions import InvalidField
from csms.api.repository import ApiRepository

__all__ = ["TokenService"]


class TokenService:
    def __init__(self, repo: ApiRepository, *, now: Callable[[], datetime]) -> None:
        self._repo = repo
        self._now = now

    async def create(
        self,
        *,
        role: Role | str,
        name: str,
        sites: Iterable[str] = (),
        expires_at: datetime | None = None,
    ) -> tuple[ApiToken, str]:
        """A new token; returns the record and the token string (shown once).

        ``sites`` lists the granted site ids; ``"*"`` (or an admin token) grants every
        site. A non-admin token needs at least one site."""
        role = Role(role)
        granted = frozenset(sites)
        all_sites = role is Role.ADMIN or ALL_SITES in granted
        if not all_sites and not granted:
            raise InvalidField(("sites",), f"a {role.value} token needs --site (or --site '*')")
        now = self._now()
        if expires_at is not None and expires_at <= now:
            raise InvalidField(("expires_at",), "the expiry is in the past")
        token_id, secret, text = new_token()
        token = ApiToken(
            token_id=token_id,
            secret_hash=hash_secret(secret),
            name=name,
            role=role,
            sites=None if all_sites else granted,
            created_at=now,
            expires_at=expires_at,
        )
        await self._repo.add_token(token)
        return token, text

    async def list(self) -> list[ApiToken]:
        return await self._repo.list_tokens()

    async def revoke(self, token_id: str) -> bool:
        return await self._repo.revoke_token(token_id, self._now())
