"""The security profile a connection arrived with and whether the station may use it.

* profile 1: plain ``ws://`` with HTTP Basic auth;
* profile 2: TLS, HTTP Basic auth, no client certificate;
* profile 3: TLS with a client certificate that verified against the configured CAs, whose
  common name is the station id (and organization the operator's, when configured). The
  certificate authenticates the station; no password is asked for.

A station is refused on a lower profile than the one registered for it (or the configured
minimum): a station registered for 3 cannot fall back to a password (a downgrade attempt).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from csms.security.identity import PeerCertificate, identity_refusal, peer_certificate

__all__ = ["Link", "link_of", "profile_refusal"]


@dataclass(frozen=True, slots=True)
class Link:
    """How a connection is secured."""

    profile: int
    certificate: PeerCertificate | None = None
    #: why the connection may not be used by the station it names (None: it may)
    refusal: str | None = None

    @property
    def certified(self) -> bool:
        """The station proved its identity with a certificate (profile 3)."""
        return self.profile == 3 and self.refusal is None


def link_of(transport: Any, station_id: str, *, organization: str | None) -> Link:
    """The :class:`Link` of a connection from its asyncio transport."""
    sslobj = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(sslobj, ssl.SSLObject | ssl.SSLSocket):
        return Link(1)
    cert = sslobj.getpeercert()
    if not cert:
        return Link(2)
    peer = peer_certificate(cert)
    return Link(3, peer, identity_refusal(peer, station_id, organization=organization))


def profile_refusal(link: Link, *, registered: int | None, minimum: int) -> str | None:
    """Why a station registered for ``registered`` (None: no own profile) may not use
    ``link`` under the server's ``minimum`` profile."""
    required = max(minimum, registered or 0)
    if link.profile < required:
        return f"security profile {required} required, connected with profile {link.profile}"
    return None
