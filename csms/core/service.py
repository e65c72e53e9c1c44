"""The central system's message handling, version-neutral.

Adapters convert each OCPP message to domain types and call one method here; the method
applies the pure rules of this package, awaits the durable store write (held and retried
while the store is unavailable, see :mod:`csms.core.durability`), publishes the domain
event and returns what the adapter needs for its answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import hmac
import logging
import secrets
from datetime import datetime
from typing import Any, Protocol

from chargegrid.clock import Clock
from csms.core.answers import Untold
from csms.core.connection_writes import ConnectionWrites
from csms.core.der import DerHandling
from csms.core.durability import Retrying
from csms.core.open_transactions import OpenTransactions
from csms.core.passwords import hash_password, verify_password
from csms.core.registration import Admission, BootDecision, BootPacer, admit, decide_boot
from csms.core.remote_start import RemoteStarts
from csms.core.sessions import SessionHandling, TransactionAnswer
from csms.core.station_cache import StationCache
from csms.core.swaps import SwapHandling
from csms.der.repository import der_repository_for
from csms.domain import (
    BootInfo,
    DeviceEvent,
    RegistrationStatus,
    StatusReport,
    Transaction,
)
from csms.events import (
    DeviceEventsNotified,
    EventBus,
    HeartbeatReceived,
    MeterValueUnreadable,
    SecurityEventReceived,
    StationBooted,
    StationConnected,
    StationDisconnected,
    StatusChanged,
)
from csms.exceptions import StoreError
from csms.store.base import StationEvent, StationRecord, Store
from csms.swaps.repository import swap_repository_for

__all__ = ["CentralSystem", "CertificateRequests", "TransactionAnswer"]


logger = logging.getLogger(__name__)

#: Verified (stored hash, presented password) outcomes kept per process: a 10,000-station
#: fleet with one password each, and room for failed guesses without evicting them.
_VERIFIED_MAX = 50_000
#: How long a record read at admission stands for the connection's registration and boot.
_ADMITTED_FRESH_S = 10.0
#: Changes kept in the store's station change feed (pruned at start): a node further behind
#: than this forgets its cached records and reads them again.
_FEED_KEPT = 100_000


@functools.cache
def _decoy_hash() -> str:
    """A hash no password matches, checked for unknown station ids (made once)."""
    return hash_password(secrets.token_urlsafe(24))


class CertificateRequests(Protocol):
    """Who answers a station's SignCertificate (csms.security.CertificateService)."""

    async def on_sign_certificate(
        self, station_id: str, csr: str, certificate_type: str | None, version: str
    ) -> str: ...


class CentralSystem(SessionHandling):
    """Version-neutral handling of everything stations send."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        clock: Clock,
        *,
        unknown_stations: str = "reject",
        heartbeat_interval_s: int = 300,
        pending_interval_s: int = 60,
        seen_write_interval_s: float = 60.0,
        retry_initial_s: float = 0.1,
        retry_max_s: float = 5.0,
        boots_per_s: float = 0.0,
        station_cache_max: int = 0,
        station_feed_wait_max_s: float = 1.0,
    ) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.unknown_stations = unknown_stations
        self.heartbeat_interval_s = heartbeat_interval_s
        self.pending_interval_s = pending_interval_s
        #: Boots accepted at most at this rate; the others are answered Pending (0: no limit).
        self.boot_pacer = BootPacer(boots_per_s) if boots_per_s > 0 else None
        self.seen_write_interval_s = seen_write_interval_s
        self.retrying = Retrying(initial_s=retry_initial_s, max_s=retry_max_s)
        self.remote_starts: RemoteStarts[asyncio.Future[Transaction]] = RemoteStarts()
        self._last_seen_write: dict[str, float] = {}
        self._verified: dict[tuple[str, bytes], bool] = {}
        self._verify_key = secrets.token_bytes(32)
        #: Records read by ``admission``, reused by the connection's registration and boot.
        self._admitted: dict[str, tuple[StationRecord | None, float]] = {}
        #: Registered stations' admission fields, kept true by the store's change feed
        #: (None: every handshake reads the store).
        feed = store.station_feed() if station_cache_max > 0 else None
        self.stations = (
            StationCache(feed, max_entries=station_cache_max, wait_max_s=station_feed_wait_max_s)
            if feed is not None
            else None
        )
        self._active: dict[tuple[str, int], int | None] = {}
        #: New connections whose write waits for the boot, which records both at once.
        self._connection_writes = ConnectionWrites(self._write_connection)
        self._open_txs = OpenTransactions()
        #: 1.6 transaction ids in StartTransaction answers not written yet (decision 0014)
        self.untold = Untold()
        self._background: set[asyncio.Task[Any]] = set()
        #: answers SignCertificate; None: every request is Rejected (no CA configured)
        self.certificate_requests: CertificateRequests | None = None
        #: SecurityEventNotification types that raise an alert (csms.security settings)
        self.critical_security_events: frozenset[str] = frozenset()
        #: OCPP 2.1: DER controls and alarms per station; battery-swap sessions
        self.der = DerHandling(
            der_repository_for(store), bus=bus, clock=clock, retrying=self.retrying
        )
        self.swaps = SwapHandling(
            swap_repository_for(store),
            bus=bus,
            clock=clock,
            retrying=self.retrying,
            authorize=self.authorize,
        )

    async def close(self) -> None:
        await self._connection_writes.close()
        if self.stations is not None:
            await self.stations.close()
        if self._background:
            await asyncio.wait(self._background, timeout=5.0)
        # The writes of handlers cancelled as the server stopped: committed (and announced
        # by their on_commit) or failed, before telemetry and the store stop.
        try:
            await asyncio.wait_for(self.store.settle(), 5.0)
        except (StoreError, TimeoutError) as exc:
            logger.warning("store writes not settled at close: %r", exc)

    async def forget_connections(self) -> int:
        """At start: no station is connected to this process yet, whatever a previous
        (killed) process left in the store. Returns how many stations were reset."""
        now = self.clock.now()
        if self.stations is not None:
            await self.store.prune_station_changes(keep=_FEED_KEPT)
            records = await self.stations.open(self.store.list_stations)
        else:
            records = await self.store.list_stations()
        stale = [r.station_id for r in records if r.connected]
        for station_id in stale:
            await self.store.record_connection(station_id, connected=False, at=now)
        if stale:
            logger.info("%d stations marked disconnected at start", len(stale))
        return len(stale)

    # -- connections ----------------------------------------------------------------------
    async def admission(
        self, station_id: str, password: str | None, *, certified: bool = False
    ) -> Admission:
        """May ``station_id`` open a connection with ``password`` (None = no credentials)?
        ``certified``: the station proved its identity with a client certificate (security
        profile 3), which stands in for the password."""
        record = await self._read_station(station_id)
        self._admitted[station_id] = (record, self.clock.monotonic())
        decision = admit(record, self.unknown_stations)
        if not decision.allowed:
            if password is not None and not certified:
                # The same scrypt work as for a registered station, so that how long the
                # refusal takes does not tell whether the station id exists.
                await self._check_password(password, _decoy_hash())
            self._admitted.pop(station_id, None)
            return decision
        if record is None and self.unknown_stations == "accept":
            logger.warning(
                "station %s: UNKNOWN station admitted (unknown_stations = accept; "
                "development only)",
                station_id,
            )
        if decision.password_hash is None or certified:
            return decision
        if password is None:
            self._admitted.pop(station_id, None)
            return Admission(False, reason="password required")
        ok = await self._check_password(password, decision.password_hash)
        if not ok and decision.pending_password_hash is not None:
            ok = await self._check_password(password, decision.pending_password_hash)
            if ok:
                await self._password_confirmed(station_id)
                self._admitted.pop(station_id, None)  # the record changed: read it again
        if not ok:
            self._admitted.pop(station_id, None)
            return Admission(False, reason="wrong password")
        return decision

    async def _password_confirmed(self, station_id: str) -> None:
        """The station connected with the password being rotated in: it becomes the only
        one (the old one is no longer accepted)."""
        record = await self.store.get_station(station_id)
        if record is None or record.pending_password_hash is None:
            return
        await self.retrying(
            lambda: self.store.put_station(
                dataclasses.replace(
                    record,
                    password_hash=record.pending_password_hash,
                    pending_password_hash=None,
                )
            ),
            what="password rotation",
            station_id=station_id,
        )
        logger.info(
            "station %s: connected with its new password; the old one is retired", station_id
        )
        await self.record_event(station_id, "PasswordChanged", {"confirmed": "connection"})

    async def _check_password(self, password: str, password_hash: str) -> bool:
        # scrypt runs once per process and password: the outcome is remembered under a keyed
        # hash of the presented password (HMAC with a random per-process key, so the cache
        # holds nothing an offline guess could be checked against), and a reconnect costs a
        # microsecond instead of scrypt's tens of milliseconds. Changing the stored hash
        # changes the key, so a new password takes effect at once.
        presented = hmac.new(self._verify_key, password.encode(), hashlib.sha256).digest()
        key = (password_hash, presented)
        ok = self._verified.get(key)
        if ok is None:
            ok = await asyncio.to_thread(verify_password, password, password_hash)
            while len(self._verified) >= _VERIFIED_MAX:  # oldest first
                del self._verified[next(iter(self._verified))]
            self._verified[key] = ok
        return ok

    async def sign_certificate(
        self, station_id: str, csr: str, certificate_type: str | None, version: str
    ) -> str:
        """The answer to SignCertificate: Accepted (signing follows) or Rejected."""
        handler = self.certificate_requests
        if handler is None:
            logger.warning(
                "station %s: SignCertificate rejected: no certificate service", station_id
            )
            return "Rejected"
        return await handler.on_sign_certificate(station_id, csr, certificate_type, version)

    async def security_event(
        self, station_id: str, type: str, tech_info: str | None, at: datetime
    ) -> None:
        """A SecurityEventNotification: stored, then published (critical ones logged at
        ERROR and flagged, which raises an alert)."""
        data: dict[str, Any] = {"type": type}
        if tech_info is not None:
            data["tech_info"] = tech_info
        await self.record_event(station_id, "SecurityEventNotification", data, at=at)
        critical = type in self.critical_security_events
        if critical:
            logger.error(
                "station %s: critical security event %s (%.200s)", station_id, type, tech_info or ""
            )
        else:
            logger.info("station %s: security event %s", station_id, type)
        self.bus.publish(SecurityEventReceived(station_id, type, tech_info, critical, at))

    async def registration(self, station_id: str) -> RegistrationStatus:
        """The registration a connecting station starts with (before any BootNotification)."""
        record = await self._station_record(station_id, keep=True)
        return decide_boot(
            record, self.unknown_stations, heartbeat_interval_s=1, pending_interval_s=1
        ).status

    async def connected(self, station_id: str, ocpp_version: str) -> None:
        now = self.clock.now()
        # A new connection may replace one this node still held (no disconnection seen)
        # after the station talked to another node: what was known of it may be stale.
        self._open_txs.forget(station_id)
        self._connection_writes.hold(station_id, now)
        self.bus.publish(StationConnected(station_id, ocpp_version, now))

    async def _write_connection(self, station_id: str, at: datetime) -> None:
        await self.retrying(
            lambda: self.store.record_connection(station_id, connected=True, at=at),
            what="connection",
            station_id=station_id,
        )

    async def disconnected(self, station_id: str, reason: str = "") -> None:
        now = self.clock.now()
        self._last_seen_write.pop(station_id, None)
        for key in [k for k in self._active if k[0] == station_id]:
            del self._active[key]
        self._open_txs.forget(station_id)
        self._admitted.pop(station_id, None)
        self._connection_writes.drop(station_id)
        try:
            async with asyncio.timeout(10.0):  # not wait_for: it can lose a cancel (0615)
                await self.retrying(
                    lambda: self.store.record_connection(station_id, connected=False, at=now),
                    what="disconnection",
                    station_id=station_id,
                )
        except TimeoutError:
            logger.warning("station %s: disconnection not recorded (store down)", station_id)
        self.bus.publish(StationDisconnected(station_id, now, reason))

    # -- registration and liveness --------------------------------------------------------
    async def boot(self, station_id: str, info: BootInfo) -> BootDecision:
        record = await self.retrying(
            lambda: self._station_record(station_id), what="boot", station_id=station_id
        )
        decision = decide_boot(
            record,
            self.unknown_stations,
            heartbeat_interval_s=self.heartbeat_interval_s,
            pending_interval_s=self.pending_interval_s,
        )
        now = self.clock.now()
        if record is None and decision.status is RegistrationStatus.REJECTED:
            logger.warning("station %s: boot from an unknown station rejected", station_id)
        else:
            # The connection not yet written (or, for a station unknown until this boot
            # creates it, not written for want of a row) is recorded with the boot.
            connected = self._connection_writes.take(station_id) or record is None
            await self.retrying(
                lambda: self.store.record_boot(
                    station_id, info, decision.status, now, connected=connected
                ),
                what="BootNotification",
                station_id=station_id,
            )
        if decision.status is RegistrationStatus.ACCEPTED and self.boot_pacer is not None:
            # More boots than the node serves (a reconnect storm): stored, but answered
            # Pending with the station's own slot, so it comes back when it will be served.
            # Its registration stays what the operator decided.
            wait_s = self.boot_pacer.take(self.clock.monotonic())
            if wait_s:
                decision = BootDecision(RegistrationStatus.PENDING, wait_s)
        logger.info(
            "station %s: booted (%s %s, OCPP %s): %s",
            station_id,
            info.vendor,
            info.model,
            info.ocpp_version,
            decision.status.value,
        )
        self.bus.publish(StationBooted(station_id, info, decision.status, now))
        return decision

    async def _station_record(self, station_id: str, *, keep: bool = False) -> StationRecord | None:
        """The station's record: the one its admission read moments ago (a connection's
        handshake, registration and first BootNotification read it once), else the store's.
        ``keep`` leaves it for the boot that follows."""
        admitted = self._admitted.get(station_id) if keep else self._admitted.pop(station_id, None)
        if admitted is not None and self.clock.monotonic() - admitted[1] <= _ADMITTED_FRESH_S:
            return admitted[0]
        return await self._read_station(station_id)

    async def _read_station(self, station_id: str) -> StationRecord | None:
        """The station's record as the store has it now (its admission fields from the
        cache when there is one)."""
        if self.stations is None:
            return await self.store.get_station(station_id)
        return await self.stations.get(station_id, lambda: self.store.get_station(station_id))

    async def heartbeat(self, station_id: str) -> datetime:
        now = self.clock.now()
        await self.seen(station_id, now)
        self.bus.publish(HeartbeatReceived(station_id, now))
        return now

    def unreadable_sample(
        self, station_id: str, *, measurand: str | None, value: object, at: datetime
    ) -> None:
        """A sampled value that is not a number: not stored; telemetry counts it."""
        self.bus.publish(MeterValueUnreadable(station_id, measurand, str(value)[:100], at))

    async def seen(self, station_id: str, now: datetime | None = None) -> None:
        """Record liveness at most once per ``seen_write_interval_s``, in the background:
        never worth holding an answer for."""
        mono = self.clock.monotonic()
        last = self._last_seen_write.get(station_id)
        if last is not None and mono - last < self.seen_write_interval_s:
            return
        self._last_seen_write[station_id] = mono
        task = asyncio.create_task(self._write_seen(station_id, now or self.clock.now()))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _write_seen(self, station_id: str, at: datetime) -> None:
        try:
            await self.store.record_seen(station_id, at)
        except Exception as exc:
            logger.warning("station %s: last-seen not recorded: %s", station_id, exc)

    async def status(self, report: StatusReport) -> None:
        await self.retrying(
            lambda: self.store.record_status(report),
            what="StatusNotification",
            station_id=report.station_id,
        )
        self.bus.publish(StatusChanged(report))

    async def record_event(
        self, station_id: str, kind: str, data: dict[str, Any], at: datetime | None = None
    ) -> None:
        event = StationEvent(station_id, kind, at or self.clock.now(), data)
        await self.retrying(
            lambda: self.store.record_station_event(event), what=kind, station_id=station_id
        )

    async def device_events(
        self,
        station_id: str,
        events: tuple[DeviceEvent, ...],
        data: dict[str, Any],
        at: datetime,
    ) -> None:
        """A NotifyEvent: recorded as it came, then published as domain values (a storage
        unit's temperature and alarms, decision 0905)."""
        await self.record_event(station_id, "NotifyEvent", data, at=at)
        self.bus.publish(DeviceEventsNotified(station_id, events, at))
