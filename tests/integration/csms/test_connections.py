"""Handshake, authentication, unknown-station policies, replacement, health check."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.domain import RegistrationStatus
from csms.events import DomainEvent, StationConnected, StationDisconnected
from csms.store import MemoryStore, Store
from csms.store.base import StationRecord
from tests.integration.csms.conftest import PASSWORD, PASSWORD_HASH, make_settings
from tests.integration.csms.stations import connect_station, raw_connect
from tests.waiting import wait_until

BOOT16 = {"chargePointVendor": "Acme", "chargePointModel": "AC22"}


async def refused_status(url: str, station_id: str, **kw: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with raw_connect(url, station_id, **kw):
            pass
    return info.value.response.status_code


async def test_password_required_and_checked(csms: Csms) -> None:
    assert await refused_status(csms.url, "CP16") == 401
    assert await refused_status(csms.url, "CP16", password="wrong") == 401
    async with raw_connect(csms.url, "CP16", password=PASSWORD) as ws:
        assert ws.subprotocol == "ocpp1.6"
        await wait_until(lambda: csms.server.link("CP16") is not None, 10.0, "connected")
        # The handshake's headers (the password among them) are not kept with the connection.
        link = csms.server.link("CP16")
        assert link is not None
        assert dict(link._connection.request.headers) == {}
        assert link._connection.request.path == "/ocpp/CP16"


async def test_unknown_station_rejected_by_default(csms: Csms) -> None:
    assert await refused_status(csms.url, "STRANGER") == 401
    assert await refused_status(csms.url, "STRANGER", password="x") == 401


async def test_subprotocol_negotiation(csms: Csms) -> None:
    async with raw_connect(csms.url, "CP201", version="2.0.1", password=PASSWORD) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
    # Offering both picks 2.0.1.
    headers = {"Authorization": "Basic Q1AxNjpzM2NyZXQtcGFzcw=="}
    async with connect(
        csms.url + "CP16",
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers=headers,
    ) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
    # The newest one offered wins: 2.1 over 2.0.1 and 1.6.
    async with connect(
        csms.url + "CP16",
        subprotocols=["ocpp1.6", "ocpp2.0.1", "ocpp2.1"],  # type: ignore[list-item]
        additional_headers=headers,
    ) as ws:
        assert ws.subprotocol == "ocpp2.1"
    for offered in (["ocpp1.5"], ["ocpp2.2"], None):
        with pytest.raises(InvalidStatus) as info:
            async with connect(
                csms.url + "CP16",
                subprotocols=offered,  # type: ignore[arg-type]
                additional_headers=headers,
            ):
                pass
        assert info.value.response.status_code == 400


async def test_wrong_path_and_health(csms: Csms) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{csms.port}/elsewhere/CP16", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            pass
    assert info.value.response.status_code == 404

    def get() -> tuple[int, bytes]:
        with urllib.request.urlopen(f"http://127.0.0.1:{csms.port}/health", timeout=2) as r:
            return r.status, r.read()

    assert await asyncio.to_thread(get) == (200, b"ok\n")


async def test_second_connection_replaces_the_first(csms: Csms, store: Store) -> None:
    events: list[DomainEvent] = []
    csms.bus.subscribe(events.append)
    async with raw_connect(csms.url, "CP16", password=PASSWORD) as first:
        await first.send(json.dumps([2, "b", "BootNotification", BOOT16]))
        await first.recv()
        async with connect_station(csms.url, "CP16", password=PASSWORD) as second:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(first.recv(), 2)
            assert first.close_code == 1000
            assert first.close_reason == "replaced by a new connection"
            hb = await second.call(call.Heartbeat())
            assert hb.current_time
            assert (await csms.commands.clear_cache("CP16")).status == "Accepted"
            record = await store.get_station("CP16")
            assert record is not None and record.connected

    async def disconnected() -> bool:
        record = await store.get_station("CP16")
        return record is not None and not record.connected

    await wait_until(disconnected, 30, "the disconnection recorded")
    kinds = [
        type(e).__name__ for e in events if isinstance(e, StationConnected | StationDisconnected)
    ]
    assert kinds == ["StationConnected", "StationConnected", "StationDisconnected"]


async def test_reconnect_keeps_transactions(csms: Csms, store: Store) -> None:
    async with connect_station(csms.url, "CP16", password=PASSWORD) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="A", charge_point_model="B"))
        start = await cp.call(
            call.StartTransaction(
                connector_id=1, id_tag="T", meter_start=0, timestamp="2026-03-02T06:00:00Z"
            )
        )
    async with connect_station(csms.url, "CP16", password=PASSWORD) as cp:
        # No new BootNotification after a reconnect: the station is still accepted.
        await cp.call(
            call.StopTransaction(
                meter_stop=500,
                timestamp="2026-03-02T07:00:00Z",
                transaction_id=start.transaction_id,
            )
        )
    tx = await store.get_transaction(start.transaction_id)
    assert tx is not None and tx.meter_stop_wh == 500.0


@pytest.mark.parametrize("policy", ["pending", "accept"])
async def test_unknown_station_policies(policy: str, clock: ManualClock, store: Store) -> None:
    async with (
        Csms(make_settings(unknown_stations=policy), clock=clock, store=store) as app,
        connect_station(app.url, "NEWBIE") as cp,
    ):
        boot = await cp.call(call.BootNotification(charge_point_vendor="A", charge_point_model="B"))
        record = await store.get_station("NEWBIE")
        assert record is not None and record.vendor == "A"
        if policy == "accept":
            assert (boot.status, boot.interval) == ("Accepted", 300)
            await cp.call(call.Heartbeat())
            return
        assert (boot.status, boot.interval) == ("Pending", 60)
        assert record.registration is RegistrationStatus.PENDING
        # The operator accepts; the station's next boot is accepted.
        import dataclasses

        await store.put_station(
            dataclasses.replace(record, registration=RegistrationStatus.ACCEPTED)
        )
        again = await cp.call(
            call.BootNotification(charge_point_vendor="A", charge_point_model="B")
        )
        assert again.status == "Accepted"
        await cp.call(call.Heartbeat())


async def test_station_without_password_connects_without_auth(csms: Csms) -> None:
    from csms.store.base import StationRecord

    await csms.store.put_station(StationRecord("OPEN"))
    async with connect_station(csms.url, "OPEN") as cp:
        boot = await cp.call(call.BootNotification(charge_point_vendor="A", charge_point_model="B"))
        assert boot.status == "Accepted"


async def test_handshakes_beyond_the_limit_are_answered_busy_at_once(
    store: Store, clock: ManualClock
) -> None:
    async with Csms(make_settings(max_pending_handshakes=1), clock=clock, store=store) as app:
        held = asyncio.Event()
        entered = asyncio.Event()
        real = app.central.admission

        async def slow_admission(station_id: str, password: str | None, **kw: Any) -> Any:
            entered.set()
            await held.wait()
            return await real(station_id, password, **kw)

        app.central.admission = slow_admission  # type: ignore[method-assign]

        async def first() -> str:
            async with raw_connect(app.url, "CP16", password=PASSWORD) as ws:
                return str(ws.subprotocol)

        task = asyncio.create_task(first())
        await entered.wait()  # the first handshake holds the only slot
        with pytest.raises(InvalidStatus) as info:
            async with raw_connect(app.url, "CP201", version="2.0.1", password=PASSWORD):
                pass
        response = info.value.response
        assert response.status_code == 503
        assert 1 <= int(response.headers["Retry-After"]) <= 10
        assert app.server.refused_busy == 1
        held.set()
        assert await task == "ocpp1.6"
        assert app.server.pending_handshakes == 0
        # The slot is free again: the refused station gets in.
        async with raw_connect(app.url, "CP201", version="2.0.1", password=PASSWORD) as ws:
            assert ws.subprotocol == "ocpp2.0.1"


class _StatusNeverStored(MemoryStore):
    """A store whose StatusNotification write never completes (a held answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.release = asyncio.Event()  # only so that a failing test does not hang

    async def record_status(self, report: Any) -> None:
        self.waiting.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def test_a_held_answer_ends_with_the_connection(clock: ManualClock) -> None:
    store = _StatusNeverStored()
    await store.put_station(StationRecord("CP16", password_hash=PASSWORD_HASH))
    events: list[DomainEvent] = []
    async with Csms(make_settings(), clock=clock, store=store) as app:
        app.bus.subscribe(events.append)
        async with raw_connect(app.url, "CP16", password=PASSWORD) as ws:
            await ws.send(json.dumps([2, "b", "BootNotification", BOOT16]))
            assert json.loads(await ws.recv())[0] == 3
            status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
            await ws.send(json.dumps([2, "s", "StatusNotification", status]))
            await asyncio.wait_for(store.waiting.wait(), 10)
        # The station went away while its answer was held: the handler is cut, the
        # connection forgotten and its disconnection recorded, once.
        try:
            await asyncio.wait_for(store.cancelled.wait(), 10)
        finally:
            store.release.set()
        await wait_until(lambda: app.server.link("CP16") is None, 10, "connection forgotten")
        await wait_until(
            lambda: any(isinstance(e, StationDisconnected) for e in events), 10, "disconnected"
        )
        record = await store.get_station("CP16")
        assert record is not None and not record.connected
        # The server still serves: the station comes back.
        async with raw_connect(app.url, "CP16", password=PASSWORD) as again:
            await again.send(json.dumps([2, "b2", "BootNotification", BOOT16]))
            assert json.loads(await again.recv())[0] == 3
    assert sum(isinstance(e, StationDisconnected) for e in events) == 2
