"""The central system's message handling, version-neutral.

Adapters convert each OCPP message to domain types and call one method here; the method
applies the pure rules of this package, awaits the durable store write (held and retried
while the store is unavailable, see :mod:`csms.core.durability`), publishes the domain
event and returns what the adapter needs for its answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chargegrid.clock import Clock
from csms.core.authorization import authorize
from csms.core.durability import Retrying
from csms.core.meter import register_wh
from csms.core.passwords import verify_password
from csms.core.registration import Admission, BootDecision, admit, decide_boot
from csms.core.remote_start import RemoteStarts
from csms.core.transactions import apply_update, start_key
from csms.domain import (
    AuthorizationResult,
    BootInfo,
    EVChargingNeeds,
    MeterSample,
    RegistrationStatus,
    StatusReport,
    Transaction,
    TransactionEventKind,
    TransactionUpdate,
)
from csms.events import (
    EVChargingNeedsReceived,
    EventBus,
    HeartbeatReceived,
    MeterValuesReceived,
    StationBooted,
    StationConnected,
    StationDisconnected,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from csms.store.base import NewTransaction, StationEvent, Store, StoredSample

__all__ = ["CentralSystem", "TransactionAnswer"]

logger = logging.getLogger(__name__)


class TransactionAnswer:
    """What a transaction message is answered with."""

    __slots__ = ("authorization", "transaction")

    def __init__(
        self, transaction: Transaction | None, authorization: AuthorizationResult | None
    ) -> None:
        self.transaction = transaction
        self.authorization = authorization


class CentralSystem:
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
    ) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.unknown_stations = unknown_stations
        self.heartbeat_interval_s = heartbeat_interval_s
        self.pending_interval_s = pending_interval_s
        self.seen_write_interval_s = seen_write_interval_s
        self.retrying = Retrying(initial_s=retry_initial_s, max_s=retry_max_s)
        self.remote_starts: RemoteStarts[asyncio.Future[Transaction]] = RemoteStarts()
        self._last_seen_write: dict[str, float] = {}
        self._verified: dict[tuple[str, str], bool] = {}
        self._active: dict[tuple[str, int], int | None] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        if self._background:
            await asyncio.wait(self._background, timeout=5.0)

    # -- connections ----------------------------------------------------------------------
    async def admission(self, station_id: str, password: str | None) -> Admission:
        """May ``station_id`` open a connection with ``password`` (None = no credentials)?"""
        record = await self.store.get_station(station_id)
        decision = admit(record, self.unknown_stations)
        if not decision.allowed:
            return decision
        if record is None and self.unknown_stations == "accept":
            logger.warning(
                "station %s: UNKNOWN station admitted (unknown_stations = accept; "
                "development only)",
                station_id,
            )
        if decision.password_hash is None:
            return decision
        if password is None:
            return Admission(False, reason="password required")
        key = (decision.password_hash, password)
        ok = self._verified.get(key)
        if ok is None:
            ok = await asyncio.to_thread(verify_password, password, decision.password_hash)
            if len(self._verified) > 10000:
                self._verified.clear()
            self._verified[key] = ok
        return decision if ok else Admission(False, reason="wrong password")

    async def registration(self, station_id: str) -> RegistrationStatus:
        """The registration a connecting station starts with (before any BootNotification)."""
        record = await self.store.get_station(station_id)
        return decide_boot(
            record, self.unknown_stations, heartbeat_interval_s=1, pending_interval_s=1
        ).status

    async def connected(self, station_id: str, ocpp_version: str) -> None:
        now = self.clock.now()
        await self.retrying(
            lambda: self.store.record_connection(station_id, connected=True, at=now),
            what="connection",
            station_id=station_id,
        )
        self.bus.publish(StationConnected(station_id, ocpp_version, now))

    async def disconnected(self, station_id: str, reason: str = "") -> None:
        now = self.clock.now()
        self._last_seen_write.pop(station_id, None)
        for key in [k for k in self._active if k[0] == station_id]:
            del self._active[key]
        try:
            await asyncio.wait_for(
                self.retrying(
                    lambda: self.store.record_connection(station_id, connected=False, at=now),
                    what="disconnection",
                    station_id=station_id,
                ),
                timeout=10.0,
            )
        except TimeoutError:
            logger.warning("station %s: disconnection not recorded (store down)", station_id)
        self.bus.publish(StationDisconnected(station_id, now, reason))

    # -- registration and liveness --------------------------------------------------------
    async def boot(self, station_id: str, info: BootInfo) -> BootDecision:
        record = await self.retrying(
            lambda: self.store.get_station(station_id), what="boot", station_id=station_id
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
            await self.retrying(
                lambda: self.store.record_boot(station_id, info, decision.status, now),
                what="BootNotification",
                station_id=station_id,
            )
            if record is None:
                await self.store.record_connection(station_id, connected=True, at=now)
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

    async def heartbeat(self, station_id: str) -> datetime:
        now = self.clock.now()
        await self.seen(station_id, now)
        self.bus.publish(HeartbeatReceived(station_id, now))
        return now

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

    # -- authorization --------------------------------------------------------------------
    async def authorize(self, station_id: str, token: str) -> AuthorizationResult:
        record = await self.retrying(
            lambda: self.store.get_id_token(token), what="Authorize", station_id=station_id
        )
        result = authorize(record, self.clock.now())
        logger.debug("station %s: id token %s is %s", station_id, token, result.status.value)
        return result

    # -- transactions ---------------------------------------------------------------------
    async def start_transaction(
        self,
        station_id: str,
        *,
        evse_id: int,
        connector_id: int,
        id_token: str,
        meter_start_wh: float,
        timestamp: datetime,
    ) -> TransactionAnswer:
        """OCPP 1.6 StartTransaction: idempotent on (connector, id tag, meter, timestamp)."""
        auth = await self.authorize(station_id, id_token)
        new = NewTransaction(
            station_id=station_id,
            evse_id=evse_id,
            connector_id=connector_id,
            started_at=timestamp,
            id_token=id_token,
            meter_start_wh=meter_start_wh,
            start_key=start_key(
                evse_id=evse_id,
                connector_id=connector_id,
                id_token=id_token,
                meter_start_wh=meter_start_wh,
                timestamp=timestamp,
            ),
        )
        tx, created = await self.retrying(
            lambda: self.store.open_transaction(new),
            what="StartTransaction",
            station_id=station_id,
        )
        self._active[(station_id, evse_id)] = tx.id
        if created:
            logger.info(
                "station %s: transaction %d started on evse %d by %s",
                station_id,
                tx.id,
                evse_id,
                id_token,
            )
            self.bus.publish(TransactionStarted(tx))
        self._resolve_remote_start(tx)
        return TransactionAnswer(tx, auth)

    async def stop_transaction(
        self,
        station_id: str,
        *,
        transaction_id: int,
        timestamp: datetime,
        meter_stop_wh: float,
        reason: str | None,
        id_token: str | None,
        samples: Sequence[MeterSample] = (),
    ) -> TransactionAnswer:
        """OCPP 1.6 StopTransaction (with its transactionData); idempotent."""
        auth = await self.authorize(station_id, id_token) if id_token else None
        tx = await self.retrying(
            lambda: self.store.get_transaction(transaction_id),
            what="StopTransaction",
            station_id=station_id,
        )
        if tx is None or tx.station_id != station_id:
            logger.warning(
                "station %s: StopTransaction for unknown transaction %d; samples kept without it",
                station_id,
                transaction_id,
            )
            await self._store_samples(station_id, 0, 0, None, samples)
            return TransactionAnswer(None, auth)
        await self._store_samples(station_id, tx.evse_id, tx.connector_id, tx.id, samples)
        update = TransactionUpdate(
            station_id=station_id,
            kind=TransactionEventKind.ENDED,
            timestamp=timestamp,
            station_tx_id=tx.station_tx_id,
            meter_wh=meter_stop_wh,
            stop_reason=reason or "Local",
        )
        applied = apply_update(tx, update)
        if applied.changed:
            await self.retrying(
                lambda: self.store.save_transaction(applied.transaction),
                what="StopTransaction",
                station_id=station_id,
            )
        self._active.pop((station_id, tx.evse_id), None)
        if applied.ended_now:
            logger.info(
                "station %s: transaction %d stopped (%s), %s Wh",
                station_id,
                tx.id,
                reason or "Local",
                applied.transaction.energy_wh,
            )
            self.bus.publish(TransactionEnded(applied.transaction))
        return TransactionAnswer(applied.transaction, auth)

    async def transaction_event(self, update: TransactionUpdate) -> TransactionAnswer:
        """OCPP 2.0.1 TransactionEvent: ordered and deduplicated by seqNo."""
        station_id = update.station_id
        assert update.station_tx_id is not None
        station_tx_id = update.station_tx_id
        auth = await self.authorize(station_id, update.id_token) if update.id_token else None
        tx = await self.retrying(
            lambda: self.store.find_transaction(station_id, station_tx_id),
            what="TransactionEvent",
            station_id=station_id,
        )
        created = False
        if tx is None:
            tx, created = await self._open_201(update, station_tx_id)
        fresh = True
        if update.seq_no is not None:
            tx_id = tx.id
            seq_no = update.seq_no
            fresh = await self.retrying(
                lambda: self.store.record_transaction_event(
                    tx_id, seq_no, update.kind.value, update.timestamp
                ),
                what="TransactionEvent",
                station_id=station_id,
            )
            if not fresh:
                # A resend. Its writes are redone (all idempotent) in case the first
                # attempt was cut short after recording the seqNo; nothing is published
                # twice.
                logger.info(
                    "station %s: duplicate TransactionEvent seqNo %d of %s",
                    station_id,
                    seq_no,
                    station_tx_id,
                )
        await self._store_samples(
            station_id, tx.evse_id, tx.connector_id, tx.id, update.samples, publish=fresh
        )
        applied = apply_update(tx, update)
        if applied.changed:
            await self.retrying(
                lambda: self.store.save_transaction(applied.transaction),
                what="TransactionEvent",
                station_id=station_id,
            )
        tx = applied.transaction
        if applied.late:
            logger.info(
                "station %s: TransactionEvent seqNo %s of %s arrived after seqNo %s",
                station_id,
                update.seq_no,
                station_tx_id,
                tx.last_seq_no,
            )
        if tx.active:
            self._active[(station_id, tx.evse_id)] = tx.id
        else:
            self._active.pop((station_id, tx.evse_id), None)
        if created:
            self.bus.publish(TransactionStarted(tx))
            self._resolve_remote_start(tx)
        if applied.ended_now:
            self.bus.publish(TransactionEnded(tx))
        elif not created and applied.changed:
            self.bus.publish(TransactionUpdated(tx))
        return TransactionAnswer(tx, auth)

    async def meter_values(
        self,
        station_id: str,
        *,
        evse_id: int,
        connector_id: int,
        transaction_id: int | None,
        samples: Sequence[MeterSample],
    ) -> None:
        """MeterValues outside a TransactionEvent; 1.6 names the CSMS transaction id."""
        tx_id: int | None
        if transaction_id is not None:
            tx_id = await self._known_transaction(station_id, evse_id, transaction_id)
        else:
            tx_id = self._active.get((station_id, evse_id))
        await self._store_samples(station_id, evse_id, connector_id, tx_id, samples)

    async def ev_charging_needs(
        self, station_id: str, evse_id: int, needs: EVChargingNeeds
    ) -> Transaction | None:
        """Keep the EV's requested energy and departure on its session; None when the EVSE
        has no active transaction."""
        tx = await self.retrying(
            lambda: self.store.active_transaction(station_id, evse_id),
            what="NotifyEVChargingNeeds",
            station_id=station_id,
        )
        if tx is None:
            logger.warning("station %s: EV charging needs on idle evse %d", station_id, evse_id)
            return None
        tx_id = tx.id
        await self.retrying(
            lambda: self.store.set_needs(tx_id, needs),
            what="NotifyEVChargingNeeds",
            station_id=station_id,
        )
        tx.needs = needs
        self.bus.publish(EVChargingNeedsReceived(station_id, evse_id, tx.id, needs))
        return tx

    async def _open_201(
        self, update: TransactionUpdate, station_tx_id: str
    ) -> tuple[Transaction, bool]:
        new = NewTransaction(
            station_id=update.station_id,
            evse_id=update.evse_id or 0,
            connector_id=update.connector_id or (1 if update.evse_id else 0),
            started_at=update.timestamp,
            id_token=update.id_token,
            station_tx_id=station_tx_id,
            meter_start_wh=(
                update.meter_wh if update.meter_wh is not None else register_wh(update.samples)
            )
            if update.kind is TransactionEventKind.STARTED
            else None,
            remote_start_id=update.remote_start_id,
            offline=update.offline,
        )
        return await self.retrying(
            lambda: self.store.open_transaction(new),
            what="TransactionEvent",
            station_id=update.station_id,
        )

    # -- helpers --------------------------------------------------------------------------
    async def _known_transaction(
        self, station_id: str, evse_id: int, transaction_id: int
    ) -> int | None:
        if self._active.get((station_id, evse_id)) == transaction_id:
            return transaction_id
        tx = await self.retrying(
            lambda: self.store.get_transaction(transaction_id),
            what="MeterValues",
            station_id=station_id,
        )
        if tx is None or tx.station_id != station_id:
            logger.warning(
                "station %s: meter values name unknown transaction %d",
                station_id,
                transaction_id,
            )
            return None
        if tx.active:
            self._active[(station_id, tx.evse_id)] = tx.id
        return tx.id

    async def _store_samples(
        self,
        station_id: str,
        evse_id: int,
        connector_id: int,
        transaction_id: int | None,
        samples: Sequence[MeterSample],
        *,
        publish: bool = True,
    ) -> None:
        if not samples:
            return
        rows = [StoredSample(station_id, evse_id, connector_id, transaction_id, s) for s in samples]
        await self.retrying(
            lambda: self.store.add_samples(rows), what="meter values", station_id=station_id
        )
        if publish:
            self.bus.publish(
                MeterValuesReceived(
                    station_id, evse_id, connector_id, transaction_id, tuple(samples)
                )
            )

    def _resolve_remote_start(self, tx: Transaction) -> None:
        entry = self.remote_starts.match(tx)
        if entry is not None and not entry.waiter.done():
            entry.waiter.set_result(tx)
