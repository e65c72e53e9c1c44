"""chargegrid's own certificate authority for station certificates (built with
``cryptography``), and the rules a station's certificate signing request must meet.

The CA lives in a folder: ``ca.pem`` (the self-signed root, public) and ``ca.key`` (its
private key, created with permissions 0600 and refused when anyone but the owner can read
it). :meth:`CertificateAuthority.sign` turns a station's CSR (OCPP SignCertificate) into the
PEM chain sent back in CertificateSigned and notes the certificate in ``issued.jsonl`` (one
JSON line each: serial, station, end). :meth:`CertificateAuthority.revoke` adds certificates
to ``ca.crl``, the CA's signed revocation list (X.509 CRL, PEM), rewritten whole (a new file
renamed over the old); :meth:`CertificateAuthority.refresh_crl` re-signs it before its
``nextUpdate`` so that a TLS peer checking it never finds it stale.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from csms.security.exceptions import CaUnavailable, CsrRefused

__all__ = [
    "CRL_DAYS",
    "REVOCATION_REASONS",
    "CertificateAuthority",
    "CsrInfo",
    "IssuedCertificate",
    "check_csr",
    "load_crl",
]

_CERT = "ca.pem"
_KEY = "ca.key"
_CRL = "ca.crl"
_ISSUED = "issued.jsonl"

#: how long a revocation list the CA signs is valid (``nextUpdate``); re-signed at half
CRL_DAYS = 7

#: the RFC 5280 reasons an operator may give for a revocation
REVOCATION_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
}


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A station certificate this CA signed (a line of ``issued.jsonl``)."""

    serial_number: int
    station_id: str
    not_after: datetime


def load_crl(path: Path, issuer: x509.Certificate) -> x509.CertificateRevocationList:
    """The CRL in ``path``, checked: signed by ``issuer``'s key and naming it. Raises
    :class:`CaUnavailable`."""
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
    except OSError as exc:
        raise CaUnavailable(f"{path}: cannot read the CRL: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise CaUnavailable(f"{path}: not a PEM CRL: {exc}") from exc
    public_key = issuer.public_key()
    if crl.issuer != issuer.subject or not crl.is_signature_valid(public_key):  # type: ignore[arg-type]
        raise CaUnavailable(f"{path}: the CRL is not signed by {issuer.subject.rfc4514_string()}")
    return crl


@dataclass(frozen=True, slots=True)
class CsrInfo:
    """A checked certificate signing request."""

    csr: x509.CertificateSigningRequest
    common_name: str
    organization: str | None


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def _name(common_name: str, organization: str | None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: CertificatePublicKeyTypes,
    *,
    now: datetime,
    end: datetime,
    ca: bool,
) -> x509.CertificateBuilder:
    """A certificate valid from five minutes ago (clocks differ) to ``end``: a CA's, which
    signs certificates and revocation lists, or a station's, which signs and agrees keys."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=not ca,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def check_csr(pem: str, *, station_id: str, organization: str | None) -> CsrInfo:
    """Parse and check a station's CSR: well formed, self-signed with the key it carries,
    a strong enough key, CN = the station's id, O = ``organization`` when set. Raises
    :class:`CsrRefused` with the reason."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError) as exc:
        raise CsrRefused("not a PEM certificate signing request") from exc
    try:
        if not csr.is_signature_valid:
            raise CsrRefused("the CSR's signature does not verify")
        key = csr.public_key()
    except (ValueError, InvalidSignature) as exc:
        raise CsrRefused(f"unreadable CSR: {exc}") from exc
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < 256:
            raise CsrRefused(f"elliptic curve {key.curve.name} is too weak")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise CsrRefused(f"RSA key of {key.key_size} bits is too weak (2048 at least)")
    else:
        raise CsrRefused(f"unsupported key type {type(key).__name__}")
    cns = _attr(csr.subject, NameOID.COMMON_NAME)
    if cns != [station_id]:
        raise CsrRefused(f"the CSR is for {cns!r}, not for station {station_id!r}")
    orgs = _attr(csr.subject, NameOID.ORGANIZATION_NAME)
    if organization is not None and orgs != [organization]:
        raise CsrRefused(f"the CSR's organization {orgs!r} is not {organization!r}")
    return CsrInfo(csr, station_id, orgs[0] if orgs else None)


class CertificateAuthority:
    """A CA in a folder: create it once, then sign station CSRs with it."""

    def __init__(
        self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, folder: Path | None = None
    ) -> None:
        self.cert = cert
        self._key = key
        #: where ca.crl and issued.jsonl are kept (None: a CA in memory, nothing kept)
        self.folder = folder

    @property
    def crl_path(self) -> Path | None:
        return None if self.folder is None else self.folder / _CRL

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @classmethod
    def create(
        cls,
        folder: Path,
        *,
        name: str,
        organization: str | None,
        now: datetime,
        valid_days: int = 3650,
    ) -> CertificateAuthority:
        """A new root CA in ``folder`` (which must not hold one)."""
        folder.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = folder / _CERT, folder / _KEY
        if cert_path.exists() or key_path.exists():
            raise CaUnavailable(f"{folder} already holds a CA")
        key = ec.generate_private_key(ec.SECP384R1())
        subject = _name(name, organization or None)
        cert = (
            _certificate(
                subject,
                subject,
                key.public_key(),
                now=now,
                end=now + timedelta(days=valid_days),
                ca=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA384())
        )
        pem_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # The key file is created 0600 before a byte is written (no window where it is not).
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem_key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca = cls(cert, key, folder)
        ca.refresh_crl(now=now)
        return ca

    @classmethod
    def load(cls, folder: Path) -> CertificateAuthority:
        """The CA in ``folder``; refused when its key is readable by others."""
        cert_path, key_path = folder / _CERT, folder / _KEY
        try:
            mode = key_path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise CaUnavailable(
                    f"{key_path}: permissions {stat.filemode(mode)}; the CA key must be "
                    "readable by its owner only (chmod 600)"
                )
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except OSError as exc:
            raise CaUnavailable(f"{folder}: no usable CA: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise CaUnavailable(f"{folder}: unreadable CA files: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CaUnavailable(f"{key_path}: expected an elliptic-curve key")
        return cls(cert, key, folder)

    def sign(
        self,
        info: CsrInfo,
        *,
        now: datetime,
        valid_days: int = 365,
    ) -> str:
        """The station certificate for a checked CSR, then the CA: the PEM chain of
        CertificateSigned. Raises :class:`CaUnavailable` when the CA has expired."""
        ca_end = self.cert.not_valid_after_utc
        if ca_end <= now or self.cert.not_valid_before_utc > now:
            raise CaUnavailable(f"the CA certificate is not valid now (valid until {ca_end})")
        end = min(now + timedelta(days=valid_days), ca_end)
        cert = (
            _certificate(
                _name(info.common_name, info.organization),
                self.cert.subject,
                info.csr.public_key(),
                now=now,
                end=end,
                ca=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
            .sign(self._key, hashes.SHA384())
        )
        self._note_issued(IssuedCertificate(cert.serial_number, info.common_name, end))
        return cert.public_bytes(serialization.Encoding.PEM).decode() + self.cert_pem

    # -- what was issued, what is revoked -----------------------------------------------------
    def _note_issued(self, issued: IssuedCertificate) -> None:
        if self.folder is None:
            return
        line = json.dumps(
            {
                "serial_number": format(issued.serial_number, "x"),
                "station_id": issued.station_id,
                "not_after": issued.not_after.isoformat(),
            }
        )
        fd = os.open(self.folder / _ISSUED, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        with os.fdopen(fd, "a") as f:
            f.write(line + "\n")

    def issued(self, station_id: str | None = None) -> list[IssuedCertificate]:
        """The certificates this CA signed (for ``station_id`` only when given), oldest first."""
        path = None if self.folder is None else self.folder / _ISSUED
        if path is None or not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                d = json.loads(line)
                item = IssuedCertificate(
                    int(d["serial_number"], 16),
                    str(d["station_id"]),
                    datetime.fromisoformat(d["not_after"]),
                )
            except (ValueError, KeyError, TypeError):
                continue  # a line torn by a crash: skipped, the others still count
            if station_id is None or item.station_id == station_id:
                out.append(item)
        return out

    def revoked(self) -> dict[int, datetime]:
        """Serial number -> revocation date of every certificate in ``ca.crl``."""
        path = self.crl_path
        if path is None or not path.exists():
            return {}
        return {r.serial_number: r.revocation_date_utc for r in load_crl(path, self.cert)}

    def revoke(
        self, serial_numbers: list[int], *, reason: str = "unspecified", now: datetime
    ) -> list[int]:
        """Add certificates to the CRL (rewritten at once); the ones not revoked before."""
        if reason not in REVOCATION_REASONS:
            raise ValueError(
                f"revocation reason {reason!r} is not one of {', '.join(REVOCATION_REASONS)}"
            )
        path = self.crl_path
        if path is None:
            raise CaUnavailable("this CA has no folder to keep its revocation list in")
        crl = load_crl(path, self.cert) if path.exists() else None
        entries = list(crl) if crl is not None else []
        known = {e.serial_number for e in entries}
        new = [s for s in dict.fromkeys(serial_numbers) if s not in known]
        for serial in new:
            builder = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now)
            if reason != "unspecified":
                builder = builder.add_extension(
                    x509.CRLReason(REVOCATION_REASONS[reason]), critical=False
                )
            entries.append(builder.build())
        if new or crl is None:
            self._write_crl(entries, now=now, number=_crl_number(crl) + 1)
        return new

    def refresh_crl(self, *, now: datetime, force: bool = False) -> bool:
        """Re-sign the CRL when it is missing or past half its validity; True when written."""
        path = self.crl_path
        if path is None:
            return False
        crl = load_crl(path, self.cert) if path.exists() else None
        if crl is not None and not force:
            next_update = crl.next_update_utc
            if next_update is not None and next_update - now > timedelta(days=CRL_DAYS / 2):
                return False
        self._write_crl(list(crl) if crl is not None else [], now=now, number=_crl_number(crl) + 1)
        return True

    def _write_crl(
        self, entries: list[x509.RevokedCertificate], *, now: datetime, number: int
    ) -> None:
        assert self.folder is not None
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + timedelta(days=CRL_DAYS))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
        )
        for entry in entries:
            builder = builder.add_revoked_certificate(entry)
        crl = builder.sign(self._key, hashes.SHA384())
        tmp = self.folder / f".{_CRL}.{os.getpid()}.tmp"
        tmp.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        os.replace(tmp, self.folder / _CRL)


def _crl_number(crl: x509.CertificateRevocationList | None) -> int:
    if crl is None:
        return 0
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return 0
