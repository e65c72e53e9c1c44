"""Deciding what an id token may do (sans-I/O)."""

from __future__ import annotations

from datetime import datetime

from csms.domain import AuthorizationResult, AuthorizationStatus, IdToken

__all__ = ["authorize"]


def authorize(token: IdToken | None, now: datetime) -> AuthorizationResult:
    """The status of ``token`` at ``now``: Unknown when not registered, Expired past its
    expiry, otherwise its registered status (Accepted, Blocked, ...)."""
    if token is None:
        return AuthorizationResult(status=AuthorizationStatus.UNKNOWN)
    if token.expires_at is not None and token.expires_at <= now:
        return AuthorizationResult(
            status=AuthorizationStatus.EXPIRED,
            expires_at=token.expires_at,
            group_id=token.group_id,
        )
    return AuthorizationResult(
        status=token.status, expires_at=token.expires_at, group_id=token.group_id
    )
