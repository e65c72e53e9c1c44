"""Domain events as API events, fanned out to bounded per-client queues.

:func:`api_event` turns a domain event into an :class:`ApiEvent` (type, time, site, station,
JSON data). :class:`EventHub` takes events from the :class:`~csms.events.EventBus` (or from
any other publisher, e.g. the site service) and offers each one to every matching
:class:`Subscription`. Offering never blocks: a subscription whose queue is full is marked
*dropped* and removed, so a slow client loses its stream instead of slowing the bus; it sees
what it had queued, then the end of the stream.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from csms import events as ev
from csms.events import HeartbeatReceived
from csms.jsonable import to_json

__all__ = [
    "DRIVER_EVENT_TYPES",
    "EVENT_TYPES",
    "GAP_EVENT",
    "ApiEvent",
    "EventFilter",
    "EventHub",
    "Subscription",
    "api_event",
    "check_type_filter",
    "to_json",
]

logger = logging.getLogger(__name__)

#: Every event type the stream sends (``type=`` filters name these or their families).
EVENT_TYPES = frozenset(
    {
        "station.connected",
        "station.disconnected",
        "station.booted",
        "station.status",
        "station.non_compliant",
        "station.security_event",
        "transaction.started",
        "transaction.updated",
        "transaction.ended",
        "meter.values",
        "ev.charging_needs",
        "limit.sent",
        "site.changed",
        "constraint.created",
        "constraint.cancelled",
        "plan.updated",
        "departure.missed",
        "der.control_set",
        "der.controls_cleared",
        "der.controls_reported",
        "der.alarm",
        "der.start_stop",
        "swap.updated",
        "swap.no_ready_pack",
        "storage.dispatched",
    }
)
#: sent first to a reconnecting client whose ``Last-Event-ID`` is older than the replay
#: buffer (or from an earlier process): events were missed
GAP_EVENT = "stream.gap"


def check_type_filter(value: str) -> str | None:
    """Why ``value`` is not an event type or family (``station.*``); None when it is."""
    if value in EVENT_TYPES:
        return None
    if value.endswith(".*") and any(t.startswith(value[:-1]) for t in EVENT_TYPES):
        return None
    return (
        f"unknown event type {value!r} (one of {', '.join(sorted(EVENT_TYPES))} or a family "
        "like station.*)"
    )


#: Event types that carry driver or session data (hidden from grid operators).
DRIVER_EVENT_TYPES = frozenset(
    {
        "transaction.started",
        "transaction.updated",
        "transaction.ended",
        "ev.charging_needs",
        "departure.missed",
        "swap.updated",
    }
)


@dataclass(frozen=True, slots=True)
class ApiEvent:
    id: int
    type: str
    at: datetime
    station_id: str | None
    site_id: str | None
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "at": self.at.isoformat(),
            "site_id": self.site_id,
            "station_id": self.station_id,
            "data": self.data,
        }


class _AtStation(Protocol):
    station_id: str
    at: datetime


class _AtSite(Protocol):
    site_id: str
    at: datetime


#: the events described by their own station and time, whole: ``(type, station_id, at,
#: event)``
_AT_STATION: dict[type, str] = {
    ev.StationConnected: "station.connected",
    ev.StationDisconnected: "station.disconnected",
    ev.StationBooted: "station.booted",
    ev.StationNonCompliant: "station.non_compliant",
    ev.SecurityEventReceived: "station.security_event",
    ev.DerControlSet: "der.control_set",
    ev.DerControlsCleared: "der.controls_cleared",
    ev.DerControlsReported: "der.controls_reported",
}

#: the site-level events described by their own site and time, whole: ``(type, site_id,
#: at, event)``
_AT_SITE: dict[type, str] = {
    ev.SiteChanged: "site.changed",
    ev.PlanUpdated: "plan.updated",
    ev.DepartureMissed: "departure.missed",
    ev.SwapWithoutReadyPack: "swap.no_ready_pack",
    ev.StorageDispatched: "storage.dispatched",
}


def _describe(event: ev.DomainEvent) -> tuple[str, str | None, datetime | None, Any] | None:
    """``(type, station_id, at, payload)`` of a domain event; None for ones not exposed."""
    kind = _AT_STATION.get(type(event))
    if kind is not None:
        e = cast(_AtStation, event)
        return kind, e.station_id, e.at, event
    match event:
        case ev.StatusChanged():
            r = event.report
            return "station.status", r.station_id, r.timestamp, r
        case ev.TransactionStarted():
            tx = event.transaction
            return "transaction.started", tx.station_id, tx.started_at, tx
        case ev.TransactionUpdated():
            tx = event.transaction
            return "transaction.updated", tx.station_id, None, tx
        case ev.TransactionEnded():
            tx = event.transaction
            return "transaction.ended", tx.station_id, tx.stopped_at, tx
        case ev.MeterValuesReceived():
            at = event.samples[-1].timestamp if event.samples else None
            return "meter.values", event.station_id, at, event
        case ev.EVChargingNeedsReceived():
            return "ev.charging_needs", event.station_id, None, event
        case ev.ChargingLimitSent():
            return "limit.sent", event.limit.station_id, event.at, event
        case ev.DerAlarmRaised():
            return "der.alarm", event.station_id, event.alarm.at, event.alarm
        case ev.DerStartStopped():
            return "der.start_stop", event.station_id, event.change.at, event.change
        case ev.BatterySwapUpdated():
            return "swap.updated", event.station_id, event.at, event.swap
    return None


def _describe_site(event: object) -> tuple[str, str, datetime, Any] | None:
    """``(type, site_id, at, payload)`` of a site-level event."""
    kind = _AT_SITE.get(type(event))
    if kind is not None:
        s = cast(_AtSite, event)
        return kind, s.site_id, s.at, event
    if isinstance(event, ev.ConstraintsChanged):
        return f"constraint.{event.change}", event.site_id, event.at, event
    return None


def api_event(
    event: Any,
    *,
    event_id: int,
    now: datetime,
    site_of: Callable[[str], str | None],
) -> ApiEvent | None:
    """The API form of a domain event (None for heartbeats and unknown kinds)."""
    site_level = _describe_site(event)
    if site_level is not None:
        kind, site, when, payload = site_level
        sid = getattr(event, "station_id", None)
        return ApiEvent(event_id, kind, when, sid, site, to_json(payload))
    described = _describe(event)
    if described is None:
        return None
    kind, station_id, at, payload = described
    site_id = site_of(station_id) if station_id is not None else None
    return ApiEvent(event_id, kind, at or now, station_id, site_id, to_json(payload))


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a client wants and may see."""

    site_ids: frozenset[str] | None = None  # None: every site the grant covers
    station_ids: frozenset[str] | None = None
    types: frozenset[str] | None = None
    #: the caller's grant; None = every site (including stations on no site).
    granted_sites: frozenset[str] | None = None
    hide_types: frozenset[str] = frozenset()

    def matches(self, event: ApiEvent) -> bool:
        if event.type in self.hide_types:
            return False
        if self.types is not None and not any(
            event.type == t or (t.endswith(".*") and event.type.startswith(t[:-1]))
            for t in self.types
        ):
            return False
        if self.granted_sites is not None and event.site_id not in self.granted_sites:
            return False
        if self.site_ids is not None and event.site_id not in self.site_ids:
            return False
        return self.station_ids is None or event.station_id in self.station_ids


@dataclass(eq=False)
class Subscription:
    """One client's bounded queue."""

    filter: EventFilter
    max_queue: int
    dropped: bool = False
    closed: bool = False
    _items: deque[ApiEvent] = field(default_factory=deque)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: ApiEvent) -> bool:
        """Queue ``event``; False (and the subscription is dropped) when the queue is full."""
        if self.dropped or self.closed:
            return False
        if len(self._items) >= self.max_queue:
            self.dropped = True
            self._wake.set()
            return False
        self._items.append(event)
        self._wake.set()
        return True

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    def pending(self) -> int:
        return len(self._items)

    async def next(self, *, timeout_s: float | None = None) -> ApiEvent | None:
        """The next event; None at the end of the stream (dropped or closed) or on timeout
        (check :attr:`ended` to tell them apart)."""
        while not self._items:
            if self.dropped or self.closed:
                return None
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout_s)
            except TimeoutError:
                return None
        return self._items.popleft()

    @property
    def ended(self) -> bool:
        return (self.dropped or self.closed) and not self._items


class EventHub:
    """Fan-out from the bus to subscriptions and listeners (the webhook dispatcher)."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        site_of: Callable[[str], str | None],
        replay_events: int = 0,
    ) -> None:
        self._now = now
        #: names this process's event ids (``Last-Event-ID`` is ``<epoch>.<id>``)
        self.epoch = secrets.token_hex(4)
        self._recent: deque[tuple[int, Any, datetime]] = deque(maxlen=max(replay_events, 1))
        self._replay = replay_events > 0
        self._site_of = site_of
        self._ids = itertools.count(1)
        self._issued = 0  # the last event id given
        self._subs: list[Subscription] = []
        self._listeners: list[Callable[[ApiEvent], None]] = []
        self.dropped_total = 0

    def subscribe(
        self, flt: EventFilter, *, max_queue: int, last_event_id: str | None = None
    ) -> Subscription:
        """A new subscription; with ``last_event_id`` (from a reconnecting client) the kept
        events after it are queued first: all of them when the id names an earlier process."""
        sub = Subscription(flt, max_queue)
        if last_event_id is not None:
            epoch, _, number = last_event_id.partition(".")
            known = epoch == self.epoch and number.isdigit()
            after = int(number) if known else 0
            kept = tuple(self._recent) if self._replay else ()
            first = kept[0][0] if kept else self._issued + 1
            if not known or after + 1 < first:
                # Events after the client's last one are no longer kept (or were another
                # process's): say so before the replay instead of skipping them silently.
                sub.offer(
                    ApiEvent(
                        id=first - 1,
                        type=GAP_EVENT,
                        at=self._now(),
                        station_id=None,
                        site_id=None,
                        data={
                            "last_event_id": last_event_id,
                            "missed": first - 1 - after if known else None,
                            "reason": "older than the replay buffer"
                            if known
                            else "an earlier process's or an unknown event id",
                        },
                    )
                )
        if last_event_id is not None and self._replay:
            for event_id, event, at in kept:
                if event_id <= after:
                    continue
                api = api_event(event, event_id=event_id, now=at, site_of=self._site_of)
                if api is not None and flt.matches(api) and not sub.offer(api):
                    break
        if not sub.dropped:
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        if sub in self._subs:
            self._subs.remove(sub)

    def add_listener(self, listener: Callable[[ApiEvent], None]) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    @property
    def subscriptions(self) -> int:
        return len(self._subs)

    def publish(self, event: Any, *, deliver: bool = True) -> ApiEvent | None:
        """Bus listener: keep for replay, convert and fan out (only when ``deliver``: someone
        listens). Never blocks, never raises for a client."""
        if isinstance(event, HeartbeatReceived):
            return None
        event_id, at = next(self._ids), self._now()
        self._issued = event_id
        if self._replay:
            self._recent.append((event_id, event, at))
        if not deliver:
            return None
        api = api_event(event, event_id=event_id, now=at, site_of=self._site_of)
        if api is None:
            return None
        self.fan_out(api)
        return api

    def fan_out(self, api: ApiEvent) -> None:
        for sub in tuple(self._subs):
            if sub.filter.matches(api) and not sub.offer(api):
                self._subs.remove(sub)
                self.dropped_total += 1
                logger.warning("event stream client dropped: %d events queued", sub.max_queue)
        for listener in tuple(self._listeners):
            try:
                listener(api)
            except Exception:
                logger.exception("API event listener %r failed", listener)

    def close(self) -> None:
        for sub in self._subs:
            sub.close()
        self._subs.clear()


def sse_frame(event: ApiEvent, *, epoch: str = "") -> bytes:
    import json

    data = json.dumps(event.as_json(), separators=(",", ":"))
    event_id = f"{epoch}.{event.id}" if epoch else str(event.id)
    return f"id: {event_id}\nevent: {event.type}\ndata: {data}\n\n".encode()


def types_of(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v for v in values if v)
