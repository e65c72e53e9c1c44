"""A simulated station's certificates: its own key and certificate (profile 3, renewed by
the CSR flow) and its trust store of installed root certificates.

Sans-I/O apart from writing the station's key and certificate files into its folder, so the
next TLS connection presents them. The key of a CSR stays with the station; the certificate
that comes back (CertificateSigned) is accepted only when it carries that key and the
station's id.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["StationCertificates", "hash_data"]


def hash_data(cert: x509.Certificate, issuer: x509.Certificate | None = None) -> dict[str, str]:
    """OCPP ``CertificateHashDataType`` (SHA256) of ``cert`` with the ``ocpp`` library's
    snake_case keys; a root is its own issuer."""
    issuer = issuer or cert
    key = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        "issuer_key_hash": hashlib.sha256(key).hexdigest(),
        "serial_number": format(cert.serial_number, "x"),
    }


@dataclass
class StationCertificates:
    """Key, certificate and trust store of one station, files under ``folder``."""

    station_id: str
    folder: Path
    organization: str | None = None
    #: installed roots by serial number: (certificate type, certificate)
    installed: dict[str, tuple[str, x509.Certificate]] = field(default_factory=dict)
    csrs_sent: int = 0
    certificates_accepted: int = 0
    certificates_refused: int = 0
    _pending_key: ec.EllipticCurvePrivateKey | None = None

    @property
    def cert_file(self) -> Path:
        return self.folder / f"{self.station_id}.pem"

    @property
    def key_file(self) -> Path:
        return self.folder / f"{self.station_id}.key"

    def new_csr(self) -> str:
        """A CSR for a fresh key (CN = station id, O = organization); the key is kept."""
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, self.station_id)]
        if self.organization:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organization))
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name(attrs))
            .sign(key, hashes.SHA256())
        )
        self._pending_key = key
        self.csrs_sent += 1
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def accept_chain(self, chain_pem: str) -> str | None:
        """Store the certificate of the pending CSR; the reason when it is refused."""
        reason = self._check(chain_pem)
        if reason is not None:
            self.certificates_refused += 1
            return reason
        key = self._pending_key
        assert key is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp_key = self.key_file.with_suffix(".key.new")
        fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        tmp_cert = self.cert_file.with_suffix(".pem.new")
        tmp_cert.write_text(chain_pem)
        tmp_key.replace(self.key_file)
        tmp_cert.replace(self.cert_file)
        self._pending_key = None
        self.certificates_accepted += 1
        return None

    def _check(self, chain_pem: str) -> str | None:
        if self._pending_key is None:
            return "no certificate was requested"
        try:
            chain = x509.load_pem_x509_certificates(chain_pem.encode())
        except ValueError:
            return "not a PEM certificate chain"
        leaf = chain[0]
        ours = self._pending_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        theirs = leaf.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if ours != theirs:
            return "the certificate is not for the key of the request"
        cns = [str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if cns != [self.station_id]:
            return f"the certificate is for {cns!r}"
        return None

    # -- trust store ------------------------------------------------------------------------
    def install(self, certificate_type: str, pem: str) -> str:
        """InstallCertificate: Accepted, or Rejected for something that is not a CA
        certificate."""
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except (ValueError, x509.ExtensionNotFound):
            return "Rejected"
        if not ca:
            return "Rejected"
        self.installed[format(cert.serial_number, "x")] = (certificate_type, cert)
        return "Accepted"

    def installed_ids(self, types: list[str] | None) -> list[tuple[str, dict[str, str]]]:
        """(certificate type, hash data) of the installed roots of ``types`` (None: all)."""
        return [
            (kind, hash_data(cert))
            for kind, cert in self.installed.values()
            if types is None or kind in types
        ]

    def delete(self, hash_data_: dict[str, str]) -> str:
        """DeleteCertificate: Accepted or NotFound."""
        serial = str(hash_data_.get("serial_number", "")).lower().lstrip("0") or "0"
        name_hash = str(hash_data_.get("issuer_name_hash", "")).lower()
        for key, (_kind, cert) in list(self.installed.items()):
            if (key.lstrip("0") or "0") == serial and hash_data(cert)[
                "issuer_name_hash"
            ] == name_hash:
                del self.installed[key]
                return "Accepted"
        return "NotFound"
