"""OCPP security: TLS profiles 2 and 3, station certificates, connection hardening.

The OCPP server (:mod:`csms.ocpp.server`) reaches this package only through
:class:`ConnectionSecurity`.
"""

from __future__ import annotations

from csms.security.connections import ConnectionSecurity
from csms.security.exceptions import (
    CaUnavailable,
    CertificateError,
    CsrRefused,
    SecurityError,
    TlsConfigError,
)
from csms.security.gate import Link
from csms.security.identity import PeerCertificate
from csms.security.settings import OCPP_CIPHERS, SecuritySettings
from csms.security.tls import ServerTls

__all__ = [
    "OCPP_CIPHERS",
    "CaUnavailable",
    "CertificateError",
    "ConnectionSecurity",
    "CsrRefused",
    "Link",
    "PeerCertificate",
    "SecurityError",
    "SecuritySettings",
    "ServerTls",
    "TlsConfigError",
]
