"""What a simulated station counts while it runs (``chargegrid sim`` prints it)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RunnerStats"]


@dataclass(slots=True)
class RunnerStats:
    connects: int = 0
    disconnects: int = 0
    boots_rejected: int = 0
    boots_pending: int = 0
    calls_sent: int = 0
    calls_received: int = 0
    #: Calls from the central system answered with a CALLERROR (schema-invalid, unknown, ...).
    calls_refused: int = 0
    #: Charging profiles answered Rejected (unreadable, the wrong purpose, not applicable).
    profiles_rejected: int = 0
    call_errors: int = 0
    timeouts: int = 0
    dropped: int = 0
    offline_queued: int = 0
    last_error: str = ""
    errors: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.last_error = text
        if len(self.errors) < 20:
            self.errors.append(text)
