"""A simulated station's TLS (OCPP security profiles 2 and 3).

Profile 2: the central system's CA file (the station checks the server certificate) and a
Basic-auth password. Profile 3: also the station's own certificate and key, presented to the
central system. The files are read at every connection attempt, so a certificate the
station has just been given (CertificateSigned) is the one it presents next time.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StationTls"]


@dataclass(frozen=True, slots=True)
class StationTls:
    """The files a station's TLS client reads."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None
    #: the lowest TLS version the station offers (OCPP: 1.2)
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a station certificate needs its key (cert_file with key_file)")

    @property
    def profile(self) -> int:
        """The security profile these files give: 3 with a client certificate, else 2."""
        return 3 if self.cert_file is not None else 2

    def context(self) -> ssl.SSLContext:
        """A fresh client context from the files as they are now."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        ctx.minimum_version = self.min_version
        if self.cert_file is not None and self.key_file is not None:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx
