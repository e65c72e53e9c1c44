"""Critical security events kept for the alerts of the fleet overview.

Every SecurityEventNotification is stored as a station event and published on the bus
(:class:`csms.events.SecurityEventReceived`, ``station.security_event`` on the API stream);
this keeps the critical ones of the last ``window_s`` in memory, bounded, so the overview
can raise an alert without reading the store.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from csms.events import DomainEvent, EventBus, SecurityEventReceived

__all__ = ["SecurityAlerts"]


class SecurityAlerts:
    """The recent critical security events, newest last."""

    def __init__(self, bus: EventBus, *, max_events: int = 1000) -> None:
        self._events: deque[SecurityEventReceived] = deque(maxlen=max_events)
        self._unsubscribe = bus.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: DomainEvent) -> None:
        if isinstance(event, SecurityEventReceived) and event.critical:
            self._events.append(event)

    def recent(
        self, now: datetime, *, window: timedelta = timedelta(hours=24)
    ) -> list[SecurityEventReceived]:
        """Critical events of the last ``window`` (by the station's timestamp)."""
        return [e for e in self._events if now - window <= e.at <= now + timedelta(minutes=5)]
