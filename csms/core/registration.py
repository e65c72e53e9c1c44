"""Who may connect and what a BootNotification is answered (sans-I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from csms.domain import RegistrationStatus
from csms.store.base import StationRecord

__all__ = ["Admission", "BootDecision", "BootPacer", "admit", "decide_boot"]


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


class BootPacer:
    """Accepts at most ``rate_per_s`` boots a second (bursts of one second's worth); the
    boots beyond it are to be answered Pending with the interval :meth:`take` gives: each
    one the next free second of a queue after those already sent away, so the stations of a
    reconnect storm come back spread at the rate the node serves instead of all at once."""

    def __init__(self, rate_per_s: float) -> None:
        if not (math.isfinite(rate_per_s) and rate_per_s > 0):
            raise ValueError(f"rate_per_s must be a positive number, not {rate_per_s!r}")
        self._step = 1.0 / rate_per_s
        self._burst = 1.0  # seconds of boots taken at once
        self._accept_at = -math.inf  # when the next boot may be accepted (GCRA)
        self._queue_at = -math.inf  # the next slot for a boot sent away

    def take(self, now: float) -> int:
        """0: accept this boot now; else the Pending interval in whole seconds (>= 1)."""
        start = max(self._accept_at, now)
        if start - now < self._burst - self._step / 2:  # half a step: float sums drift
            self._accept_at = start + self._step
            return 0
        slot = max(self._queue_at, start)
        self._queue_at = slot + self._step
        return max(1, math.ceil(slot - now - 1e-6))
