"""Security profiles 2 and 3 on one ``wss://`` port: TLS versions and ciphers, Basic auth
over TLS, client certificates (identity, organization, expiry, revocation, other CAs), the
per-station profile, and certificate files reloaded while connections stay up."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import InvalidMessage

from csms.app import Csms
from csms.store import MemoryStore
from csms.store.base import StationRecord
from tests.fixtures.pki import Pki
from tests.integration.security.conftest import (
    ORG,
    PASSWORD,
    PASSWORD_HASH,
    client_context,
    eventually,
    open_ws,
    refused_status,
)

Start = Callable[..., Any]


def peer_serial(ws: Any) -> int:
    sslobj = ws.transport.get_extra_info("ssl_object")
    der = sslobj.getpeercert(binary_form=True)
    from cryptography import x509

    return x509.load_der_x509_certificate(der).serial_number


async def test_profile_2_tls_with_basic_auth(pki: Pki, start_csms: Start) -> None:
    async with start_csms() as csms:
        assert csms.url.startswith("wss://")
        ctx = client_context(pki)
        async with open_ws(csms.url, "CP16", ctx=ctx, password=PASSWORD) as ws:
            assert ws.subprotocol == "ocpp1.6"
            sslobj = ws.transport.get_extra_info("ssl_object")
            assert sslobj.version() in ("TLSv1.2", "TLSv1.3")
        assert await refused_status(csms.url, "CP16", ctx=ctx) == 401
        assert await refused_status(csms.url, "CP16", ctx=ctx, password="wrong") == 401
        assert csms.server.security.guard.handshakes == 3


async def test_plain_ws_and_weak_tls_refused_and_counted(pki: Pki, start_csms: Start) -> None:
    async with start_csms() as csms:
        plain = csms.url.replace("wss://", "ws://")
        with pytest.raises((OSError, EOFError, Exception)):
            async with open_ws(plain, "CP16", ctx=None, password=PASSWORD):
                pass
        # TLS 1.2 offering only a cipher the OCPP security part does not list
        weak = client_context(pki)
        weak.maximum_version = ssl.TLSVersion.TLSv1_2
        weak.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
        with pytest.raises(OSError):
            async with open_ws(csms.url, "CP16", ctx=weak, password=PASSWORD):
                pass
        # a TLS 1.2 client with an OCPP cipher is fine
        ok = client_context(pki)
        ok.maximum_version = ssl.TLSVersion.TLSv1_2
        ok.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        async with open_ws(csms.url, "CP16", ctx=ok, password=PASSWORD) as ws:
            assert ws.transport.get_extra_info("ssl_object").cipher()[0] == (
                "ECDHE-ECDSA-AES128-GCM-SHA256"
            )
        refused = csms.server.security.guard.refused
        assert refused["tls-handshake-failed"] == 2


async def test_tls_13_only_server(pki: Pki, start_csms: Start) -> None:
    async with start_csms(tls_min_version="1.3") as csms:
        old = client_context(pki)
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(OSError):
            async with open_ws(csms.url, "CP16", ctx=old, password=PASSWORD):
                pass
        async with open_ws(csms.url, "CP16", ctx=client_context(pki), password=PASSWORD) as ws:
            assert ws.transport.get_extra_info("ssl_object").version() == "TLSv1.3"


async def test_profile_3_certificate_is_the_credential(pki: Pki, start_csms: Start) -> None:
    cert = pki.issue("CP16")
    async with start_csms() as csms:
        async with open_ws(csms.url, "CP16", ctx=client_context(pki, cert), version="2.0.1") as ws:
            assert ws.subprotocol == "ocpp2.0.1"
        # A certificate names one station only.
        other = pki.issue("CP201")
        assert await refused_status(csms.url, "CP16", ctx=client_context(pki, other)) == 403
        # ... even with that station's password: the certificate's identity is checked first.
        assert (
            await refused_status(
                csms.url, "CP16", ctx=client_context(pki, other), password=PASSWORD
            )
            == 403
        )
        assert csms.server.security.refused["certificate-identity"] == 2


async def test_organization_checked_when_configured(pki: Pki, start_csms: Start) -> None:
    ours = pki.issue("CP16", org=ORG)
    theirs = pki.issue("CP16", org="Another Operator")
    async with start_csms(certificate_organization=ORG) as csms:
        async with open_ws(csms.url, "CP16", ctx=client_context(pki, ours)):
            pass
        assert await refused_status(csms.url, "CP16", ctx=client_context(pki, theirs)) == 403


async def test_bad_certificates_refused_in_the_tls_handshake(
    pki: Pki, start_csms: Start, tmp_path: Any
) -> None:
    expired = pki.issue("CP16", expired=True)
    stranger = Pki(tmp_path / "other", ca_name="someone else").issue("CP16")
    expired_ca = Pki(tmp_path / "old", ca_name="expired root", ca_expired=True)
    from_expired_ca = expired_ca.issue("CP16")
    bundle = tmp_path / "cas.pem"
    bundle.write_bytes(pki.ca.cert_file.read_bytes() + expired_ca.ca.cert_file.read_bytes())
    async with start_csms(tls_ca_files=(pki.ca.cert_file, expired_ca.ca.cert_file)) as csms:
        for bad in (expired, stranger, from_expired_ca):
            with pytest.raises((OSError, InvalidMessage)):
                async with open_ws(csms.url, "CP16", ctx=client_context(pki, bad)) as ws:
                    await ws.recv()  # TLS 1.3: the refusal arrives after the client's finish
        refused = csms.server.security.guard.refused
        assert refused["tls-certificate-certificate-has-expired"] == 2
        assert refused["tls-certificate-unable-to-get-local-issuer-certificate"] == 1
        text = csms.server.security.metrics_text()
        assert (
            'chargegrid_ocpp_connections_refused_total{reason="tls-certificate-certificate-'
            'has-expired"} 2' in text
        )
        # nobody got through
        assert csms.server.connections.get("CP16") is None


async def test_revoked_certificate_refused(pki: Pki, start_csms: Start) -> None:
    good = pki.issue("CP16")
    revoked = pki.issue("CP16")
    pki.revoke(revoked)
    async with start_csms(tls_crl_files=(pki.crl(),)) as csms:
        async with open_ws(csms.url, "CP16", ctx=client_context(pki, good)):
            pass
        with pytest.raises((OSError, InvalidMessage)):
            async with open_ws(csms.url, "CP16", ctx=client_context(pki, revoked)) as ws:
                await ws.recv()
        assert csms.server.security.guard.refused["tls-certificate-certificate-revoked"] == 1


async def test_station_registered_for_profile_3_refused_on_2(
    pki: Pki, start_csms: Start, store: MemoryStore
) -> None:
    async with start_csms() as csms:
        # CP3 has a password but is registered for profile 3: TLS + password is a downgrade.
        assert (
            await refused_status(csms.url, "CP3", ctx=client_context(pki), password=PASSWORD) == 403
        )
        async with open_ws(csms.url, "CP3", ctx=client_context(pki, pki.issue("CP3"))):
            pass
        assert csms.server.security.refused["profile-too-low"] == 1


async def test_minimum_profile_for_everyone(pki: Pki, start_csms: Start) -> None:
    async with start_csms(minimum_profile=3) as csms:
        assert (
            await refused_status(csms.url, "CP16", ctx=client_context(pki), password=PASSWORD)
            == 403
        )
        async with open_ws(csms.url, "CP16", ctx=client_context(pki, pki.issue("CP16"))):
            pass


async def test_registered_profile_refused_on_plain_ws(store: MemoryStore) -> None:
    from chargegrid.clock import ManualClock
    from csms.config import Settings
    from tests.integration.security.conftest import START

    settings = Settings(
        server={"host": "127.0.0.1", "port": 0, "gc_freeze_interval_s": None},  # type: ignore[arg-type]
        database={"url": "memory://"},  # type: ignore[arg-type]
        telemetry={"enabled": False},  # type: ignore[arg-type]
    )
    await store.put_station(StationRecord("CP2", password_hash=PASSWORD_HASH, security_profile=2))
    async with Csms(settings, clock=ManualClock(START), store=store) as csms:
        assert csms.url.startswith("ws://")
        for sid in ("CP2", "CP3"):
            assert await refused_status(csms.url, sid, ctx=None, password=PASSWORD) == 403
        async with open_ws(csms.url, "CP16", ctx=None, password=PASSWORD):
            pass


async def test_certificate_files_reloaded_without_dropping_connections(
    pki: Pki, start_csms: Start
) -> None:
    live = pki.folder / "live"
    live.mkdir()
    cert_file, key_file = live / "server.pem", live / "server.key"
    shutil.copy(pki.server.cert_file, cert_file)
    shutil.copy(pki.server.key_file, key_file)
    async with start_csms(tls_cert_file=cert_file, tls_key_file=key_file) as csms:
        tls = csms.server.security.tls
        assert tls is not None
        ctx = client_context(pki)
        async with open_ws(csms.url, "CP16", ctx=ctx, password=PASSWORD) as first:
            assert peer_serial(first) == pki.server.cert.serial_number
            assert not await tls.reload_if_changed()

            # A half-done rotation (new certificate, old key) keeps the old pair serving.
            renewed = pki.issue("localhost", server=True, filename="renewed")
            shutil.copy(renewed.cert_file, cert_file)
            assert not await tls.reload_if_changed()
            assert tls.counters.reload_failures == 1
            async with open_ws(csms.url, "CP201", ctx=ctx, password=PASSWORD) as second:
                assert peer_serial(second) == pki.server.cert.serial_number

            shutil.copy(renewed.key_file, key_file)
            assert await tls.reload_if_changed()
            async with open_ws(csms.url, "CP201", ctx=ctx, password=PASSWORD) as third:
                assert peer_serial(third) == renewed.cert.serial_number
            # the first connection never noticed
            await first.ping()
        assert tls.counters.reloads == 1


async def test_reload_watcher_picks_up_changes(pki: Pki, start_csms: Start) -> None:
    live = pki.folder / "watched"
    live.mkdir()
    cert_file, key_file = live / "server.pem", live / "server.key"
    shutil.copy(pki.server.cert_file, cert_file)
    shutil.copy(pki.server.key_file, key_file)
    async with start_csms(
        tls_cert_file=cert_file, tls_key_file=key_file, tls_reload_interval_s=0.05
    ) as csms:
        tls = csms.server.security.tls
        assert tls is not None
        renewed = pki.issue("localhost", server=True, filename="renewed")
        shutil.copy(renewed.key_file, key_file)
        shutil.copy(renewed.cert_file, cert_file)
        assert await eventually(lambda: tls.counters.reloads >= 1)
        async with open_ws(csms.url, "CP16", ctx=client_context(pki), password=PASSWORD) as ws:
            assert peer_serial(ws) == renewed.cert.serial_number


async def test_stalled_tls_handshake_dropped(pki: Pki, start_csms: Start) -> None:
    import asyncio

    async with start_csms(handshake_timeout_s=0.2) as csms:
        reader, writer = await asyncio.open_connection("127.0.0.1", csms.port)
        writer.write(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), timeout=10) == b""
        writer.close()
        assert csms.server.security.guard.refused["tls-handshake-timeout"] == 1
