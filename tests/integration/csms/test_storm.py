"""Reconnect storms at a small scale: a handshake that waited too long for the server is
answered busy at once, and when every station drops and reconnects at once, every one gets
back and booted without a handshake timing out (decision 0228); a storm faster than the server
accepts waits in the listen queue instead of being dropped by the kernel."""

from __future__ import annotations

import asyncio
import json
import random
import select
import socket
import time
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.store import Store
from csms.store.base import StationRecord
from tests.integration.csms.conftest import PASSWORD, make_settings
from tests.integration.csms.stations import raw_connect
from tests.waiting import wait_until, wait_until_sync

BOOT = json.dumps(
    [2, "b", "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "AC22"}]
)
#: the stations' own handshake timeout, as long as the server's
HANDSHAKE_TIMEOUT_S = 10.0


async def test_a_handshake_that_waited_too_long_is_answered_busy_without_a_read(
    store: Store, clock: ManualClock
) -> None:
    # Any wait is too long here: the handshake is shed before its admission reads the store.
    settings = make_settings(shed_handshakes_after_s=1e-9)
    async with Csms(settings, clock=clock, store=store) as app:
        admissions: list[str] = []
        real = app.central.admission

        async def counted(station_id: str, password: str | None, **kw: object) -> object:
            admissions.append(station_id)
            return await real(station_id, password, **kw)  # type: ignore[arg-type]

        app.central.admission = counted  # type: ignore[assignment]
        with pytest.raises(InvalidStatus) as info:
            async with raw_connect(app.url, "CP16", password=PASSWORD):
                pass
        response = info.value.response
        assert response.status_code == 503
        assert 1 <= int(response.headers["Retry-After"]) <= 10
        assert (app.server.refused_late, admissions) == (1, [])


async def _station(url: str, station_id: str, refusals: list[int]) -> ClientConnection:
    """Handshake + BootNotification until Accepted; a 503 is retried after a random part of
    its Retry-After, at first a tenth of it (to keep the test short), doubled with each
    refusal as a station backs off (a loaded machine sheds more, and stations that came back
    at once would be shed again and again). A handshake timeout fails the test."""
    refused = 0
    while True:
        started = time.monotonic()
        try:
            ws = await connect(
                url + station_id,
                subprotocols=["ocpp1.6"],
                open_timeout=HANDSHAKE_TIMEOUT_S,  # type: ignore[list-item]
            )
        except InvalidStatus as exc:
            assert exc.response.status_code == 503, exc.response.status_code
            refusals.append(1)
            retry_after_s = int(exc.response.headers["Retry-After"])
            share = min(1.0, 2**refused / 10)
            refused += 1
            await asyncio.sleep(retry_after_s * share * random.random())
            continue
        assert time.monotonic() - started < HANDSHAKE_TIMEOUT_S
        await ws.send(BOOT)
        answer = json.loads(await asyncio.wait_for(ws.recv(), HANDSHAKE_TIMEOUT_S))
        assert answer[0] == 3 and answer[2]["status"] == "Accepted", answer
        return ws


@pytest.mark.parametrize(("shed_after_s", "at_once"), [(5.0, 64), (0.05, 64), (5.0, 4), (5.0, 0)])
async def test_every_station_gets_back_after_all_reconnect_at_once(
    store: Store, clock: ManualClock, shed_after_s: float, at_once: int
) -> None:
    n = 150
    ids = [f"S{i:03d}" for i in range(n)]
    for station_id in ids:
        await store.put_station(StationRecord(station_id))
    settings = make_settings(shed_handshakes_after_s=shed_after_s, handshakes_at_once=at_once)
    async with Csms(settings, clock=clock, store=store) as app:
        refusals: list[int] = []
        first = await asyncio.gather(*(_station(app.url, s, refusals) for s in ids))
        await asyncio.gather(*(ws.close() for ws in first))
        # all drop, all reconnect at once
        back = await asyncio.wait_for(
            asyncio.gather(*(_station(app.url, s, refusals) for s in ids)), 120
        )
        assert len(back) == n
        assert sorted(app.server.connections.ids()) == ids
        # every 503 the stations got is one the server counted: shed after a late start,
        # or sent away by the gate before it was read (its turn would come after
        # handshake_wait_max_s at the rate it serves, which a loaded machine lowers)
        assert len(refusals) == app.server.refused_late + app.server.handshakes.refused
        assert app.server.handshakes.running == 0
        await asyncio.gather(*(ws.close() for ws in back))


def _hold_admission_of(app: Csms, held_id: str) -> tuple[list[str], asyncio.Event]:
    """The stations whose admission ran, in order; ``held_id``'s waits for the event."""
    admissions: list[str] = []
    held = asyncio.Event()
    real = app.central.admission

    async def admission(station_id: str, password: str | None, **kw: object) -> object:
        admissions.append(station_id)
        if station_id == held_id:
            await held.wait()
        return await real(station_id, password, **kw)  # type: ignore[arg-type]

    app.central.admission = admission  # type: ignore[assignment]
    return admissions, held


async def test_handshakes_beyond_the_limit_wait_their_turn_unread(
    store: Store, clock: ManualClock
) -> None:
    # One handshake at a time: while the first one's admission is held, a connection that
    # says nothing and a station's handshake wait; nothing of theirs is read. The silent one
    # goes away; when the first ends, the station's handshake starts and completes.
    await store.put_station(StationRecord("A"))
    await store.put_station(StationRecord("B"))
    async with Csms(make_settings(handshakes_at_once=1), clock=clock, store=store) as app:
        gate = app.server.handshakes
        admissions, held = _hold_admission_of(app, "A")
        a = asyncio.ensure_future(_station(app.url, "A", []))
        await wait_until(lambda: admissions == ["A"], 10, "A's admission")
        where = urlsplit(app.url)
        _, silent = await asyncio.open_connection(where.hostname, where.port)
        await wait_until(lambda: gate.waiting == 1, 10, "the silent connection waiting")
        b = asyncio.ensure_future(_station(app.url, "B", []))
        await wait_until(lambda: gate.waiting == 2, 10, "B waiting")
        assert (admissions, gate.running) == (["A"], 1)
        silent.close()
        held.set()
        for ws in await asyncio.wait_for(asyncio.gather(a, b), 20):
            await ws.close()
        assert admissions == ["A", "B"]
        assert (gate.running, gate.waiting, gate.waited) == (0, 0, 2)


async def test_a_storm_the_server_has_not_accepted_yet_waits_in_the_listen_queue(
    store: Store, clock: ManualClock
) -> None:
    # More connections than asyncio's default listen queue (100) arrive while the server
    # accepts none: the event loop does not run while they connect. Each completes only if
    # the kernel queued it; past the queue the kernel drops the station's handshake, which
    # it resends after 1, 3, 7 s, a wait the server never sees and cannot shed.
    n = 300
    async with Csms(make_settings(), clock=clock, store=store) as app:
        where = urlsplit(app.url)
        socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
        try:
            poller = select.poll()
            for sock in socks:
                sock.setblocking(False)
                sock.connect_ex((where.hostname, where.port))
                poller.register(sock, select.POLLOUT)
            connected: set[int] = set()

            def all_connected() -> bool:
                connected.update(fd for fd, _ in poller.poll(0))
                return len(connected) == n

            wait_until_sync(all_connected, 30, f"{n} connections in the listen queue")
            assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for s in socks)
        finally:
            for sock in socks:
                sock.close()


async def test_one_that_would_wait_too_long_is_answered_busy_before_it_is_read(
    store: Store, clock: ManualClock
) -> None:
    await store.put_station(StationRecord("A"))
    await store.put_station(StationRecord("B"))
    settings = make_settings(handshakes_at_once=1, handshake_wait_max_s=1e-6)
    async with Csms(settings, clock=clock, store=store) as app:
        admissions, held = _hold_admission_of(app, "A")
        a = asyncio.ensure_future(_station(app.url, "A", []))
        await wait_until(lambda: admissions == ["A"], 10, "A's admission")
        # B's request by hand: the answer comes before the request is read, so before a
        # WebSocket client has sent it (websockets' client fails on such an early answer
        # when it arrives first, as it does on uvloop).
        head, body = await _raw_answer(app.url, "B")
        assert head.startswith(b"HTTP/1.1 503 ")
        assert 1 <= int(_header(head, b"retry-after")) <= 2
        assert body == b"busy, try again later\n"
        assert (admissions, app.server.handshakes.refused, app.server.handshakes.waiting) == (
            ["A"],
            1,
            0,
        )
        held.set()
        await (await asyncio.wait_for(a, 10)).close()
        # its turn: B is served
        await (await asyncio.wait_for(_station(app.url, "B", []), 10)).close()
        assert admissions == ["A", "B"]


async def _raw_answer(base_url: str, station_id: str) -> tuple[bytes, bytes]:
    """The server's answer to a WebSocket upgrade request sent by hand: (head, body)."""
    where = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    writer.write(
        f"GET {where.path}{station_id} HTTP/1.1\r\nHost: {where.netloc}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n".encode()
    )
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def _header(head: bytes, name: bytes) -> bytes:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    raise AssertionError(f"no {name!r} header in {head!r}")


async def test_connections_waiting_their_turn_are_closed_when_the_server_stops(
    store: Store, clock: ManualClock
) -> None:
    await store.put_station(StationRecord("A"))
    app = Csms(make_settings(handshakes_at_once=1), clock=clock, store=store)
    await app.__aenter__()
    admissions, held = _hold_admission_of(app, "A")
    a = asyncio.ensure_future(_station(app.url, "A", []))
    stopping: asyncio.Future[None] | None = None
    try:
        await wait_until(lambda: admissions == ["A"], 10, "A's admission")
        where = urlsplit(app.url)
        reader, writer = await asyncio.open_connection(where.hostname, where.port)
        await wait_until(lambda: app.server.handshakes.waiting == 1, 10, "one waiting")
        # the server stops while A's handshake is still held: the waiting one is closed
        # unserved at once, without a byte of answer (not given A's place afterwards)
        stopping = asyncio.ensure_future(app.__aexit__(None, None, None))
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert not stopping.done() and app.server.handshakes.waiting == 0
        writer.close()
    finally:
        held.set()
        await (stopping or app.__aexit__(None, None, None))
        a.cancel()
        await asyncio.gather(a, return_exceptions=True)
