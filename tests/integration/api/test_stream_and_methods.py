"""The event stream refuses filters it can never match; a reconnect older than the replay
buffer is told of its gap; OPTIONS answers every route with its methods."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.api.conftest import Api, start_api
from tests.integration.api.test_events import opened, read_events, status

P = "/api/v1"


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"type": "station.bogus"}, ["query", "type"]),
        ({"type": "nothing.*"}, ["query", "type"]),
        ({"type": ["station.status", "statoin.status"]}, ["query", "type"]),
        ({"station_id": "CP\x01"}, ["query", "station_id"]),
        ({"station_id": "A" * 49}, ["query", "station_id"]),
        ({"station_id": "has space"}, ["query", "station_id"]),
    ],
)
async def test_an_event_filter_that_can_never_match_is_a_422(
    api: Api, params: dict[str, Any], loc: list[str]
) -> None:
    async with api.client("admin") as c:
        r = await c.get(f"{P}/events", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


async def test_known_types_and_families_are_accepted(api: Api) -> None:
    async with (
        api.client("admin") as c,
        c.stream("GET", f"{P}/events", params={"type": ["station.*", "constraint.created"]}) as s,
    ):
        assert s.status_code == 200
        await opened(s)


async def test_a_last_event_id_older_than_the_replay_buffer_gets_a_gap_event(
    store: Any, clock: Any
) -> None:
    csms, api = await start_api(store, clock, stream_replay_events=2)
    try:
        async with api.client("admin") as c:
            async with c.stream("GET", f"{P}/events", params={"station_id": "CP1"}) as s:
                lines = await opened(s)
                for minute in range(1, 6):
                    api.csms.bus.publish(status("CP1", minute))
                first = (await asyncio.wait_for(read_events(lines, 1), 5))[0]
            epoch = api.services.hub.epoch
            async with c.stream(
                "GET",
                f"{P}/events",
                params={"station_id": "CP1"},
                headers={"Last-Event-ID": f"{epoch}.{first['id']}"},
            ) as again:
                lines = await opened(again)
                gap, *replayed = await asyncio.wait_for(read_events(lines, 3), 5)
    finally:
        await api.server.stop()
        await csms.stop()
    assert gap["event"] == "stream.gap"
    assert gap["data"]["last_event_id"] == f"{epoch}.{first['id']}"
    assert gap["data"]["missed"] == 2  # three after the first, the last two kept
    assert [e["event"] for e in replayed] == ["station.status"] * 2


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/sites/depot/constraints", "GET, OPTIONS, POST"),
        ("/api/v1/stations/CP1", "DELETE, GET, OPTIONS, PATCH"),
        ("/api/v1/events", "GET, OPTIONS"),
        ("/metrics", "GET, OPTIONS"),
    ],
)
async def test_options_answers_with_allow_on_every_route(api: Api, path: str, methods: str) -> None:
    async with api.client() as c:
        options = await c.options(path)
        wrong = await c.request("PUT", path)
    assert options.status_code == 204
    assert options.headers["allow"] == methods
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == methods


async def test_every_operation_in_the_document_answers_options(api: Api) -> None:
    async with api.client() as c:
        paths = (await c.get("/openapi.json")).json()["paths"]
        for path, operations in paths.items():
            concrete = path.replace("{site_id}", "depot").replace("{station_id}", "CP1")
            concrete = concrete.replace("{", "").replace("}", "")
            r = await c.options(concrete)
            assert r.status_code == 204, (path, r.status_code)
            allowed = set(r.headers["allow"].split(", "))
            assert {m.upper() for m in operations} <= allowed, (path, allowed)
