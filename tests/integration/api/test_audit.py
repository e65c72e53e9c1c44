"""The audit log: every constraint change and command, who/what/when/result; listable,
scoped to the caller's sites, and not editable through the API."""

from __future__ import annotations

from tests.integration.api.conftest import Api

P = "/api/v1"

CAP = {
    "node_id": "grid",
    "start": "2026-03-02T06:00:00Z",
    "end": "2026-03-02T07:00:00Z",
    "max_import_w": 50000,
}


async def test_constraint_changes_and_commands_are_audited(api: Api) -> None:
    async with api.client("grid_operator") as g, api.client("fleet_manager") as f:
        cid = (await g.post(f"{P}/sites/depot/constraints", json=CAP)).json()["constraint"]["id"]
        await g.delete(f"{P}/sites/depot/constraints/{cid}")
        job = (await f.post(f"{P}/commands", json={"command": "reset", "station_id": "CP1"})).json()
        await f.get(f"{P}/jobs/{job['job_id']}", params={"wait_s": 5})
        entries = (await f.get(f"{P}/audit")).json()
    assert [(e["action"], e["result"], e["actor"], e["role"], e["target"]) for e in entries] == [
        ("command.reset", "failed", "fleet_manager", "fleet_manager", job["job_id"]),
        ("command.reset", "accepted", "fleet_manager", "fleet_manager", job["job_id"]),
        ("constraint.cancel", "ok", "grid_operator", "grid_operator", cid),
        ("constraint.create", "ok", "grid_operator", "grid_operator", cid),
    ]
    assert entries[3]["request"]["max_import_w"] == 50000.0
    assert entries[3]["site_id"] == "depot"
    assert entries[0]["detail"]["type"] == "StationOffline"
    assert entries[0]["at"] == "2026-03-02T06:00:00Z"
    assert [e["id"] for e in entries] == [4, 3, 2, 1]


async def test_audit_is_scoped_and_filterable(api: Api) -> None:
    async with api.client("admin") as a, api.client("grid_operator_other") as other:
        await a.post(f"{P}/sites/depot/constraints", json=CAP)
        await a.post(f"{P}/sites/other/constraints", json=CAP)
        await a.post(f"{P}/commands", json={"command": "reset", "station_id": "FAR"})
        mine = (await other.get(f"{P}/audit")).json()
        only = (await a.get(f"{P}/audit", params={"action": "constraint.create"})).json()
        bad = await a.get(
            f"{P}/audit", params={"since": "2026-03-02T07:00:00Z", "until": "2026-03-02T06:00:00Z"}
        )
    assert {e["site_id"] for e in mine} == {"other"}
    # commands (which carry drivers' tokens) are not shown to grid operators
    assert {e["action"] for e in mine} == {"constraint.create"}
    assert [e["site_id"] for e in only] == ["other", "depot"]
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "until"]


async def test_nobody_can_edit_the_audit_log(api: Api) -> None:
    async with api.client("admin") as a:
        await a.post(f"{P}/sites/depot/constraints", json=CAP)
        answers = [
            (await a.request(method, f"{P}/audit", json={"id": 1})).status_code
            for method in ("POST", "PUT", "PATCH", "DELETE")
        ]
        by_id = [
            (await a.request(method, f"{P}/audit/1")).status_code
            for method in ("GET", "PUT", "PATCH", "DELETE")
        ]
        entries = (await a.get(f"{P}/audit")).json()
    assert answers == [405, 405, 405, 405]
    assert by_id == [404, 404, 404, 404]
    assert len(entries) == 1
    paths = api.server.app.openapi()["paths"]
    assert {path: sorted(ops) for path, ops in paths.items() if "audit" in path} == {
        "/api/v1/audit": ["get"]
    }


async def test_viewer_cannot_read_the_audit_log(api: Api) -> None:
    async with api.client("viewer") as v:
        r = await v.get(f"{P}/audit")
    assert r.status_code == 403


async def test_admin_changes_are_audited_without_secrets(api: Api) -> None:
    async with api.client("admin") as a:
        await a.post(
            f"{P}/stations",
            json={"station_id": "NEW1", "site_id": "depot", "password": "0123456789abcdef"},
        )
        await a.patch(f"{P}/stations/NEW1", json={"password": "fedcba9876543210"})
        await a.delete(f"{P}/stations/NEW1")
        await a.put(f"{P}/id-tokens/TAG-9", json={"status": "Blocked"})
        await a.delete(f"{P}/id-tokens/TAG-9")
        hook = (
            await a.post(f"{P}/webhooks", json={"url": "http://127.0.0.1:9/x", "secret": "s" * 20})
        ).json()
        await a.delete(f"{P}/webhooks/{hook['webhook_id']}")
        entries = (await a.get(f"{P}/audit")).json()
    assert [e["action"] for e in reversed(entries)] == [
        "station.register",
        "station.update",
        "station.remove",
        "id_token.put",
        "id_token.delete",
        "webhook.create",
        "webhook.delete",
    ]
    text = str(entries)
    assert "0123456789abcdef" not in text and "fedcba9876543210" not in text
    assert "s" * 20 not in text
    assert entries[-1]["request"] == {
        "station_id": "NEW1",
        "site_id": "depot",
        "registration": "Accepted",
        "security_profile": None,
    }
    assert entries[-2]["request"] == {"password": "changed"}
