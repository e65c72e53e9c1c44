"""The ``[security]`` section: TLS (security profiles 2 and 3) and connection hardening.

With ``tls_cert_file`` and ``tls_key_file`` set, the OCPP server speaks ``wss://`` only
(profiles 2 and 3 on the same port); with ``tls_ca_files`` set as well, stations may
present a client certificate issued by one of those CAs (profile 3). Every option has an
environment variable ``CHARGEGRID_SECURITY__<OPTION>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["OCPP_CIPHERS", "SecuritySettings"]

#: TLS 1.2 cipher suites of the OCPP 2.0.1 security part (and the 1.6 security whitepaper):
#: the two ECDHE-ECDSA suites every station supports, the two RSA suites a central system
#: must also accept, and their ECDHE-RSA forms (forward secrecy with an RSA server key).
#: TLS 1.3 suites are OpenSSL's (all AEAD) and not limited by this string.
OCPP_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
    )
)


class SecuritySettings(BaseModel):
    """TLS for the OCPP endpoint, station certificates, and limits on who may connect how
    often."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tls_cert_file: Path | None = Field(
        default=None,
        description="PEM server certificate (chain); with tls_key_file the OCPP server "
        "speaks wss:// (profiles 2 and 3); reloaded when the file changes",
    )
    tls_key_file: Path | None = Field(
        default=None, description="PEM private key of tls_cert_file (reloaded with it)"
    )
    tls_ca_files: tuple[Path, ...] = Field(
        default=(),
        description="PEM CA certificates station (client) certificates must chain to; "
        "empty = no client certificates asked for (no profile 3)",
    )
    tls_crl_files: tuple[Path, ...] = Field(
        default=(),
        description="PEM certificate revocation lists; when set, every station certificate "
        "is checked against its CA's CRL (each CA then needs one)",
    )
    tls_min_version: Literal["1.2", "1.3"] = Field(
        default="1.2", description="oldest TLS version accepted"
    )
    tls_ciphers: str = Field(
        default=OCPP_CIPHERS,
        description="OpenSSL cipher list for TLS 1.2 (default: the OCPP 2.0.1 suites)",
    )
    tls_reload_interval_s: float | None = Field(
        default=10.0,
        gt=0,
        description="how often the certificate, key, CA and CRL files are checked for "
        "changes (null = never reload)",
    )
    certificate_organization: str | None = Field(
        default=None,
        description="when set, a station certificate's organization (O) must equal it "
        "(the operator's name); its common name (CN) must always equal the station id",
    )
    handshake_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="a TLS handshake not finished in this long is dropped",
    )
    minimum_profile: int = Field(
        default=1,
        ge=1,
        le=3,
        description="lowest security profile any station may connect with; a station's "
        "own registered profile can only raise it",
    )

    @model_validator(mode="after")
    def _pairs(self) -> SecuritySettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_ca_files and self.tls_cert_file is None:
            raise ValueError("tls_ca_files needs tls_cert_file and tls_key_file")
        if self.tls_crl_files and not self.tls_ca_files:
            raise ValueError("tls_crl_files needs tls_ca_files")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None
