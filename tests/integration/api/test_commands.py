"""Commands as jobs: idempotency, validation, and a remote start resolving to the transaction
id against a station built with the ``ocpp`` library over a real WebSocket."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.v16 import call

from csms.api.records import AuditQuery
from csms.domain import IdToken
from csms.store.base import StationRecord
from tests.integration.api.conftest import Api
from tests.integration.csms.stations import StationScript, connect_station

P = "/api/v1"


async def boot(cp: Any) -> None:
    result = await cp.call(
        call.BootNotification(charge_point_vendor="Acme", charge_point_model="AC22")
    )
    assert result.status == "Accepted"


async def test_same_key_same_body_is_one_job(api: Api) -> None:
    body = {"command": "reset", "station_id": "CP1", "hard": True}
    async with api.client("fleet_manager") as c:
        first = await c.post(f"{P}/commands", json=body, headers={"Idempotency-Key": "k-1"})
        again = await c.post(f"{P}/commands", json=body, headers={"Idempotency-Key": "k-1"})
        other = await c.post(f"{P}/commands", json=body, headers={"Idempotency-Key": "k-2"})
        no_key = await c.post(f"{P}/commands", json=body)
    assert (first.status_code, again.status_code, other.status_code) == (202, 200, 202)
    assert again.json()["job_id"] == first.json()["job_id"]
    assert other.json()["job_id"] != first.json()["job_id"]
    assert no_key.status_code == 202
    assert first.headers["location"] == f"/api/v1/jobs/{first.json()['job_id']}"
    accepted = [
        e
        for e in await api.services.repo.list_audit(AuditQuery(action="command.reset", limit=100))
        if e.result == "accepted"
    ]
    assert len(accepted) == 3  # k-1 once, k-2, and the request without a key


async def test_same_key_other_body_is_refused(api: Api) -> None:
    async with api.client("admin") as c:
        first = await c.post(
            f"{P}/commands",
            json={"command": "reset", "station_id": "CP1"},
            headers={"Idempotency-Key": "key"},
        )
        clash = await c.post(
            f"{P}/commands",
            json={"command": "reset", "station_id": "CP1", "hard": True},
            headers={"Idempotency-Key": "key"},
        )
    assert first.status_code == 202
    assert clash.status_code == 422
    assert clash.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_keys_are_per_token(api: Api) -> None:
    body = {"command": "reset", "station_id": "CP1"}
    async with api.client("admin") as a, api.client("fleet_manager") as f:
        one = await a.post(f"{P}/commands", json=body, headers={"Idempotency-Key": "k"})
        two = await f.post(f"{P}/commands", json=body, headers={"Idempotency-Key": "k"})
    assert (one.status_code, two.status_code) == (202, 202)
    assert one.json()["job_id"] != two.json()["job_id"]


async def test_unknown_station_and_bad_body_are_422_naming_the_field(api: Api) -> None:
    async with api.client("admin") as c:
        unknown = await c.post(f"{P}/commands", json={"command": "reset", "station_id": "NOPE"})
        negative = await c.post(
            f"{P}/commands",
            json={"command": "unlock", "station_id": "CP1", "evse_id": -1},
        )
        profile = await c.post(
            f"{P}/commands",
            json={
                "command": "set_charging_profile",
                "station_id": "CP1",
                "periods": [{"start_s": 0, "limit": 16}, {"start_s": 0, "limit": 8}],
            },
        )
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "station_id"]
    assert negative.status_code == 422
    assert negative.json()["detail"][0]["loc"] == ["body", "unlock", "evse_id"]
    assert profile.status_code == 422
    assert "increasing start_s" in profile.json()["detail"][0]["msg"]


async def test_offline_station_job_fails_with_the_reason(api: Api) -> None:
    async with api.client("admin") as c:
        job = (await c.post(f"{P}/commands", json={"command": "reset", "station_id": "CP2"})).json()
        done = (await c.get(f"{P}/jobs/{job['job_id']}", params={"wait_s": 5})).json()
    assert done["status"] == "failed"
    assert done["error"] == {
        "type": "StationOffline",
        "message": "Reset to CP2: station is offline",
    }


async def test_remote_start_job_resolves_to_the_transaction_id(api: Api) -> None:
    await api.csms.store.put_id_token(IdToken("APP-7", kind="Central"))
    script = StationScript()
    holder: dict[str, Any] = {}

    def start_when_asked(kw: dict[str, Any]) -> None:
        async def go() -> None:
            await holder["cp"].call(
                call.StartTransaction(
                    connector_id=kw["connector_id"],
                    id_tag=kw["id_tag"],
                    meter_start=1000,
                    timestamp=api.clock.now().isoformat(),
                )
            )

        holder["task"] = asyncio.ensure_future(go())

    script.on_remote_start = start_when_asked
    async with connect_station(api.csms.url, "CP1", script=script) as cp:
        holder["cp"] = cp
        await boot(cp)
        async with api.client("fleet_manager") as c:
            created = await c.post(
                f"{P}/commands",
                json={
                    "command": "remote_start",
                    "station_id": "CP1",
                    "id_token": "APP-7",
                    "evse_id": 2,
                },
                headers={"Idempotency-Key": "start-1"},
            )
            assert created.status_code == 202
            assert created.json()["status"] == "pending"
            job_id = created.json()["job_id"]
            done = (await c.get(f"{P}/jobs/{job_id}", params={"wait_s": 5})).json()
            # The same request again: the same job, no second RemoteStart.
            again = await c.post(
                f"{P}/commands",
                json={
                    "command": "remote_start",
                    "station_id": "CP1",
                    "id_token": "APP-7",
                    "evse_id": 2,
                },
                headers={"Idempotency-Key": "start-1"},
            )
            station = (await c.get(f"{P}/stations/CP1")).json()
            tx_id = done["result"]["transaction_id"]
            tx = (await c.get(f"{P}/transactions/{tx_id}")).json()
    assert done["status"] == "succeeded"
    assert done["result"] == {
        "transaction_id": tx_id,
        "station_tx_id": str(tx_id),
        "evse_id": 2,
        "connector_id": 1,
    }
    assert again.status_code == 200 and again.json()["job_id"] == job_id
    # Sent once (the planner may also have sent the station its profiles).
    assert [a for a, _ in script.received].count("RemoteStartTransaction") == 1
    assert station["online"] is True and station["vendor"] == "Acme"
    assert (tx["station_id"], tx["id_token"], tx["evse_id"], tx["active"]) == (
        "CP1",
        "APP-7",
        2,
        True,
    )
    assert tx["meter_start_wh"] == 1000.0


async def test_job_listing_is_scoped_to_the_grant(api: Api) -> None:
    async with api.client("admin") as a, api.client("viewer_other") as o:
        near = await a.post(f"{P}/commands", json={"command": "reset", "station_id": "CP1"})
        far = await a.post(f"{P}/commands", json={"command": "reset", "station_id": "FAR"})
        await a.get(f"{P}/jobs/{far.json()['job_id']}", params={"wait_s": 5})
        every = [j["job_id"] for j in (await a.get(f"{P}/jobs")).json()]
        theirs = [j["job_id"] for j in (await o.get(f"{P}/jobs")).json()]
        failed = (await a.get(f"{P}/jobs", params={"status": "failed", "station_id": "FAR"})).json()
    assert set(every) == {near.json()["job_id"], far.json()["job_id"]}
    assert theirs == [far.json()["job_id"]]
    assert [j["error"]["type"] for j in failed] == ["StationOffline"]


async def test_fleet_manager_cannot_command_another_sites_station(api: Api) -> None:
    await api.csms.store.put_station(StationRecord("CP9", site_id="other"))
    async with api.client("fleet_manager") as c:
        r = await c.post(f"{P}/commands", json={"command": "reset", "station_id": "CP9"})
    assert r.status_code == 403
    assert await api.services.repo.list_audit() == []


async def test_jobs_of_an_unknown_station_are_422_but_a_removed_ones_stay_listed(
    api: Api,
) -> None:
    async with api.client("admin") as a:
        job = (await a.post(f"{P}/commands", json={"command": "reset", "station_id": "CP2"})).json()
        await a.get(f"{P}/jobs/{job['job_id']}", params={"wait_s": 5})
        assert (await a.delete(f"{P}/stations/CP2")).status_code == 204
        removed = await a.get(f"{P}/jobs", params={"station_id": "CP2"})
        unknown = await a.get(f"{P}/jobs", params={"station_id": "CP-TYPO"})
    assert [j["job_id"] for j in removed.json()] == [job["job_id"]]
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == [
        {"loc": ["query", "station_id"], "msg": "unknown station 'CP-TYPO'", "type": "value_error"}
    ]
