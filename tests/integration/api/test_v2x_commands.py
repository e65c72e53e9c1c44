"""OCPP 2.1 V2X commands through the HTTP API to a library 2.1 station over a real WebSocket:
a V2X schedule with a negative CentralSetpoint, the allowed energy transfer, roles, audit,
and bad bodies refused with 422 before anything reaches the station (decision 0909)."""

from __future__ import annotations

import json
from typing import Any

from ocpp.v21 import call
from ocpp.v201 import call as call_201

from csms.api.records import AuditQuery
from csms.store.base import NewTransaction
from tests.integration.api.conftest import Api
from tests.integration.csms.stations import StationScript, connect_station

P = "/api/v1"

V2X_BODY: dict[str, Any] = {
    "command": "set_v2x_profile",
    "station_id": "CP1",
    "evse_id": 1,
    "profile_id": 301,
    "duration_s": 1800,
    "periods": [
        {"start_s": 0, "mode": "CentralSetpoint", "setpoint_w": -5000, "discharge_limit_w": -7000},
        {"start_s": 900, "mode": "ChargingOnly", "limit_w": 11000},
    ],
}


async def _boot(cp: Any) -> None:
    result = await cp.call(
        call.BootNotification(
            charging_station={"vendor_name": "Acme", "model": "BPT-11"}, reason="PowerUp"
        )
    )
    assert result.status == "Accepted"


async def _done(c: Any, created: Any) -> dict[str, Any]:
    assert created.status_code == 202, created.text
    job = (await c.get(f"{P}/jobs/{created.json()['job_id']}", params={"wait_s": 5})).json()
    assert isinstance(job, dict)
    return job


async def test_a_v2x_schedule_and_the_allowed_transfer_reach_a_21_station(api: Api) -> None:
    script = StationScript()
    async with connect_station(api.csms.url, "CP1", version="2.1", script=script) as cp:
        await _boot(cp)
        tx, _ = await api.csms.store.open_transaction(
            NewTransaction("CP1", 1, 1, api.clock.now(), station_tx_id="tx-21")
        )
        async with api.client("fleet_manager") as c:
            profile = await _done(
                c, await c.post(f"{P}/commands", json={**V2X_BODY, "transaction_id": tx.id})
            )
            allowed = await _done(
                c,
                await c.post(
                    f"{P}/commands",
                    json={
                        "command": "notify_allowed_energy_transfer",
                        "station_id": "CP1",
                        "transaction_id": tx.id,
                        "modes": ["AC_three_phase", "AC_BPT"],
                    },
                ),
            )
    assert profile["status"] == "succeeded" and allowed["status"] == "succeeded"
    sent = dict(script.received)  # the planner may send its own profiles too: ours is 301
    (ours,) = [
        kw["charging_profile"]
        for action, kw in script.received
        if action == "SetChargingProfile" and kw["charging_profile"]["id"] == 301
    ]
    periods = ours["charging_schedule"][0]["charging_schedule_period"]
    assert periods[0]["operation_mode"] == "CentralSetpoint"
    assert periods[0]["setpoint"] == -5000 and periods[0]["discharge_limit"] == -7000
    assert periods[1] == {"start_period": 900, "operation_mode": "ChargingOnly", "limit": 11000}
    assert ours["transaction_id"] == "tx-21"
    assert sent["NotifyAllowedEnergyTransfer"] == {
        "transaction_id": "tx-21",
        "allowed_energy_transfer": ["AC_three_phase", "AC_BPT"],
    }
    audit = await api.services.repo.list_audit(
        AuditQuery(action="command.set_v2x_profile", limit=10)
    )
    assert sorted(e.result for e in audit) == ["accepted", "succeeded"]


async def test_bad_v2x_bodies_are_422_and_nothing_reaches_the_station(api: Api) -> None:
    script = StationScript()
    bad_periods = [
        {"start_s": 0, "mode": "CentralSetpoint"},  # no setpoint
        {"start_s": 0, "mode": "Idle", "discharge_limit_w": 500},  # a discharge limit > 0
        {"start_s": 0, "mode": "Discharge", "setpoint_w": -1},  # not a 2.1 operation mode
        {"start_s": 0, "mode": "CentralSetpoint", "setpoint_w": -2e7},  # beyond any rating
    ]
    async with connect_station(api.csms.url, "CP1", version="2.1", script=script) as cp:
        await _boot(cp)
        async with api.client("admin") as c:
            answers = [
                await c.post(f"{P}/commands", json={**V2X_BODY, "periods": [period]})
                for period in bad_periods
            ]
            text = json.dumps(V2X_BODY).replace("-5000", "NaN")
            answers.append(
                await c.post(
                    f"{P}/commands", content=text, headers={"content-type": "application/json"}
                )
            )
            answers.append(
                await c.post(
                    f"{P}/commands",
                    json={
                        "command": "notify_allowed_energy_transfer",
                        "station_id": "CP1",
                        "transaction_id": 1,
                        "modes": ["V2G"],
                    },
                )
            )
        async with api.client("viewer") as v:
            forbidden = await v.post(f"{P}/commands", json=V2X_BODY)
    assert [a.status_code for a in answers] == [422] * 6, [a.text for a in answers]
    assert forbidden.status_code == 403
    assert not [
        kw
        for action, kw in script.received
        if action == "NotifyAllowedEnergyTransfer"
        or (action == "SetChargingProfile" and kw["charging_profile"]["id"] == 301)
    ]


async def test_a_v2x_schedule_to_a_201_station_fails_naming_the_version(api: Api) -> None:
    async with connect_station(api.csms.url, "CP1", version="2.0.1") as cp:
        result = await cp.call(
            call_201.BootNotification(
                charging_station={"vendor_name": "Acme", "model": "AC22"}, reason="PowerUp"
            )
        )
        assert result.status == "Accepted"
        async with api.client("admin") as c:
            job = await _done(c, await c.post(f"{P}/commands", json=V2X_BODY))
    assert job["status"] == "failed"
    assert "OCPP 2.1" in job["error"]["message"]
