"""Hardening of the OCPP endpoint, measured: limits per source address, handshake
timeouts (slowloris), a client that never reads, failed-authentication backoff, the same
work for unknown station ids, and no secret in the log."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from csms.core.service import CentralSystem
from tests.fixtures.pki import Pki
from tests.integration.security.conftest import (
    PASSWORD,
    client_context,
    eventually,
    open_ws,
    refused_status,
)

Start = Callable[..., Any]
NO_EXEMPT: dict[str, Any] = {"limits_exempt": ()}


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closed the connection (EOF or reset)."""
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, OSError):
        pass
    return True


async def test_open_connections_per_address(pki: Pki, start_csms: Start) -> None:
    async with start_csms(**NO_EXEMPT, max_connections_per_address=3) as csms:
        held = [await asyncio.open_connection("127.0.0.1", csms.port) for _ in range(3)]
        reader, writer = await asyncio.open_connection("127.0.0.1", csms.port)
        assert await asyncio.wait_for(closed_by_server(reader), 10)
        writer.close()
        refused = csms.server.security.guard.refused
        assert refused["too-many-connections"] == 1
        # one closes, a station gets in
        held[0][1].close()
        await held[0][1].wait_closed()
        limits = csms.server.security.guard.limits
        assert limits is not None
        assert await eventually(lambda: limits.open_count("127.0.0.1") == 2)
        async with open_ws(csms.url, "CP16", ctx=client_context(pki), password=PASSWORD):
            assert limits.open_count("127.0.0.1") == 3
        for _, w in held[1:]:
            w.close()
        assert await eventually(lambda: limits.open_count("127.0.0.1") == 0)


async def test_attempts_per_second_per_address(pki: Pki, start_csms: Start) -> None:
    async with start_csms(
        **NO_EXEMPT, attempts_burst=4, max_attempts_per_address_per_s=0.001
    ) as csms:
        for _ in range(4):
            async with open_ws(csms.url, "CP16", ctx=client_context(pki), password=PASSWORD):
                pass
        with pytest.raises(OSError):
            async with open_ws(csms.url, "CP16", ctx=client_context(pki), password=PASSWORD):
                pass
        assert csms.server.security.guard.refused["too-many-attempts"] == 1


async def test_loopback_exempt_by_default(pki: Pki, start_csms: Start) -> None:
    async with start_csms(attempts_burst=1, max_attempts_per_address_per_s=0.001) as csms:
        for _ in range(3):
            async with open_ws(csms.url, "CP16", ctx=client_context(pki), password=PASSWORD):
                pass


async def test_slowloris_cannot_hold_connections(pki: Pki, start_csms: Start) -> None:
    async with start_csms(handshake_timeout_s=2.0) as csms:
        # TLS done, then the HTTP request trickles and never ends
        slow = []
        for _ in range(20):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", csms.port, ssl=client_context(pki), server_hostname="localhost"
            )
            writer.write(b"GET /ocpp/CP16 HTTP/1.1\r\nHost: x\r\n")
            await writer.drain()
            slow.append((reader, writer))
        for reader, _ in slow:
            assert await asyncio.wait_for(closed_by_server(reader), 10)
        # and the server still serves stations
        async with open_ws(csms.url, "CP16", ctx=client_context(pki), password=PASSWORD):
            pass
        for _, w in slow:
            w.close()


async def test_client_that_never_reads_is_dropped(pki: Pki, start_csms: Start) -> None:
    async with start_csms(server={"ping_interval_s": 0.2, "ping_timeout_s": 0.3}) as csms:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", csms.port, ssl=client_context(pki), server_hostname="localhost"
        )
        auth = base64.b64encode(f"CP16:{PASSWORD}".encode()).decode()
        writer.write(
            (
                "GET /ocpp/CP16 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n"
                f"Authorization: Basic {auth}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        assert await eventually(lambda: csms.server.connections.get("CP16") is not None)
        # It never reads again (no pong): the keepalive drops it.
        assert await eventually(lambda: csms.server.connections.get("CP16") is None)
        writer.close()
        async with open_ws(csms.url, "CP201", ctx=client_context(pki), password=PASSWORD):
            pass


async def test_failed_authentication_backoff(pki: Pki, start_csms: Start) -> None:
    async with start_csms(auth_free_failures=2, auth_backoff_initial_s=0.3) as csms:
        ctx = client_context(pki)
        for _ in range(2):  # free failures
            assert await refused_status(csms.url, "CP16", ctx=ctx, password="guess") == 401
        # the third failure starts the wait; during it even the right password waits
        assert await refused_status(csms.url, "CP16", ctx=ctx, password="guess") == 401
        assert await refused_status(csms.url, "CP16", ctx=ctx, password=PASSWORD) == 429
        assert csms.server.security.guard.refused["auth-backoff"] == 1
        # other stations are not affected
        async with open_ws(csms.url, "CP201", ctx=ctx, password=PASSWORD):
            pass
        backoff = csms.server.security.backoff
        import time

        assert await eventually(lambda: backoff.retry_after("CP16", time.monotonic()) is None)
        async with open_ws(csms.url, "CP16", ctx=ctx, password=PASSWORD):
            pass
        assert len(backoff) == 0  # success forgets the failures


async def test_unknown_station_costs_the_same_password_check(
    pki: Pki, start_csms: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    import csms.core.service as service

    checked: list[str] = []
    real = service.verify_password

    def counting(password: str, stored: str) -> bool:
        checked.append(stored)
        return real(password, stored)

    monkeypatch.setattr(service, "verify_password", counting)
    async with start_csms() as csms:
        ctx = client_context(pki)
        assert await refused_status(csms.url, "NOBODY", ctx=ctx, password="guess") == 401
        assert await refused_status(csms.url, "CP16", ctx=ctx, password="guess") == 401
        assert len(checked) == 2 and checked[0].startswith("scrypt$")
        assert isinstance(csms.central, CentralSystem)


async def test_no_secret_in_the_log(
    pki: Pki, start_csms: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    station = pki.issue("CP16")
    async with start_csms() as csms:
        ctx = client_context(pki)
        for password in ("wrong-1", "wrong-2", PASSWORD):
            try:
                async with open_ws(csms.url, "CP16", ctx=ctx, password=password) as ws:
                    await ws.send('[2, "1", "Heartbeat", {}]')
                    await ws.recv()
            except Exception:
                pass
        async with open_ws(csms.url, "CP16", ctx=client_context(pki, station)):
            pass
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "CP16" in text  # the log does speak about the station
    for secret in (PASSWORD, "wrong-1", "wrong-2", "PRIVATE KEY"):
        assert secret not in text
    key_pem = station.key_file.read_text().splitlines()[1]
    assert key_pem not in text
