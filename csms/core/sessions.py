"""Authorization, transactions and meter values: the session part of the central system.

A mixin of :class:`csms.core.service.CentralSystem`, which owns the attributes declared
here. Every write is awaited (held while the store is unavailable) before the adapter
answers, and every write is idempotent, so a station's resend stores nothing twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar

from chargegrid.clock import Clock
from csms.core.answers import AfterAnswer, Untold
from csms.core.authorization import authorize
from csms.core.durability import Retrying, uncancellable
from csms.core.meter import register_wh
from csms.core.open_transactions import OpenTransactions
from csms.core.remote_start import RemoteStarts
from csms.core.transactions import Applied, apply_update, start_key
from csms.domain import (
    AuthorizationResult,
    EVChargingNeeds,
    MeterSample,
    Transaction,
    TransactionEventKind,
    TransactionUpdate,
)
from csms.events import (
    EVChargingNeedsReceived,
    EventBus,
    MeterValuesReceived,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from csms.store.base import NewTransaction, Store, StoredSample

__all__ = ["SessionHandling", "TransactionAnswer"]

logger = logging.getLogger("csms.core.service")

T = TypeVar("T")


class TransactionAnswer:
    """What a transaction message is answered with."""

    __slots__ = ("authorization", "transaction")

    def __init__(
        self, transaction: Transaction | None, authorization: AuthorizationResult | None
    ) -> None:
        self.transaction = transaction
        self.authorization = authorization


class SessionHandling:
    """Session messages, version-neutral."""

    store: Store
    bus: EventBus
    clock: Clock
    retrying: Retrying
    remote_starts: RemoteStarts[asyncio.Future[Transaction]]
    _active: dict[tuple[str, int], int | None]
    _background: set[asyncio.Task[Any]]
    _open_txs: OpenTransactions
    #: 1.6 transactions whose id is in a StartTransaction answer not yet written
    untold: Untold

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
        after_answer: AfterAnswer | None = None,
    ) -> TransactionAnswer:
        """OCPP 1.6 StartTransaction: idempotent on (station, connector, id tag, meter, timestamp).

        The answer tells the station the transaction's id: with ``after_answer`` (the edge's
        hold on that answer) the start is announced once the answer is out (decision 0014)."""
        auth = await self.authorize(station_id, id_token)
        opened = NewTransaction(
            station_id=station_id,
            evse_id=evse_id,
            connector_id=connector_id,
            started_at=timestamp,
            id_token=id_token,
            meter_start_wh=meter_start_wh,
        )
        new = dataclasses.replace(opened, start_key=start_key(opened))

        async def open_and_announce() -> Transaction:
            tx, created = await self.store.open_transaction(new)
            self._active[(station_id, evse_id)] = tx.id
            if created:
                logger.info(
                    "station %s: transaction %d started on evse %d by %s",
                    station_id,
                    tx.id,
                    evse_id,
                    id_token,
                )
            self._after_start(tx, created=created, after_answer=after_answer)
            return tx

        tx = await self.retrying(
            lambda: self._uncancellable(open_and_announce()),
            what="StartTransaction",
            station_id=station_id,
        )
        return TransactionAnswer(tx, auth)

    def _after_start(
        self, tx: Transaction, *, created: bool, after_answer: AfterAnswer | None
    ) -> None:
        """Once the answer naming ``tx`` is out: the station has been told its id (if the
        answer was written), a new transaction is announced and a remote start waiting
        for it resolved. Announced even when the answer was lost: the store has it, and a
        command for it waits until a resent StartTransaction is answered."""

        def announce(sent: bool) -> None:
            if sent:
                self.untold.tell(tx.id)
            if created:
                self.bus.publish(TransactionStarted(tx))
            self._resolve_remote_start(tx)

        if after_answer is None:  # no edge holds the answer (a caller of the core alone)
            announce(True)
            return
        self.untold.hold(tx.id)
        after_answer.then(announce)

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
        tx = await self._station_transaction(
            station_id,
            transaction_id,
            what="StopTransaction",
            unknown="station %s: StopTransaction for unknown transaction %d; samples kept "
            "without it",
        )
        if tx is None:
            await self._store_samples(MeterValuesReceived(station_id, 0, 0, None, tuple(samples)))
            return TransactionAnswer(None, auth)
        self.untold.tell(tx.id)  # the station names it: it knows it
        await self._store_samples(
            MeterValuesReceived(station_id, tx.evse_id, tx.connector_id, tx.id, tuple(samples))
        )
        update = TransactionUpdate(
            station_id=station_id,
            kind=TransactionEventKind.ENDED,
            timestamp=timestamp,
            station_tx_id=tx.station_tx_id,
            meter_wh=meter_stop_wh,
            stop_reason=reason or "Local",
        )
        applied = apply_update(tx, update)
        evse_id = tx.evse_id

        async def save_and_announce() -> None:
            if applied.changed:
                await self.store.save_transaction(applied.transaction)
            self._active.pop((station_id, evse_id), None)
            if applied.ended_now:
                logger.info(
                    "station %s: transaction %d stopped (%s), %s Wh",
                    station_id,
                    applied.transaction.id,
                    reason or "Local",
                    applied.transaction.energy_wh,
                )
                self.bus.publish(TransactionEnded(applied.transaction))

        await self.retrying(
            lambda: self._uncancellable(save_and_announce()),
            what="StopTransaction",
            station_id=station_id,
        )
        return TransactionAnswer(applied.transaction, auth)

    async def transaction_event(self, update: TransactionUpdate) -> TransactionAnswer:
        """OCPP 2.0.1 TransactionEvent: ordered and deduplicated by seqNo.

        The transaction comes from the node's index of open transactions (no read once the
        station's are loaded); the seqNo, the samples and the transaction's new state are
        one atomic write; the index follows only what was committed."""
        station_id = update.station_id
        auth = await self.authorize(station_id, update.id_token) if update.id_token else None
        before, announce = await self._event_transaction(update)
        applied = apply_update(before, update)
        rows = [
            StoredSample(station_id, before.evse_id, before.connector_id, before.id, s)
            for s in update.samples
        ]

        def publish(fresh: bool) -> None:
            # Called by the store once committed, whatever became of this caller: a resend
            # of a committed event is not fresh and announces nothing, so an announcement
            # skipped here would be skipped for good.
            self._publish_event(update, before, applied, fresh=fresh, announce=announce)

        try:
            await self.retrying(
                lambda: self._commit_event(update, before.id, applied, rows, publish),
                what="TransactionEvent",
                station_id=station_id,
            )
        except BaseException:
            # Committed or not, nobody knows: the next message reloads from the store.
            self._open_txs.forget(station_id)
            raise
        return TransactionAnswer(applied.transaction, auth)

    async def _event_transaction(self, update: TransactionUpdate) -> tuple[Transaction, bool]:
        """The transaction a TransactionEvent belongs to (opened by its first event), and
        whether its start is still to be announced: when this message created it, or when
        an earlier attempt created it but was cut short before anything was applied."""
        assert update.station_tx_id is not None
        tx = await self._open_transaction_of(update.station_id, update.station_tx_id)
        created = False
        if tx is None:
            tx, created = await self._open_201(update, update.station_tx_id)
        announce = created or (
            update.kind is TransactionEventKind.STARTED and tx.last_seq_no is None
        )
        return tx, announce

    async def _commit_event(
        self,
        update: TransactionUpdate,
        tx_id: int,
        applied: Applied,
        rows: list[StoredSample],
        on_commit: Callable[[bool], object],
    ) -> bool:
        """The one atomic write of a TransactionEvent (seqNo, samples, new state); False
        for a resend, whose writes were redone (all idempotent) in case the first attempt
        was cut short before its commit."""
        fresh = await self.store.apply_transaction_event(
            tx_id,
            seq_no=update.seq_no,
            kind=update.kind.value,
            at=update.timestamp,
            samples=rows,
            transaction=applied.transaction if applied.changed else None,
            on_commit=on_commit,
        )
        if not fresh:
            logger.info(
                "station %s: duplicate TransactionEvent seqNo %s of %s",
                update.station_id,
                update.seq_no,
                update.station_tx_id,
            )
        return fresh

    def _publish_event(
        self,
        update: TransactionUpdate,
        before: Transaction,
        applied: Applied,
        *,
        fresh: bool,
        announce: bool,
    ) -> Transaction:
        """After the commit: the index of open transactions follows it, and the bus hears
        what is news (nothing is published twice for a resend)."""
        station_id = update.station_id
        changed_beyond_seq_no = applied.changed and applied.news
        tx = applied.transaction
        self._open_txs.put(tx)
        if fresh and update.samples:
            self.bus.publish(
                MeterValuesReceived(
                    station_id, tx.evse_id, tx.connector_id, tx.id, tuple(update.samples)
                )
            )
        if applied.late:
            logger.info(
                "station %s: TransactionEvent seqNo %s of %s arrived after seqNo %s",
                station_id,
                update.seq_no,
                update.station_tx_id,
                tx.last_seq_no,
            )
        if tx.active:
            self._active[(station_id, tx.evse_id)] = tx.id
        else:
            self._active.pop((station_id, tx.evse_id), None)
        if announce:
            self.bus.publish(TransactionStarted(tx))
            self._resolve_remote_start(tx)
        elif tx.remote_start_id is not None and before.remote_start_id is None:
            # F01: a transaction the cable started, then joined by a remote start (an
            # Updated event with triggerReason RemoteStart and the remoteStartId).
            self._resolve_remote_start(tx)
        if applied.ended_now:
            self.bus.publish(TransactionEnded(tx))
        elif not announce and changed_beyond_seq_no:
            # A seqNo advancing alone is bookkeeping, not news: publishing it would
            # cost every subscriber (telemetry, the API stream, the planner) a wake-up
            # per message.
            self.bus.publish(TransactionUpdated(tx))
        return tx

    async def _open_transaction_of(self, station_id: str, station_tx_id: str) -> Transaction | None:
        """The transaction a 2.0.1 station calls ``station_tx_id``: from the index of the
        station's open transactions (loaded with one read on its first TransactionEvent
        since it connected), else from the store (a new or an ended transaction)."""
        if not self._open_txs.loaded(station_id):
            open_txs = await self.retrying(
                lambda: self.store.list_transactions(station_id=station_id, active=True),
                what="TransactionEvent",
                station_id=station_id,
            )
            self._open_txs.load(station_id, open_txs)
        tx = self._open_txs.get(station_id, station_tx_id)
        if tx is not None:
            return tx
        return await self.retrying(
            lambda: self.store.find_transaction(station_id, station_tx_id),
            what="TransactionEvent",
            station_id=station_id,
        )

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
        await self._store_samples(
            MeterValuesReceived(station_id, evse_id, connector_id, tx_id, tuple(samples))
        )

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
        self._open_txs.set_needs(station_id, tx.id, needs)
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
        tx = await self._station_transaction(
            station_id,
            transaction_id,
            what="MeterValues",
            unknown="station %s: meter values name unknown transaction %d",
        )
        if tx is None:
            return None
        if tx.active:
            self._active[(station_id, tx.evse_id)] = tx.id
        return tx.id

    async def _station_transaction(
        self, station_id: str, transaction_id: int, *, what: str, unknown: str
    ) -> Transaction | None:
        """The store's transaction ``transaction_id`` if it is ``station_id``'s; otherwise
        None, logged with ``unknown`` (a %-format of the station id and the transaction id).
        ``what`` names the message in the store's retry log."""
        tx = await self.retrying(
            lambda: self.store.get_transaction(transaction_id),
            what=what,
            station_id=station_id,
        )
        if tx is None or tx.station_id != station_id:
            logger.warning(unknown, station_id, transaction_id)
            return None
        return tx

    async def _store_samples(self, received: MeterValuesReceived) -> None:
        """Store the samples ``received`` and publish it if this call stored them first:
        publication follows the store (a resend publishes only what no attempt committed
        before), called by the store once committed even if this caller is cancelled
        meanwhile."""
        r = received
        if not r.samples:
            return
        rows = [
            StoredSample(r.station_id, r.evse_id, r.connector_id, r.transaction_id, s)
            for s in r.samples
        ]

        def publish(added: int) -> None:
            if added:
                self.bus.publish(received)

        await self.retrying(
            lambda: self.store.add_samples(rows, publish),
            what="meter values",
            station_id=r.station_id,
        )

    async def _uncancellable(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` (a commit and what it announces) to its end even if the caller is
        cancelled meanwhile (a station gone, a server stopping): otherwise a landed commit
        could go unpublished for good, a resend not being new. :meth:`close` waits for it."""
        return await uncancellable(work, self._background)

    def _resolve_remote_start(self, tx: Transaction) -> None:
        entry = self.remote_starts.match(tx)
        if entry is not None and not entry.waiter.done():
            entry.waiter.set_result(tx)
