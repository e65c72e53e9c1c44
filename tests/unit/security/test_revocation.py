"""The own CA's revocation list (``ca.crl``) and the check made on profile-3 connections."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from csms.security.ca import CRL_DAYS, CertificateAuthority, check_csr, load_crl
from csms.security.exceptions import CaUnavailable
from csms.security.revocation import OwnCaRevocations
from tests.unit.security.test_ca import csr

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def issue(ca: CertificateAuthority, station_id: str) -> x509.Certificate:
    chain = ca.sign(check_csr(csr(station_id), station_id=station_id, organization=None), now=NOW)
    return x509.load_pem_x509_certificates(chain.encode())[0]


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca", name="CA", organization=None, now=NOW)


def test_a_new_ca_has_an_empty_signed_crl(ca: CertificateAuthority) -> None:
    assert ca.crl_path is not None
    crl = load_crl(ca.crl_path, ca.cert)
    assert len(crl) == 0
    assert crl.next_update_utc == NOW + timedelta(days=CRL_DAYS)
    assert ca.revoked() == {}


def test_issued_certificates_are_noted(ca: CertificateAuthority) -> None:
    a, b, c = issue(ca, "CP1"), issue(ca, "CP2"), issue(ca, "CP1")
    assert [i.serial_number for i in ca.issued("CP1")] == [a.serial_number, c.serial_number]
    assert [i.station_id for i in ca.issued()] == ["CP1", "CP2", "CP1"]
    assert ca.issued("CP2")[0].not_after == b.not_valid_after_utc
    assert ca.folder is not None
    # a line torn by a crash is skipped, the others still count
    with (ca.folder / "issued.jsonl").open("a") as f:
        f.write('{"serial_number": "ab", "stat')
    assert len(ca.issued()) == 3


def test_revoke_rewrites_the_crl(ca: CertificateAuthority) -> None:
    a, b = issue(ca, "CP1"), issue(ca, "CP1")
    assert ca.revoke([a.serial_number], reason="keyCompromise", now=NOW) == [a.serial_number]
    assert ca.revoke([a.serial_number, b.serial_number], now=NOW) == [b.serial_number]
    assert ca.revoke([a.serial_number], now=NOW) == []  # already there
    assert set(ca.revoked()) == {a.serial_number, b.serial_number}
    assert ca.crl_path is not None
    crl = load_crl(ca.crl_path, ca.cert)
    entry = crl.get_revoked_certificate_by_serial_number(a.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == 3  # created, then two revocations that added something
    with pytest.raises(ValueError, match="not one of"):
        ca.revoke([a.serial_number], reason="because", now=NOW)


def test_crl_refreshed_only_past_half_its_validity(ca: CertificateAuthority) -> None:
    assert not ca.refresh_crl(now=NOW + timedelta(days=CRL_DAYS / 2 - 0.1))
    later = NOW + timedelta(days=CRL_DAYS / 2 + 0.1)
    issue(ca, "CP1")
    serial = ca.issued()[0].serial_number
    ca.revoke([serial], now=NOW)
    assert ca.refresh_crl(now=later + timedelta(days=CRL_DAYS))
    assert ca.crl_path is not None
    crl = load_crl(ca.crl_path, ca.cert)
    assert crl.next_update_utc == later + timedelta(days=2 * CRL_DAYS)
    assert set(ca.revoked()) == {serial}  # re-signed with its entries


def test_missing_crl_written_for_an_older_ca_folder(ca: CertificateAuthority) -> None:
    assert ca.crl_path is not None
    ca.crl_path.unlink()
    loaded = CertificateAuthority.load(ca.crl_path.parent)
    assert loaded.refresh_crl(now=NOW)
    assert loaded.revoked() == {}


def test_a_crl_not_signed_by_the_ca_is_refused(ca: CertificateAuthority, tmp_path: Path) -> None:
    other = CertificateAuthority.create(tmp_path / "other", name="CA", organization=None, now=NOW)
    assert ca.crl_path is not None and other.crl_path is not None
    ca.crl_path.write_bytes(other.crl_path.read_bytes())
    with pytest.raises(CaUnavailable, match="not signed by"):
        ca.revoked()


def test_checker_follows_the_file(ca: CertificateAuthority, tmp_path: Path) -> None:
    assert ca.folder is not None and ca.crl_path is not None
    good, bad = issue(ca, "CP1"), issue(ca, "CP1")
    check = OwnCaRevocations(ca.folder)
    assert check.refusal(der(bad)) is None
    ca.revoke([bad.serial_number], now=NOW)
    assert check.refusal(der(bad)) == (
        f"certificate {bad.serial_number:x} was revoked by chargegrid's CA"
    )
    assert check.refusal(der(good)) is None
    # a certificate of another CA with the same serial number is not this CA's to judge
    other = CertificateAuthority.create(tmp_path / "o", name="Other", organization=None, now=NOW)
    assert check.refusal(der(issue(other, "CP1"))) is None
    # a broken or foreign list keeps the last good one in force
    saved = ca.crl_path.read_bytes()
    ca.crl_path.write_bytes(b"garbage")
    os.utime(ca.crl_path, ns=(1, 1))
    assert check.refusal(der(bad)) is not None
    assert check.load_failures == 1
    ca.crl_path.write_bytes(saved)
    assert check.refusal(der(bad)) is not None
    assert check.refusal(b"not a certificate") is None
