"""Exceptions of the security package.

::

    SecurityError
     ├── TlsConfigError          a certificate, key, CA or CRL file cannot be used
     └── CertificateError        a certificate request or certificate is refused
          ├── CsrRefused         a station's CSR is malformed or names another station
          └── CaUnavailable      the certificate authority cannot sign now (missing, expired)
"""

from __future__ import annotations

from csms.exceptions import CsmsError

__all__ = [
    "CaUnavailable",
    "CertificateError",
    "CsrRefused",
    "SecurityError",
    "TlsConfigError",
]


class SecurityError(CsmsError):
    """Base class of the security package's errors."""


class TlsConfigError(SecurityError):
    """A TLS file (certificate, key, CA, CRL) is missing or unusable."""


class CertificateError(SecurityError):
    """A certificate or certificate request is refused."""


class CsrRefused(CertificateError):
    """A certificate signing request is malformed, badly signed or names another station."""


class CaUnavailable(CertificateError):
    """The certificate authority cannot sign (not configured, expired, hook failed)."""
