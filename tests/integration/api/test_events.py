"""The SSE event stream (filtered by site and station, slow clients dropped) and webhook
delivery with retries and HMAC signatures."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from csms.api.webhooks import verify_signature
from csms.domain import ConnectorStatus, StatusReport
from csms.events import StatusChanged
from tests.integration.api.conftest import START, Api, start_api
from tests.integration.api.receiver import Receiver
from tests.waiting import wait_until

P = "/api/v1"


def status(
    station_id: str, minute: int, value: ConnectorStatus = ConnectorStatus.CHARGING
) -> StatusChanged:
    return StatusChanged(StatusReport(station_id, 1, 1, value, START + timedelta(minutes=minute)))


class Lines:
    """One line iterator per streaming response."""

    def __init__(self, response: httpx.Response) -> None:
        self.it = response.aiter_lines()

    def __aiter__(self) -> Lines:
        return self

    async def __anext__(self) -> str:
        return await self.it.__anext__()


async def read_events(response: Lines, count: int) -> list[dict[str, Any]]:
    """The next ``count`` SSE events (type + JSON data) from a streaming response."""
    events: list[dict[str, Any]] = []
    kind = None
    async for line in response:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append({"event": kind, **json.loads(line[6:])})
            if len(events) == count:
                return events
    return events


async def opened(response: httpx.Response) -> Lines:
    """Wait for the comment the server sends once the subscription exists."""
    lines = Lines(response)
    async for line in lines:
        if line == ": connected":
            break
    return lines


async def _deliveries(c: httpx.AsyncClient, hook: dict[str, Any], state: str) -> Any:
    """The webhook's deliveries once the first is in ``state`` (None before)."""
    deliveries = (await c.get(f"{P}/webhooks/{hook['webhook_id']}/deliveries")).json()
    return deliveries if deliveries and deliveries[0]["status"] == state else None


async def test_stream_filters_by_station_and_grant(api: Api) -> None:
    async with (
        api.client("admin") as admin,
        api.client("viewer_other") as other,
        admin.stream("GET", f"{P}/events", params={"station_id": "CP2"}) as a,
        other.stream("GET", f"{P}/events") as o,
    ):
        assert a.headers["content-type"].startswith("text/event-stream")
        a_lines = await opened(a)
        o_lines = await opened(o)
        for event in (status("CP1", 1), status("CP2", 2), status("FAR", 3), status("CP2", 4)):
            api.csms.bus.publish(event)
        got_admin = await asyncio.wait_for(read_events(a_lines, 2), 5)
        got_other = await asyncio.wait_for(read_events(o_lines, 1), 5)
    assert [(e["event"], e["station_id"], e["site_id"], e["at"]) for e in got_admin] == [
        ("station.status", "CP2", "depot", "2026-03-02T06:02:00+00:00"),
        ("station.status", "CP2", "depot", "2026-03-02T06:04:00+00:00"),
    ]
    assert got_admin[0]["data"]["status"] == "Charging"
    assert [(e["station_id"], e["site_id"]) for e in got_other] == [("FAR", "other")]


async def test_grid_operator_gets_no_driver_events(api: Api) -> None:
    from csms.domain import Transaction
    from csms.events import DepartureMissed, TransactionStarted

    tx = Transaction(7, "CP1", "7", 1, 1, "DRIVER-TAG", START)
    missed = DepartureMissed("depot", "CP1", 1, 7, 4_000.0, START)
    async with (
        api.client("grid_operator") as c,
        api.client("fleet_manager") as f,
        c.stream("GET", f"{P}/events") as r,
        f.stream("GET", f"{P}/events") as fr,
    ):
        lines = await opened(r)
        fleet_lines = await opened(fr)
        api.csms.bus.publish(TransactionStarted(tx))
        # a driver's session that left short of its energy is the fleet's business
        api.csms.bus.publish(missed)
        api.csms.bus.publish(status("CP1", 5))
        got = await asyncio.wait_for(read_events(lines, 1), 5)
        fleet_got = await asyncio.wait_for(read_events(fleet_lines, 3), 5)
    assert [e["event"] for e in got] == ["station.status"]
    assert [e["event"] for e in fleet_got] == [
        "transaction.started",
        "departure.missed",
        "station.status",
    ]


async def test_slow_client_is_dropped_without_blocking_the_bus(store: Any, clock: Any) -> None:
    csms, api = await start_api(store, clock, stream_queue_events=5)
    try:
        async with api.client("admin") as c, c.stream("GET", f"{P}/events") as r:
            lines = await opened(r)
            # Publish far more than the queue holds without yielding to the loop.
            for minute in range(1000):
                api.csms.bus.publish(status("CP1", minute))
            assert api.services.hub.subscriptions == 0
            assert api.services.hub.dropped_total == 1
            got = await asyncio.wait_for(read_events(lines, 100), 5)
        assert [e["event"] for e in got] == ["station.status"] * 5 + ["dropped"]
    finally:
        await api.server.stop()
        await csms.stop()


async def test_stream_ends_after_stream_max_s(store: Any, clock: Any) -> None:
    csms, api = await start_api(store, clock, stream_max_s=0.3)
    try:
        async with api.client("viewer") as c:
            r = await asyncio.wait_for(c.get(f"{P}/events"), 5)
        assert r.status_code == 200
        assert r.text.startswith(": connected")
    finally:
        await api.server.stop()
        await csms.stop()


async def test_webhook_is_signed_and_retried_until_delivered(api: Api) -> None:
    async with Receiver([500, 503, 200]) as receiver, api.client("admin") as c:
        created = await c.post(
            f"{P}/webhooks",
            json={
                "url": receiver.url,
                "event_types": ["station.*"],
                "site_id": "depot",
                "secret": "0123456789abcdef-secret",
            },
        )
        assert created.status_code == 201
        hook = created.json()
        assert hook["secret"] == "0123456789abcdef-secret"
        api.csms.bus.publish(status("FAR", 1))  # other site: not delivered
        api.csms.bus.publish(status("CP1", 2))
        deliveries = await wait_until(
            lambda: _deliveries(c, hook, "delivered"), 30.0, "the delivery"
        )
        listed = (await c.get(f"{P}/webhooks")).json()
    assert len(receiver.received) == 3
    assert len(deliveries) == 1
    d = deliveries[0]
    assert (d["status"], d["attempts"], d["last_status_code"], d["event_type"]) == (
        "delivered",
        3,
        200,
        "station.status",
    )
    assert d["last_error"] is None
    ids = {r.headers["x-chargegrid-delivery"] for r in receiver.received}
    assert ids == {d["delivery_id"]}
    for got in receiver.received:
        ts = int(got.headers["x-chargegrid-timestamp"])
        assert verify_signature(
            "0123456789abcdef-secret", ts, got.body, got.headers["x-chargegrid-signature"]
        )
        assert not verify_signature(
            "another-secret-0000", ts, got.body, got.headers["x-chargegrid-signature"]
        )
        assert json.loads(got.body)["station_id"] == "CP1"
    assert [h["webhook_id"] for h in listed] == [hook["webhook_id"]]
    assert "secret" not in listed[0]


async def test_webhook_gives_up_after_max_attempts(store: Any, clock: Any) -> None:
    csms, api = await start_api(store, clock, webhook_max_attempts=2)
    try:
        async with Receiver([500, 500, 500]) as receiver, api.client("admin") as c:
            hook = (await c.post(f"{P}/webhooks", json={"url": receiver.url})).json()
            api.csms.bus.publish(status("CP1", 1))
            deliveries = await wait_until(
                lambda: _deliveries(c, hook, "failed"), 30.0, "the delivery to fail"
            )
        assert len(receiver.received) == 2
        assert (deliveries[0]["attempts"], deliveries[0]["last_error"]) == (2, "HTTP 500")
        assert len(hook["secret"]) >= 32
    finally:
        await api.server.stop()
        await csms.stop()


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.org/x"},
        {"url": "http://127.0.0.1/x", "event_types": ["Not A Type"]},
        {"url": "http://127.0.0.1/x", "secret": "short"},
    ],
)
async def test_bad_webhook_is_422(api: Api, body: dict[str, Any]) -> None:
    async with api.client("admin") as c:
        r = await c.post(f"{P}/webhooks", json=body)
    assert r.status_code == 422


async def test_a_station_registered_after_start_gets_its_site(api: Api) -> None:
    from csms.events import StationConnected
    from csms.store.base import StationRecord

    await api.csms.store.put_station(StationRecord("LATE", site_id="depot"))
    async with api.client("viewer") as c, c.stream("GET", f"{P}/events") as r:
        lines = await opened(r)
        api.csms.bus.publish(StationConnected("LATE", "1.6", START))
        await wait_until(
            lambda: api.services.site_of("LATE") == "depot", 10.0, "the API to look LATE up"
        )
        api.csms.bus.publish(status("LATE", 1))
        got = await asyncio.wait_for(read_events(lines, 1), 5)
    assert [(e["event"], e["station_id"], e["site_id"]) for e in got] == [
        ("station.status", "LATE", "depot")
    ]


async def test_a_station_placed_only_by_its_site_model_is_on_that_site(api: Api) -> None:
    from csms.sites import SiteEvse, SiteStation
    from csms.store.base import StationRecord

    await api.csms.store.put_station(StationRecord("PLACED"))  # no site in its registration
    assert api.csms.sites is not None
    depot = await api.csms.sites.get_site("depot")
    placed = SiteStation(id="PLACED", node="grid", evses=(SiteEvse(id=1),))
    await api.csms.sites.apply(depot.model_copy(update={"stations": (*depot.stations, placed)}))
    await wait_until(  # SiteChanged refreshes the API's station map
        lambda: api.services.site_of("PLACED") == "depot", 10.0, "PLACED on the depot"
    )
    async with api.client("fleet_manager") as c, api.client("fleet_manager_other") as o:
        mine = await c.get(f"{P}/stations/PLACED")
        other = await o.get(f"{P}/stations/PLACED")
    assert mine.status_code == 200 and mine.json()["site_id"] == "depot"
    assert other.status_code == 403


async def test_reconnect_with_last_event_id_replays_what_was_missed(api: Api) -> None:
    async with api.client("viewer") as c:
        async with c.stream("GET", f"{P}/events") as r:
            lines = await opened(r)
            api.csms.bus.publish(status("CP1", 1))
            ids = []
            async for line in lines:
                if line.startswith("id: "):
                    ids.append(line[4:])
                    break
        # Disconnected: these happen while nobody listens.
        await wait_until(
            lambda: not api.services.hub.subscriptions, 10.0, "the stream's end on the server"
        )
        api.csms.bus.publish(status("CP1", 2))
        api.csms.bus.publish(status("FAR", 3))  # not the viewer's site
        api.csms.bus.publish(status("CP2", 4))
        async with c.stream("GET", f"{P}/events", headers={"Last-Event-ID": ids[0]}) as r:
            lines = await opened(r)
            got = await asyncio.wait_for(read_events(lines, 2), 5)
    assert ids[0].startswith(api.services.hub.epoch + ".")
    assert [(e["station_id"], e["at"]) for e in got] == [
        ("CP1", "2026-03-02T06:02:00+00:00"),
        ("CP2", "2026-03-02T06:04:00+00:00"),
    ]
