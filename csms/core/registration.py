"""Who may connect and what a BootNotification is answered (sans-I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from csms.domain import RegistrationStatus
from csms.store.base import StationRecord

__all__ = ["Admission", "BootDecision", "admit", "decide_boot"]


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a WebSocket handshake may proceed, and whether it needs a password."""

    allowed: bool
    password_hash: str | None = None
    reason: str = ""
    #: the security profile the station must connect with (None: the server's minimum)
    security_profile: int | None = None
    #: a new password being rotated in, accepted beside ``password_hash``
    pending_password_hash: str | None = None
    #: a higher profile the station accepted to move to; reached when it connects on it
    pending_security_profile: int | None = None


@dataclass(frozen=True, slots=True)
class BootDecision:
    status: RegistrationStatus
    interval_s: int


def admit(record: StationRecord | None, policy: str) -> Admission:
    """Handshake decision for a station id under the unknown-stations ``policy``."""
    if record is None:
        if policy == "reject":
            return Admission(False, reason="unknown station")
        return Admission(True)
    return Admission(
        True,
        password_hash=record.password_hash,
        security_profile=record.security_profile,
        pending_password_hash=record.pending_password_hash,
        pending_security_profile=record.pending_security_profile,
    )


def decide_boot(
    record: StationRecord | None,
    policy: str,
    *,
    heartbeat_interval_s: int,
    pending_interval_s: int,
) -> BootDecision:
    """Registration status for a BootNotification: the operator's decision for a registered
    station; for an unknown one Pending or Accepted per policy (Rejected under ``reject``)."""
    if record is not None:
        status = record.registration
    elif policy == "accept":
        status = RegistrationStatus.ACCEPTED
    elif policy == "pending":
        status = RegistrationStatus.PENDING
    else:
        status = RegistrationStatus.REJECTED
    interval = heartbeat_interval_s if status is RegistrationStatus.ACCEPTED else pending_interval_s
    return BootDecision(status, interval)
