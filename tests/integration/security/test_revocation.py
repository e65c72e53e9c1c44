"""Revoking certificates chargegrid's own CA issued: the next profile-3 connection with one is
refused and an open one is closed, with no restart; with the CA's list in ``tls_crl_files``
OpenSSL refuses it in the handshake too, the rewritten list picked up by the TLS reload."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidMessage

from csms.security.ca import CertificateAuthority, check_csr
from csms.store import MemoryStore
from tests.fixtures.pki import Issued, Pki, write_key
from tests.integration.security.conftest import (
    ORG,
    client_context,
    eventually,
    open_ws,
    refused_status,
)

Start = Callable[..., Any]


def issue(ca: CertificateAuthority, folder: Path, station_id: str) -> Issued:
    """A station certificate from the own CA, through a CSR as a station would get it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, station_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    chain = ca.sign(check_csr(pem, station_id=station_id, organization=ORG), now=datetime.now(UTC))
    cert = x509.load_pem_x509_certificates(chain.encode())[0]
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{station_id}-{cert.serial_number:x}"[:40]
    cert_file = folder / f"{stem}.pem"
    cert_file.write_text(chain)
    return Issued(cert, key, cert_file, write_key(key, folder / f"{stem}.key"))


@pytest.fixture
def own_ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(
        tmp_path / "ca", name="chargegrid station CA", organization=ORG, now=datetime.now(UTC)
    )


async def test_revoked_certificate_refused_and_its_connection_closed(
    pki: Pki, start_csms: Start, own_ca: CertificateAuthority, tmp_path: Path, store: MemoryStore
) -> None:
    assert own_ca.folder is not None
    first = issue(own_ca, tmp_path / "st", "CP3")
    async with start_csms(
        tls_ca_files=(pki.ca.cert_file, own_ca.folder / "ca.pem"), ca_folder=own_ca.folder
    ) as csms:
        async with open_ws(csms.url, "CP3", ctx=client_context(pki, first)) as ws:
            assert await eventually(lambda: csms.commands.is_online("CP3"))
            second = issue(own_ca, tmp_path / "st", "CP3")
            done = await csms.certificates.revoke(
                "CP3", format(first.cert.serial_number, "x"), reason="keyCompromise"
            )
            assert done.serial_numbers == (format(first.cert.serial_number, "x"),)
            assert done.disconnected
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        # no restart: the next connection with it is refused; the other one still works
        assert await refused_status(csms.url, "CP3", ctx=client_context(pki, first)) == 403
        assert csms.server.security.refused["certificate-revoked"] == 1
        async with open_ws(csms.url, "CP3", ctx=client_context(pki, second)):
            pass
        # revoking the station: every certificate of it still valid and not yet revoked
        done = await csms.certificates.revoke("CP3")
        assert done.serial_numbers == (format(second.cert.serial_number, "x"),)
        assert not done.disconnected
        assert await refused_status(csms.url, "CP3", ctx=client_context(pki, second)) == 403
        # a certificate of another CA is not the own CA's to revoke
        with pytest.raises(ValueError, match="issued no certificate"):
            await csms.certificates.revoke("CP3", format(pki.issue("CP3").cert.serial_number, "x"))
        for station_id in ("CP16", "CP3"):  # none at all / none left
            with pytest.raises(ValueError, match="issued no certificate"):
                await csms.certificates.revoke(station_id)
        events = [e.data for e in await store.station_events("CP3", "CertificateRevoked")]
        assert events == [
            {"serial_numbers": [format(first.cert.serial_number, "x")], "reason": "keyCompromise"},
            {"serial_numbers": [format(second.cert.serial_number, "x")], "reason": "unspecified"},
        ]


async def test_crl_in_tls_crl_files_reloaded_without_restart(
    pki: Pki, start_csms: Start, own_ca: CertificateAuthority, tmp_path: Path
) -> None:
    assert own_ca.folder is not None
    station = issue(own_ca, tmp_path / "st", "CP3")
    async with start_csms(
        tls_ca_files=(pki.ca.cert_file, own_ca.folder / "ca.pem"),
        tls_crl_files=(pki.crl(), own_ca.folder / "ca.crl"),
        ca_folder=own_ca.folder,
    ) as csms:
        tls = csms.server.security.tls
        assert tls is not None
        async with open_ws(csms.url, "CP3", ctx=client_context(pki, station)):
            pass
        await csms.certificates.revoke("CP3")
        assert await tls.reload_if_changed()
        with pytest.raises((OSError, InvalidMessage)):
            async with open_ws(csms.url, "CP3", ctx=client_context(pki, station)) as ws:
                await ws.recv()
        assert await eventually(
            lambda: csms.server.security.guard.refused["tls-certificate-certificate-revoked"] == 1
        )


async def test_revocation_needs_the_own_ca(pki: Pki, start_csms: Start) -> None:
    async with start_csms() as csms:
        with pytest.raises(ValueError, match="needs chargegrid's own CA"):
            await csms.certificates.revoke("CP3")


async def test_station_ca_bundle_reloaded_without_restart(
    pki: Pki, start_csms: Start, tmp_path: Path
) -> None:
    """A CA added to the station CA file is trusted from the next handshake on (the newest
    TLS context is used whole), no restart."""
    other = Pki(tmp_path / "other", ca_name="second station CA")
    bundle = tmp_path / "station-cas.pem"
    bundle.write_bytes(pki.ca.cert_file.read_bytes())
    station = other.issue("CP16")
    async with start_csms(tls_ca_files=(bundle,)) as csms:
        tls = csms.server.security.tls
        assert tls is not None
        with pytest.raises((OSError, InvalidMessage)):
            async with open_ws(csms.url, "CP16", ctx=client_context(pki, station)) as ws:
                await ws.recv()
        assert await eventually(
            lambda: (
                csms.server.security.guard.refused[
                    "tls-certificate-unable-to-get-local-issuer-certificate"
                ]
                == 1
            )
        )
        bundle.write_bytes(pki.ca.cert_file.read_bytes() + other.ca.cert_file.read_bytes())
        assert await tls.reload_if_changed()
        async with open_ws(csms.url, "CP16", ctx=client_context(pki, station)):
            assert csms.server.security.profiles["CP16"] == 3
