from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.api.auth import (
    ROLE_PERMISSIONS,
    ApiToken,
    Permission,
    Principal,
    Role,
    hash_secret,
    new_token,
    parse_token,
    verify,
)
from csms.api.exceptions import Forbidden, Unauthorized

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def test_role_permissions() -> None:
    p = Permission
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert ROLE_PERMISSIONS[Role.GRID_OPERATOR] == {
        p.SITES_READ,
        p.SITES_WRITE,
        p.CONSTRAINTS_READ,
        p.CONSTRAINTS_WRITE,
        p.READINGS_WRITE,
        p.DER_READ,
        p.DER_WRITE,
        p.PLANS_READ,
        p.TARIFFS_READ,
        p.EVENTS_READ,
        p.AUDIT_READ,
    }
    assert ROLE_PERMISSIONS[Role.FLEET_MANAGER] == {
        p.SITES_READ,
        p.CONSTRAINTS_READ,
        p.PLANS_READ,
        p.TARIFFS_READ,
        p.STATIONS_READ,
        p.TRANSACTIONS_READ,
        p.DER_READ,
        p.COMMANDS,
        p.JOBS_READ,
        p.EVENTS_READ,
        p.AUDIT_READ,
    }
    assert ROLE_PERMISSIONS[Role.VIEWER] == {
        p.SITES_READ,
        p.CONSTRAINTS_READ,
        p.PLANS_READ,
        p.TARIFFS_READ,
        p.STATIONS_READ,
        p.TRANSACTIONS_READ,
        p.DER_READ,
        p.JOBS_READ,
        p.EVENTS_READ,
    }
    # Nobody but the admin touches drivers' tokens, stations' registration or webhooks.
    for role in (Role.GRID_OPERATOR, Role.FLEET_MANAGER, Role.VIEWER):
        assert not ROLE_PERMISSIONS[role] & {
            p.ID_TOKENS_READ,
            p.ID_TOKENS_WRITE,
            p.STATIONS_WRITE,
            p.WEBHOOKS,
            p.CERTIFICATES,
            p.SITES_CREATE,
            p.TARIFFS_WRITE,
        }


def test_token_format_and_parse() -> None:
    token_id, secret, text = new_token()
    assert text == f"cgk_{token_id}_{secret}"
    assert len(token_id) == 12 and len(secret) >= 43
    assert parse_token(text) == (token_id, secret)
    for bad in ("", "cgk", "cgk_", "cgk_abc", "cgk__secret", "xyz_abc_secret", "cgk_abc_"):
        with pytest.raises(Unauthorized, match="malformed"):
            parse_token(bad)


def _token(**kw: object) -> ApiToken:
    fields: dict[str, object] = {
        "token_id": "abc",
        "secret_hash": hash_secret("s3cret"),
        "name": "n",
        "role": Role.VIEWER,
        "sites": frozenset({"a"}),
        "created_at": T0,
    }
    fields.update(kw)
    return ApiToken(**fields)  # type: ignore[arg-type]


def test_verify() -> None:
    assert verify(_token(), "s3cret", T0) == Principal("abc", "n", Role.VIEWER, frozenset({"a"}))
    with pytest.raises(Unauthorized, match="unknown"):
        verify(None, "s3cret", T0)
    with pytest.raises(Unauthorized, match="unknown"):
        verify(_token(), "wrong", T0)
    with pytest.raises(Unauthorized, match="expired"):
        verify(_token(expires_at=T0), "s3cret", T0)
    assert verify(_token(expires_at=T0 + timedelta(seconds=1)), "s3cret", T0).name == "n"
    with pytest.raises(Unauthorized, match="revoked"):
        verify(_token(revoked_at=T0 - timedelta(days=1)), "s3cret", T0)


def test_principal_grants() -> None:
    viewer = Principal("t", "n", Role.VIEWER, frozenset({"a"}))
    viewer.require(Permission.STATIONS_READ, "a")
    with pytest.raises(Forbidden, match="not granted site 'b'"):
        viewer.require(Permission.STATIONS_READ, "b")
    with pytest.raises(Forbidden, match="not granted site None"):
        viewer.require(Permission.STATIONS_READ, None)
    with pytest.raises(Forbidden, match="may not commands:write"):
        viewer.require(Permission.COMMANDS, "a")
    viewer.require(Permission.STATIONS_READ, sited=False)
    admin = Principal("t", "n", Role.ADMIN, None)
    admin.require(Permission.WEBHOOKS, None)
    assert admin.covers("anything") and admin.covers(None)
    assert viewer.visible_sites(["a", "b", None]) == ["a"]
