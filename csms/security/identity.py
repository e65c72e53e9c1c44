"""Who a station certificate says it is, and whether that matches the station (sans-I/O).

OCPP 2.0.1 (part 2, A00 security profile 3): the certificate's subject common name (CN) is
the station's identity, and its organization (O) the operator's name. OpenSSL has already
checked the chain, the dates and the revocation list when these rules run.
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["PeerCertificate", "identity_refusal", "peer_certificate"]


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """The parts of a verified client certificate the identity rules read."""

    common_names: tuple[str, ...]
    organizations: tuple[str, ...]
    serial_number: str
    not_after: datetime | None = None


def peer_certificate(cert: dict[str, Any]) -> PeerCertificate:
    """From :meth:`ssl.SSLObject.getpeercert`'s dictionary."""
    cns: list[str] = []
    orgs: list[str] = []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cns.append(str(value))
            elif key == "organizationName":
                orgs.append(str(value))
    not_after = None
    if "notAfter" in cert:
        with contextlib.suppress(ValueError):
            seconds = ssl.cert_time_to_seconds(str(cert["notAfter"]))
            not_after = datetime.fromtimestamp(seconds, UTC)
    return PeerCertificate(tuple(cns), tuple(orgs), str(cert.get("serialNumber", "")), not_after)


def identity_refusal(
    peer: PeerCertificate, station_id: str, *, organization: str | None
) -> str | None:
    """Why ``peer`` may not connect as ``station_id`` (None: it may)."""
    if len(peer.common_names) != 1:
        return f"certificate has {len(peer.common_names)} common names, expected one"
    if peer.common_names[0] != station_id:
        return f"certificate is for {peer.common_names[0]!r}, not {station_id!r}"
    if organization is not None and peer.organizations != (organization,):
        return f"certificate organization {list(peer.organizations)!r} is not {organization!r}"
    return None
