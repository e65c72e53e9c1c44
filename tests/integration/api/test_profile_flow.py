"""The constraint-to-profile flow through the API: a grid operator's cap makes the planner
re-plan and the station on the capped feeder receives a lower limit, acknowledges it, and the
API shows the acknowledgement and the plan (real WebSocket, ocpp-library station, planner on)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call

from chargegrid.clock import WallClock
from csms.domain import IdToken
from csms.store import MemoryStore
from csms.store.base import StationRecord
from tests.integration.api.conftest import start_api
from tests.integration.csms.stations import StationScript, connect_station
from tests.waiting import wait_until

P = "/api/v1"


def tx_limits_w(script: StationScript) -> list[float]:
    """The TxProfile limits the station received, in W (3 phases at 230 V when in A)."""
    out = []
    for action, kw in script.received:
        if action != "SetChargingProfile":
            continue
        profile = kw["cs_charging_profiles"]
        if profile["charging_profile_purpose"] != "TxProfile":
            continue
        schedule = profile["charging_schedule"]
        first = float(schedule["charging_schedule_period"][0]["limit"])
        phases = schedule["charging_schedule_period"][0].get("number_phases", 3)
        out.append(first if schedule["charging_rate_unit"] == "W" else first * 230.0 * phases)
    return out


async def test_a_cap_lowers_the_limit_the_station_receives() -> None:
    store = MemoryStore()
    await store.open()
    await store.put_station(StationRecord("CP1", site_id="depot"))
    await store.put_station(StationRecord("CP2", site_id="depot"))
    await store.put_station(StationRecord("FAR", site_id="other"))
    await store.put_id_token(IdToken("APP-7"))
    clock = WallClock()
    csms, api = await start_api(store, clock, planning={"min_replan_gap_s": 0})
    script = StationScript()
    try:
        async with connect_station(api.csms.url, "CP1", script=script) as cp:
            boot = await cp.call(
                call.BootNotification(charge_point_vendor="Acme", charge_point_model="AC22")
            )
            assert boot.status == "Accepted"
            now = datetime.now(UTC).isoformat()
            await cp.call(
                call.StatusNotification(
                    connector_id=1, error_code="NoError", status="Charging", timestamp=now
                )
            )
            started = await cp.call(
                call.StartTransaction(connector_id=1, id_tag="APP-7", meter_start=0, timestamp=now)
            )
            assert started.id_tag_info["status"] == "Accepted"
            await wait_until(lambda: tx_limits_w(script), 30.0, "a TxProfile")
            before = tx_limits_w(script)[-1]
            assert before > 5_000.0
            async with api.client("grid_operator") as c:
                began = time.monotonic()
                created = await c.post(
                    f"{P}/sites/depot/constraints",
                    json={
                        "node_id": "feeder-a",
                        "kind": "cap",
                        "start": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
                        "end": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                        "max_import_w": 5_000.0,
                        "source": "dso-east",
                    },
                )
                assert created.status_code == 201, created.text
                cid = created.json()["constraint"]["id"]
                await wait_until(
                    lambda: tx_limits_w(script)[-1] <= 5_000.0, 30.0, "the lowered limit"
                )
                reached_s = time.monotonic() - began

                async def acknowledged() -> Any:
                    status = (await c.get(f"{P}/sites/depot/constraints/{cid}")).json()
                    acks = {(a["station_id"], a["evse_id"]) for a in status["acknowledged"]}
                    return status if ("CP1", 1) in acks else None

                status = await wait_until(acknowledged, 30.0, "CP1's answer to the constraint")
                plan = (await c.get(f"{P}/sites/depot/plan")).json()
        after = tx_limits_w(script)[-1]
    finally:
        await api.server.stop()
        await csms.stop()
    print(f"limit before {before:.0f} W, after {after:.0f} W, reached in {reached_s:.3f} s")
    assert after < before and after <= 5_000.0
    assert reached_s < created.json()["delivery_bound_s"]
    acks = [(a["station_id"], a["evse_id"], a["accepted"]) for a in status["acknowledged"]]
    assert ("CP1", 1, True) in acks
    assert plan["status"] in {"optimal", "fallback"}
    cp1 = next(e for e in plan["evses"] if (e["station_id"], e["evse_id"]) == ("CP1", 1))
    assert cp1["planned_w"] <= 5_000.0
    assert cp1["power_w"] and cp1["power_w"][0] <= 5_000.0
    feeder = next(n for n in plan["limits"] if n["node_id"] == "feeder-a")
    assert (feeder["max_import_w"], feeder["binding"]) == (5_000.0, [cid])
    assert plan["steps"] and plan["nodes"]
    # The cap lasts an hour: it sets feeder-a's limit in the first 15-minute steps only.
    per_step = next(n for n in plan["nodes"] if n["node_id"] == "feeder-a")["constraint_ids"]
    assert len(per_step) == len(plan["steps"])
    assert per_step[:4] == [[cid]] * 4
    assert all(ids == [] for ids in per_step[4:])
    assert all(
        ids == [] for n in plan["nodes"] if n["node_id"] == "grid" for ids in n["constraint_ids"]
    )
