"""Each role against each endpoint family: 200 inside the grant, 403 outside the role or the
granted sites, 401 without a valid token (missing, malformed, unknown, expired, revoked)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from csms.api import Role, TokenService
from tests.integration.api.conftest import START, Api

P = "/api/v1"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any = None
    params: dict[str, str] | None = None
    stream: bool = False


ROLES_ALL = ("admin", "grid_operator", "fleet_manager", "viewer")

#: family -> (request, roles allowed on the site "depot"); every other role gets 403, and
#: every role granted only the site "other" gets 403 too (except where the family is global).
FAMILIES: dict[str, tuple[Call, set[str]]] = {
    "stations.read": (Call("GET", f"{P}/stations/CP1"), {"admin", "fleet_manager", "viewer"}),
    "stations.list": (
        Call("GET", f"{P}/stations", params={"site_id": "depot"}),
        {"admin", "fleet_manager", "viewer"},
    ),
    "stations.write": (
        Call("PATCH", f"{P}/stations/CP1", body={"registration": "Accepted"}),
        {"admin"},
    ),
    "stations.connectors": (
        Call("GET", f"{P}/stations/CP1/connectors"),
        {"admin", "fleet_manager", "viewer"},
    ),
    "stations.meter": (
        Call("GET", f"{P}/stations/CP1/meter"),
        {"admin", "fleet_manager", "viewer"},
    ),
    "id_tokens.read": (Call("GET", f"{P}/id-tokens"), {"admin"}),
    "id_tokens.write": (
        Call("PUT", f"{P}/id-tokens/TAG-1", body={"status": "Accepted"}),
        {"admin"},
    ),
    "transactions": (
        Call("GET", f"{P}/transactions", params={"site_id": "depot"}),
        {"admin", "fleet_manager", "viewer"},
    ),
    "transactions.csv": (
        Call("GET", f"{P}/transactions.csv", params={"site_id": "depot"}),
        {"admin", "fleet_manager", "viewer"},
    ),
    "commands": (
        Call("POST", f"{P}/commands", body={"command": "reset", "station_id": "CP1"}),
        {"admin", "fleet_manager"},
    ),
    "events": (
        Call("GET", f"{P}/events", params={"site_id": "depot"}, stream=True),
        {"admin", "grid_operator", "fleet_manager", "viewer"},
    ),
    "webhooks": (Call("GET", f"{P}/webhooks"), {"admin"}),
    "jobs.list": (
        Call("GET", f"{P}/jobs", params={"station_id": "CP1"}),
        {"admin", "fleet_manager", "viewer"},
    ),
    "audit": (
        Call("GET", f"{P}/audit", params={"site_id": "depot"}),
        {"admin", "grid_operator", "fleet_manager"},
    ),
    "sites.read": (Call("GET", f"{P}/sites/depot"), set(ROLES_ALL)),
    "sites.create": (
        Call("PUT", f"{P}/sites/depot", body={"id": "depot", "nodes": [{"id": "grid"}]}),
        {"admin"},
    ),
    "sites.limit_tree": (
        Call(
            "PUT",
            f"{P}/sites/depot/nodes/feeder-a",
            body={"id": "feeder-a", "parent": "grid", "kind": "feeder", "max_import_w": 45000},
        ),
        {"admin", "grid_operator"},
    ),
    "sites.limits": (Call("GET", f"{P}/sites/depot/limits"), set(ROLES_ALL)),
    "sites.power": (Call("GET", f"{P}/sites/depot/power"), set(ROLES_ALL)),
    "constraints.read": (Call("GET", f"{P}/sites/depot/constraints"), set(ROLES_ALL)),
    "constraints.write": (
        Call(
            "POST",
            f"{P}/sites/depot/constraints",
            body={
                "node_id": "grid",
                "start": "2026-03-02T06:00:00Z",
                "end": "2026-03-02T08:00:00Z",
                "max_import_w": 60000,
            },
        ),
        {"admin", "grid_operator"},
    ),
    "plans": (Call("GET", f"{P}/sites/depot/plan"), set(ROLES_ALL)),
    "tariffs.read": (Call("GET", f"{P}/sites/depot/tariff"), set(ROLES_ALL)),
    "tariffs.write": (
        Call("PUT", f"{P}/sites/depot/tariff", body={"currency": "EUR"}),
        {"admin"},
    ),
    "stations.register": (
        Call("POST", f"{P}/stations", body={"station_id": "NEW-1", "site_id": "depot"}),
        {"admin"},
    ),
    "webhooks.create": (
        Call("POST", f"{P}/webhooks", body={"url": "http://127.0.0.1:9/hook"}),
        {"admin"},
    ),
    "readings": (
        Call(
            "POST",
            f"{P}/sites/depot/readings",
            body={"pv": [{"pv_id": "roof", "power_w": 5000}]},
        ),
        {"admin", "grid_operator"},
    ),
    "me": (Call("GET", f"{P}/me"), set(ROLES_ALL)),
    "metrics": (Call("GET", "/metrics"), set(ROLES_ALL)),
}

#: families that have no site: a role that may use them may from any grant
GLOBAL = {
    "id_tokens.read",
    "id_tokens.write",
    "webhooks",
    "webhooks.create",
    "jobs.list",
    "me",
    "metrics",
}

ROLES = ["admin", "grid_operator", "fleet_manager", "viewer"]


async def send(client: httpx.AsyncClient, call: Call) -> int:
    if call.stream:
        async with client.stream(call.method, call.path, params=call.params) as response:
            return response.status_code
    response = await client.request(call.method, call.path, json=call.body, params=call.params)
    return response.status_code


def ok_status(call: Call) -> int:
    if call.path.endswith(("/commands", "/readings")):
        return 202
    return 201 if call.method == "POST" else 200


@pytest.mark.parametrize("family", sorted(FAMILIES))
async def test_role_matrix(api: Api, family: str) -> None:
    call, allowed = FAMILIES[family]
    got = {}
    for role in ROLES:
        async with api.client(role) as client:
            got[role] = await send(client, call)
        if role != "admin":
            async with api.client(f"{role}_other") as client:
                got[f"{role}_other"] = await send(client, call)
    expected = {}
    for role in ROLES:
        expected[role] = ok_status(call) if role in allowed else 403
        if role != "admin":
            inside = role in allowed and family in GLOBAL
            expected[f"{role}_other"] = ok_status(call) if inside else 403
    assert got == expected


@pytest.mark.parametrize("family", sorted(FAMILIES))
async def test_401_without_a_valid_token(api: Api, family: str) -> None:
    call, _ = FAMILIES[family]
    tokens = TokenService(api.services.repo, now=api.clock.now)
    _, expired = await tokens.create(
        role=Role.ADMIN, name="short", expires_at=START + timedelta(seconds=10)
    )
    revoked_record, revoked = await tokens.create(role=Role.ADMIN, name="gone")
    await tokens.revoke(revoked_record.token_id)
    api.clock.advance(11)
    admin_id = api.token_ids["admin"]
    presented = {
        "missing": None,
        "malformed": "not-a-token",
        "unknown": "cgk_000000000000_secret",
        "wrong secret": f"cgk_{admin_id}_wrong",
        "expired": expired,
        "revoked": revoked,
    }
    got = {}
    for case, token in presented.items():
        async with api.client(token=token) as client:
            if call.stream:
                async with client.stream(call.method, call.path, params=call.params) as r:
                    got[case] = (r.status_code, r.headers.get("www-authenticate"))
            else:
                r = await client.request(call.method, call.path, json=call.body, params=call.params)
                got[case] = (r.status_code, r.headers.get("www-authenticate"))
    assert got == {case: (401, "Bearer") for case in presented}


async def test_listings_show_only_granted_sites(api: Api) -> None:
    async with api.client("viewer") as c:
        ids = [s["station_id"] for s in (await c.get(f"{P}/stations")).json()]
    assert ids == ["CP1", "CP2"]
    async with api.client("viewer_other") as c:
        ids = [s["station_id"] for s in (await c.get(f"{P}/stations")).json()]
        outside = await c.get(f"{P}/stations", params={"site_id": "depot"})
    assert ids == ["FAR"]
    assert outside.status_code == 403
    assert outside.json() == {"detail": "token not granted site 'depot'"}


async def test_me_reports_role_and_grant(api: Api) -> None:
    async with api.client("fleet_manager") as c:
        body = (await c.get(f"{P}/me")).json()
    assert body == {
        "token_id": api.token_ids["fleet_manager"],
        "name": "fleet_manager",
        "role": "fleet_manager",
        "sites": ["depot"],
        "permissions": [
            "audit:read",
            "commands:write",
            "constraints:read",
            "der:read",
            "events:read",
            "jobs:read",
            "plans:read",
            "sites:read",
            "stations:read",
            "tariffs:read",
            "transactions:read",
        ],
        "now": "2026-03-02T06:00:00Z",
    }


async def test_unknown_query_parameters_are_422(api: Api) -> None:
    async with api.client("admin") as c:
        typo = await c.get(f"{P}/transactions", params={"staton_id": "CP1"})
        none_taken = await c.get(f"{P}/me", params={"x": "1"})
        fine = await c.get(f"{P}/transactions", params={"station_id": "CP1", "limit": 5})
    assert typo.status_code == 422
    assert typo.json()["detail"][0]["loc"] == ["query", "staton_id"]
    assert none_taken.status_code == 422
    assert fine.status_code == 200


async def test_grid_operator_sees_no_drivers_tokens_in_sites_or_audit(api: Api) -> None:
    async with api.client("admin") as a:
        site = (await a.get(f"{P}/sites/depot")).json()
        fleet = {"id": "vans", "id_tokens": ["VAN-TAG-1"], "token_prefix": "VANPFX", "group": "G7"}
        first = await a.put(f"{P}/sites/depot", json={**site, "fleets": [fleet]})
        changed = {**fleet, "id_tokens": ["VAN-TAG-1", "VAN-TAG-2"], "energy_wh": 30000}
        second = await a.put(f"{P}/sites/depot", json={**site, "fleets": [changed]})
        admin_view = (await a.get(f"{P}/sites/depot")).json()
    async with api.client("grid_operator") as g:
        one = await g.get(f"{P}/sites/depot")
        listed = await g.get(f"{P}/sites")
        audit = await g.get(f"{P}/audit", params={"action": "site.apply"})
    async with api.client("fleet_manager") as f:
        fleet_view = (await f.get(f"{P}/sites/depot")).json()
    assert (first.status_code, second.status_code) == (200, 200)
    assert admin_view["fleets"][0]["id_tokens"] == ["VAN-TAG-1", "VAN-TAG-2"]
    assert fleet_view["fleets"][0]["token_prefix"] == "VANPFX"
    assert (one.status_code, listed.status_code, audit.status_code) == (200, 200, 200)
    grid_fleet = one.json()["fleets"][0]
    # the fleet's session needs stay visible; what matches drivers to it does not
    assert (grid_fleet["id"], grid_fleet["energy_wh"]) == ("vans", 30000.0)
    assert (grid_fleet["id_tokens"], grid_fleet["token_prefix"], grid_fleet["group"]) == (
        [],
        None,
        None,
    )
    changes = [c for e in audit.json() for c in e["detail"]["changes"]]
    assert "~ fleets vans" in changes and "+ fleets vans" in changes
    for text in (one.text, listed.text, audit.text):
        assert "VAN-TAG" not in text and "VANPFX" not in text and "G7" not in text
