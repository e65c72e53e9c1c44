"""Whether a station certificate chargegrid's own CA issued has been revoked.

The own CA's revocation list (``ca.crl`` in ``security.ca_folder``, written by
:meth:`csms.security.ca.CertificateAuthority.revoke`) is checked for every profile-3
connection whose certificate that CA issued, right after the TLS handshake, whatever
``tls_crl_files`` says (listing ``ca.crl`` there as well has OpenSSL refuse it in the
handshake, but then every station CA needs a CRL). The list is read again whenever the file
changes (a ``stat`` per check): a revocation applies to the next connection, without a
restart. A list that cannot be read or does not verify leaves the last good one in force
(a revocation is never forgotten by a broken file) and is logged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography import x509

from csms.security.ca import load_crl
from csms.security.exceptions import CaUnavailable

__all__ = ["OwnCaRevocations"]

logger = logging.getLogger(__name__)

_Stamp = tuple[int, int, int]


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class OwnCaRevocations:
    """The revoked serial numbers of the CA in ``folder``, kept in step with its CRL."""

    def __init__(self, folder: Path) -> None:
        self.ca_file = folder / "ca.pem"
        self.crl_file = folder / "ca.crl"
        self._ca: x509.Certificate | None = None
        self._ca_stamp: _Stamp | None = None
        self._crl_stamp: _Stamp | None = None
        self._revoked: frozenset[int] = frozenset()
        #: CRL files that could not be used (each logged at ERROR)
        self.load_failures = 0

    @property
    def revoked(self) -> frozenset[int]:
        self.refresh()
        return self._revoked

    def refresh(self) -> None:
        """Read the CA certificate and the CRL again if either file changed."""
        ca_stamp = _stamp(self.ca_file)
        if ca_stamp != self._ca_stamp:
            self._ca_stamp = ca_stamp
            try:
                ca = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
            except (OSError, ValueError) as exc:
                logger.error(
                    "own CA %s unreadable, revocations kept as they were: %s", self.ca_file, exc
                )
            else:
                if self._ca is not None and ca != self._ca:
                    self._revoked = frozenset()  # another CA: its own list from now on
                self._ca = ca
            self._crl_stamp = None  # the CRL is judged against the CA it now has
        crl_stamp = _stamp(self.crl_file)
        if crl_stamp == self._crl_stamp or self._ca is None:
            return
        self._crl_stamp = crl_stamp
        if crl_stamp is None:
            return  # no list (yet): nothing revoked beyond what was read before
        try:
            crl = load_crl(self.crl_file, self._ca)
        except CaUnavailable as exc:
            self.load_failures += 1
            logger.error("own CA revocation list not used, the previous one stays: %s", exc)
            return
        # Entries only ever join a CRL; keep every one seen (a rollback cannot un-revoke).
        self._revoked = self._revoked | {entry.serial_number for entry in crl}

    def refusal(self, der: bytes) -> str | None:
        """Why the certificate (DER, as the station presented it) is refused: revoked by
        the own CA. None when it is not, or not the own CA's."""
        self.refresh()
        if self._ca is None or not self._revoked:
            return None
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return None
        if cert.issuer != self._ca.subject or cert.serial_number not in self._revoked:
            return None
        return f"certificate {cert.serial_number:x} was revoked by chargegrid's CA"
