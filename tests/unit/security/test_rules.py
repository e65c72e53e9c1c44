"""The pure security rules: certificate identity, profiles, settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import csms.security
from csms.config import load_settings
from csms.exceptions import ConfigError
from csms.security.gate import Link, profile_refusal
from csms.security.identity import PeerCertificate, identity_refusal, peer_certificate
from csms.security.settings import OCPP_CIPHERS, SecuritySettings

CERT = {
    "subject": ((("commonName", "CP1"),), (("organizationName", "Acme Charging"),)),
    "serialNumber": "0A1B",
}


def test_public_api() -> None:
    assert sorted(csms.security.__all__) == [
        "CaUnavailable",
        "CertificateError",
        "ConnectionSecurity",
        "CsrRefused",
        "Link",
        "OCPP_CIPHERS",
        "PeerCertificate",
        "SecurityError",
        "SecuritySettings",
        "ServerTls",
        "TlsConfigError",
    ]
    for name in csms.security.__all__:
        assert getattr(csms.security, name) is not None


def test_peer_certificate_from_the_ssl_dictionary() -> None:
    peer = peer_certificate(CERT)
    assert peer == PeerCertificate(("CP1",), ("Acme Charging",), "0A1B")


@pytest.mark.parametrize(
    ("peer", "station", "org", "refused"),
    [
        (PeerCertificate(("CP1",), (), "1"), "CP1", None, None),
        (PeerCertificate(("CP1",), ("Acme",), "1"), "CP1", "Acme", None),
        (PeerCertificate(("CP2",), ("Acme",), "1"), "CP1", None, "is for 'CP2', not 'CP1'"),
        (PeerCertificate(("cp1",), (), "1"), "CP1", None, "is for 'cp1'"),
        (PeerCertificate(("CP1",), ("Other",), "1"), "CP1", "Acme", "organization"),
        (PeerCertificate(("CP1",), (), "1"), "CP1", "Acme", "organization"),
        (PeerCertificate(("CP1",), ("Acme", "Other"), "1"), "CP1", "Acme", "organization"),
        (PeerCertificate((), (), "1"), "CP1", None, "0 common names"),
        (PeerCertificate(("CP1", "CP2"), (), "1"), "CP1", None, "2 common names"),
    ],
)
def test_identity(
    peer: PeerCertificate, station: str, org: str | None, refused: str | None
) -> None:
    reason = identity_refusal(peer, station, organization=org)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason


@pytest.mark.parametrize(
    ("link", "registered", "minimum", "ok"),
    [
        (1, None, 1, True),
        (1, 2, 1, False),
        (2, 2, 1, True),
        (2, 3, 1, False),
        (3, 3, 1, True),
        (3, 2, 1, True),  # a higher profile than required is fine
        (2, None, 3, False),
        (2, 1, 2, True),
        (1, 1, 2, False),  # a station's own profile never lowers the minimum
    ],
)
def test_profile_required(link: int, registered: int | None, minimum: int, ok: bool) -> None:
    reason = profile_refusal(Link(link), registered=registered, minimum=minimum)
    assert (reason is None) is ok
    if not ok:
        assert reason is not None and f"connected with profile {link}" in reason


def test_link_certified_only_when_identity_matches() -> None:
    peer = PeerCertificate(("CP1",), (), "1")
    assert Link(3, peer).certified
    assert not Link(3, peer, refusal="certificate is for someone else").certified
    assert not Link(2).certified


def test_settings_pairs() -> None:
    assert not SecuritySettings().tls
    assert SecuritySettings().tls_ciphers == OCPP_CIPHERS
    with pytest.raises(ValidationError, match="go together"):
        SecuritySettings(tls_cert_file=Path("a.pem"))
    with pytest.raises(ValidationError, match="needs tls_cert_file"):
        SecuritySettings(tls_ca_files=(Path("ca.pem"),))
    with pytest.raises(ValidationError, match="needs tls_ca_files"):
        SecuritySettings(
            tls_cert_file=Path("a"), tls_key_file=Path("b"), tls_crl_files=(Path("c"),)
        )
    with pytest.raises(ValidationError):
        SecuritySettings(minimum_profile=4)
    with pytest.raises(ValidationError):
        SecuritySettings(tls_min_version="1.1")  # type: ignore[arg-type]


def test_settings_from_toml_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "chargegrid.toml"
    f.write_text(
        '[security]\ntls_cert_file = "server.pem"\ntls_key_file = "server.key"\n'
        'tls_ca_files = ["stations-ca.pem"]\nminimum_profile = 2\n'
    )
    s = load_settings(f)
    assert s.security.tls and s.security.tls_ca_files == (Path("stations-ca.pem"),)
    monkeypatch.setenv("CHARGEGRID_SECURITY__MINIMUM_PROFILE", "3")
    monkeypatch.setenv("CHARGEGRID_SECURITY__CERTIFICATE_ORGANIZATION", "Acme Charging")
    s = load_settings(f)
    assert s.security.minimum_profile == 3
    assert s.security.certificate_organization == "Acme Charging"
    f.write_text('[security]\ntls_cert_file = "server.pem"\n')
    monkeypatch.delenv("CHARGEGRID_SECURITY__MINIMUM_PROFILE")
    with pytest.raises(ConfigError, match="go together"):
        load_settings(f)


def test_unusable_files_named(tmp_path: Path) -> None:
    from csms.security import ServerTls, TlsConfigError

    missing = SecuritySettings(tls_cert_file=tmp_path / "no.pem", tls_key_file=tmp_path / "no.key")
    with pytest.raises(TlsConfigError, match=r"no\.pem"):
        ServerTls(missing)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(TlsConfigError, match=r"junk\.pem"):
        ServerTls(SecuritySettings(tls_cert_file=junk, tls_key_file=junk))
