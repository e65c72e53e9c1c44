"""chargegrid's own CA and the CSR rules; the external CA command."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from csms.security.ca import CertificateAuthority, check_csr
from csms.security.certificates import CommandSigner
from csms.security.exceptions import CaUnavailable, CsrRefused

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def csr(cn: str | None, org: str | None = None, key: object | None = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    attrs = []
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if org is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    req = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    signed = req.sign(key, hashes.SHA256())  # type: ignore[arg-type]
    return signed.public_bytes(serialization.Encoding.PEM).decode()


def test_check_csr() -> None:
    info = check_csr(csr("CP1", "Acme"), station_id="CP1", organization="Acme")
    assert (info.common_name, info.organization) == ("CP1", "Acme")
    assert check_csr(csr("CP1"), station_id="CP1", organization=None).organization is None
    cases = [
        ("not a csr", None, "not a PEM"),
        (csr("CP2"), None, "not for station 'CP1'"),
        (csr(None), None, "not for station"),
        (csr("CP1", "Other"), "Acme", "organization"),
        (csr("CP1", key=rsa.generate_private_key(65537, 1024)), None, "too weak"),
    ]
    for pem, org, reason in cases:
        with pytest.raises(CsrRefused, match=reason):
            check_csr(pem, station_id="CP1", organization=org)


def test_check_csr_organization_required_when_configured() -> None:
    with pytest.raises(CsrRefused, match="organization"):
        check_csr(csr("CP1"), station_id="CP1", organization="Acme")


def test_tampered_csr_refused() -> None:
    good = x509.load_pem_x509_csr(csr("CP1").encode())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # flip a bit of the signature
    import base64

    pem = (
        "-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.encodebytes(bytes(der)).decode()
        + "-----END CERTIFICATE REQUEST-----\n"
    )
    with pytest.raises(CsrRefused):
        check_csr(pem, station_id="CP1", organization=None)


def test_ca_create_load_sign(tmp_path: Path) -> None:
    folder = tmp_path / "ca"
    ca = CertificateAuthority.create(folder, name="Station CA", organization="Acme", now=NOW)
    assert (folder / "ca.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(CaUnavailable, match="already holds a CA"):
        CertificateAuthority.create(folder, name="again", organization=None, now=NOW)
    loaded = CertificateAuthority.load(folder)
    assert loaded.cert == ca.cert

    info = check_csr(csr("CP1", "Acme"), station_id="CP1", organization="Acme")
    chain = loaded.sign(info, now=NOW, valid_days=365)
    leaf, root = x509.load_pem_x509_certificates(chain.encode())
    assert root == ca.cert
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP1"
    assert leaf.issuer == ca.cert.subject
    assert leaf.public_key() == info.csr.public_key()
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert leaf.not_valid_after_utc == NOW + timedelta(days=365)
    leaf.verify_directly_issued_by(ca.cert)
    # never beyond the CA's own end
    late = ca.cert.not_valid_after_utc - timedelta(days=10)
    capped = x509.load_pem_x509_certificates(loaded.sign(info, now=late).encode())[0]
    assert capped.not_valid_after_utc == ca.cert.not_valid_after_utc


def test_ca_refuses_to_sign_outside_its_dates(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(
        tmp_path / "ca", name="CA", organization=None, now=NOW, valid_days=1
    )
    info = check_csr(csr("CP1"), station_id="CP1", organization=None)
    with pytest.raises(CaUnavailable, match="not valid now"):
        ca.sign(info, now=NOW + timedelta(days=2))


def test_ca_key_readable_by_others_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ca"
    CertificateAuthority.create(folder, name="CA", organization=None, now=NOW)
    (folder / "ca.key").chmod(0o644)
    with pytest.raises(CaUnavailable, match="chmod 600"):
        CertificateAuthority.load(folder)
    with pytest.raises(CaUnavailable, match="no usable CA"):
        CertificateAuthority.load(tmp_path / "nowhere")


HOOK = """
import os, sys
from datetime import datetime, timezone
from pathlib import Path
from csms.security.ca import CertificateAuthority, check_csr
mode = sys.argv[2]
if mode == "fail":
    print("HSM offline", file=sys.stderr)
    sys.exit(3)
ca = CertificateAuthority.load(Path(sys.argv[1]))
station = os.environ["CHARGEGRID_STATION_ID"]
info = check_csr(sys.stdin.read(), station_id=station, organization=None)
if mode == "wrong-key":
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, info.common_name)])
    other = x509.CertificateSigningRequestBuilder().subject_name(name).sign(
        ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()
    )
    pem = other.public_bytes(serialization.Encoding.PEM).decode()
    info = check_csr(pem, station_id=info.common_name, organization=None)
print(ca.sign(info, now=datetime.now(timezone.utc)), end="")
"""


async def test_external_ca_command(tmp_path: Path) -> None:
    folder = tmp_path / "ext"
    CertificateAuthority.create(folder, name="External", organization=None, now=datetime.now(UTC))
    script = tmp_path / "hook.py"
    script.write_text(HOOK)
    info = check_csr(csr("CP1"), station_id="CP1", organization=None)

    def signer(mode: str) -> CommandSigner:
        return CommandSigner(f"{sys.executable} {script} {folder} {mode}", timeout_s=30)

    chain = await signer("ok").sign("CP1", info, now=NOW)
    assert x509.load_pem_x509_certificates(chain.encode())[0].public_key() == info.csr.public_key()
    with pytest.raises(CaUnavailable, match="exited 3: HSM offline"):
        await signer("fail").sign("CP1", info, now=NOW)
    with pytest.raises(CaUnavailable, match="not for the request's key"):
        await signer("wrong-key").sign("CP1", info, now=NOW)
