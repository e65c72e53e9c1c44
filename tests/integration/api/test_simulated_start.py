"""Remote start through the API against the project's simulated stations (OCPP 1.6J and
2.0.1 over real WebSockets): the job resolves to the CSMS transaction id."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from chargegrid.clock import WallClock
from csms.domain import IdToken
from csms.events import StationBooted
from csms.store import MemoryStore
from csms.store.base import StationRecord
from simulators import ConnectorSpec, StationSpec, build_runner
from tests.integration.api.conftest import start_api
from tests.waiting import wait_until

P = "/api/v1"


@pytest.mark.parametrize(("station_id", "version"), [("CP1", "1.6"), ("CP2", "2.0.1")])
async def test_remote_start_resolves_to_the_transaction_id(station_id: str, version: str) -> None:
    store = MemoryStore()
    await store.open()
    for sid in ("CP1", "CP2"):
        await store.put_station(StationRecord(sid, site_id="depot"))
    await store.put_station(StationRecord("FAR", site_id="other"))
    await store.put_id_token(IdToken("APP-9"))
    clock = WallClock()
    csms, api = await start_api(store, clock, planning={"enabled": False})
    runner = build_runner(
        StationSpec(station_id=station_id, ocpp_version=version, connectors=(ConnectorSpec(),) * 2),
        url=api.csms.url,
        clock=clock,
        password=None,
        response_timeout_s=5.0,
    )
    booted = asyncio.Event()
    api.csms.bus.subscribe(lambda e: booted.set() if isinstance(e, StationBooted) else None)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(booted.wait(), 10)

        async def both_evses_reported() -> bool:  # the status notifications after the boot
            return {s.evse_id for s in await store.connector_statuses(station_id)} >= {1, 2}

        await wait_until(both_evses_reported, 30.0, "the station's statuses")
        async with api.client("fleet_manager") as c:
            created = await c.post(
                f"{P}/commands",
                json={
                    "command": "remote_start",
                    "station_id": station_id,
                    "id_token": "APP-9",
                    "evse_id": 2,
                },
                headers={"Idempotency-Key": f"start-{station_id}"},
            )
            assert created.status_code == 202, created.text
            job = (
                await c.get(f"{P}/jobs/{created.json()['job_id']}", params={"wait_s": 10})
            ).json()
            assert job["status"] == "succeeded", job
            tx_id = job["result"]["transaction_id"]
            tx = (await c.get(f"{P}/transactions/{tx_id}")).json()
            listed = (await c.get(f"{P}/transactions", params={"station_id": station_id})).json()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await api.server.stop()
        await csms.stop()
    assert (tx["station_id"], tx["evse_id"], tx["id_token"], tx["active"]) == (
        station_id,
        2,
        "APP-9",
        True,
    )
    assert job["result"]["station_tx_id"] == tx["station_tx_id"]
    assert [t["id"] for t in listed] == [tx_id]
