"""An in-memory :class:`~csms.store.base.Store` with the same semantics as the SQL store.

Used by unit tests, simulations and ``memory://``. Nothing survives the process. The
behaviour every implementation shares (and the conformance suite checks):

- Datetimes come back aware UTC (naive input is taken as UTC).
- ``record_boot`` creates an unknown station with ``registration=status``; for a known
  station it keeps the operator's registration and updates the boot fields.
- ``record_seen`` and ``record_connection`` do nothing for an unknown station;
  ``last_seen_at`` only moves forward.
- ``record_status`` keeps the report with the latest timestamp per (station, evse,
  connector) (a tie goes to the later call) and a history row; an identical report (same
  key, timestamp and status) is kept once.
- Station events are deduplicated on (station, kind, time, data).
- Transaction ids come from a sequence starting at 1. ``open_transaction`` returns the
  existing transaction for the same ``start_key`` or ``(station_id, station_tx_id)``.
- Deleting, saving or recording an event for something that does not exist raises
  :class:`~csms.exceptions.NotFound`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime

from chargegrid.clock import utc
from csms.domain import (
    BootInfo,
    EVChargingNeeds,
    IdToken,
    RegistrationStatus,
    StatusReport,
    Transaction,
)
from csms.exceptions import NotFound
from csms.store.base import (
    STATION_SET_FIELDS,
    TRANSACTION_SAVED_FIELDS,
    NewTransaction,
    StationEvent,
    StationRecord,
    StoredSample,
    boot_fields,
)
from csms.store.mapping import event_dedup_key, json_data

__all__ = ["MemoryStore", "is_legacy_tx_id", "sample_key"]

_SampleKey = tuple[str, int, int, int | None, datetime, str, str | None, str | None, str | None]


def sample_key(s: StoredSample) -> _SampleKey:
    """The identity of a stored sample: equal keys are stored once."""
    m = s.sample
    return (
        s.station_id,
        s.evse_id,
        s.connector_id,
        s.transaction_id,
        utc(m.timestamp),
        m.measurand,
        m.phase,
        m.location,
        m.context,
    )


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _seen_at_latest(seen: datetime | None, at: datetime) -> datetime:
    """A station's ``last_seen_at`` moved to ``at``, unless it is later already."""
    return utc(at) if seen is None or utc(at) > seen else seen


def _norm_station(r: StationRecord) -> StationRecord:
    return dataclasses.replace(
        r, last_boot_at=_opt_utc(r.last_boot_at), last_seen_at=_opt_utc(r.last_seen_at)
    )


def _norm_status(r: StatusReport) -> StatusReport:
    return dataclasses.replace(r, timestamp=utc(r.timestamp))


def _norm_needs(n: EVChargingNeeds | None) -> EVChargingNeeds | None:
    if n is None:
        return None
    return dataclasses.replace(n, departure_at=_opt_utc(n.departure_at))


def _norm_tx(tx: Transaction) -> Transaction:
    return dataclasses.replace(
        tx,
        started_at=utc(tx.started_at),
        stopped_at=_opt_utc(tx.stopped_at),
        needs=_norm_needs(tx.needs),
    )


def _norm_sample(s: StoredSample) -> StoredSample:
    return dataclasses.replace(
        s, sample=dataclasses.replace(s.sample, timestamp=utc(s.sample.timestamp))
    )


class MemoryStore:
    """Dictionaries behind the :class:`~csms.store.base.Store` protocol."""

    def __init__(self) -> None:
        self._stations: dict[str, StationRecord] = {}
        self._statuses: dict[tuple[str, int, int], StatusReport] = {}
        self._status_history: list[StatusReport] = []
        self._status_keys: set[tuple[str, int, int, datetime, str]] = set()
        self._events: list[StationEvent] = []
        self._event_keys: set[tuple[str, str]] = set()
        self._tokens: dict[str, IdToken] = {}
        self._txs: dict[int, Transaction] = {}
        self._tx_by_key: dict[str, int] = {}
        self._tx_by_station_id: dict[tuple[str, str], int] = {}
        self._tx_events: set[tuple[int, int]] = set()
        self._next_tx_id = 1
        self._samples: list[StoredSample] = []
        self._sample_keys: set[_SampleKey] = set()
        self._latest: dict[tuple[str, int, int, str, str | None], StoredSample] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def settle(self) -> None:
        return None  # every write commits before its call returns

    # -- stations -------------------------------------------------------------------------
    async def get_station(self, station_id: str) -> StationRecord | None:
        return self._stations.get(station_id)

    async def put_station(self, record: StationRecord) -> None:
        old = self._stations.get(record.station_id)
        if old is None:
            self._stations[record.station_id] = _norm_station(record)
        else:
            self._stations[record.station_id] = dataclasses.replace(
                old, **{f: getattr(record, f) for f in STATION_SET_FIELDS}
            )

    async def delete_station(self, station_id: str) -> None:
        if self._stations.pop(station_id, None) is None:
            raise NotFound(f"no station {station_id!r}")
        for key in [k for k in self._statuses if k[0] == station_id]:
            del self._statuses[key]

    async def list_stations(self) -> list[StationRecord]:
        return [self._stations[k] for k in sorted(self._stations)]

    def station_feed(self) -> None:
        return None  # the only writer is this process, and a read is a dict lookup

    async def prune_station_changes(self, *, keep: int) -> None:
        return None

    async def record_boot(
        self,
        station_id: str,
        info: BootInfo,
        status: RegistrationStatus,
        at: datetime,
        *,
        connected: bool = False,
    ) -> None:
        old = self._stations.get(station_id) or StationRecord(
            station_id=station_id, registration=status
        )
        self._stations[station_id] = dataclasses.replace(old, **boot_fields(info, utc(at)))
        if connected:
            self._connection(station_id, connected=True, at=at)

    async def record_connection(self, station_id: str, *, connected: bool, at: datetime) -> None:
        self._connection(station_id, connected=connected, at=at)

    def _connection(self, station_id: str, *, connected: bool, at: datetime) -> None:
        old = self._stations.get(station_id)
        if old is None:
            return
        seen = _seen_at_latest(old.last_seen_at, at) if connected else old.last_seen_at
        self._stations[station_id] = dataclasses.replace(
            old, connected=connected, last_seen_at=seen
        )

    async def record_seen(self, station_id: str, at: datetime) -> None:
        old = self._stations.get(station_id)
        if old is not None:
            self._stations[station_id] = dataclasses.replace(
                old, last_seen_at=_seen_at_latest(old.last_seen_at, at)
            )

    async def record_status(self, report: StatusReport) -> None:
        report = _norm_status(report)
        key = (report.station_id, report.evse_id, report.connector_id)
        hkey = (*key, report.timestamp, str(report.status))
        if hkey not in self._status_keys:
            self._status_keys.add(hkey)
            self._status_history.append(report)
        old = self._statuses.get(key)
        if old is None or report.timestamp >= old.timestamp:
            self._statuses[key] = report

    async def connector_statuses(self, station_id: str) -> list[StatusReport]:
        return [self._statuses[k] for k in sorted(self._statuses) if k[0] == station_id]

    async def status_history(
        self,
        station_id: str,
        *,
        evse_id: int | None = None,
        connector_id: int | None = None,
        limit: int = 1000,
    ) -> list[StatusReport]:
        rows = [
            r
            for r in self._status_history
            if r.station_id == station_id
            and (evse_id is None or r.evse_id == evse_id)
            and (connector_id is None or r.connector_id == connector_id)
        ]
        # Stable sort: equal timestamps stay in the order they were recorded.
        rows.sort(key=lambda r: r.timestamp)
        return rows[-limit:] if limit > 0 else []

    async def record_station_event(self, event: StationEvent) -> None:
        data = json_data(event.data)
        at = utc(event.at)
        key = (event.station_id, event_dedup_key(event.kind, at, data))
        if key in self._event_keys:
            return
        self._event_keys.add(key)
        self._events.append(StationEvent(event.station_id, event.kind, at, data))

    async def station_events(self, station_id: str, kind: str | None = None) -> list[StationEvent]:
        rows = [
            e
            for e in self._events
            if e.station_id == station_id and (kind is None or e.kind == kind)
        ]
        rows.sort(key=lambda e: e.at)
        return rows

    # -- id tokens ------------------------------------------------------------------------
    async def get_id_token(self, token: str) -> IdToken | None:
        return self._tokens.get(token)

    async def put_id_token(self, token: IdToken) -> None:
        self._tokens[token.token] = dataclasses.replace(
            token, expires_at=_opt_utc(token.expires_at)
        )

    async def delete_id_token(self, token: str) -> None:
        if self._tokens.pop(token, None) is None:
            raise NotFound(f"no id token {token!r}")

    async def list_id_tokens(self) -> list[IdToken]:
        return [self._tokens[k] for k in sorted(self._tokens)]

    # -- transactions ---------------------------------------------------------------------
    def _existing(self, new: NewTransaction) -> Transaction | None:
        tx_id = None
        if new.start_key is not None:
            tx_id = self._tx_by_key.get(new.start_key)
        if tx_id is None and new.station_tx_id is not None:
            tx_id = self._tx_by_station_id.get((new.station_id, new.station_tx_id))
        return None if tx_id is None else dataclasses.replace(self._txs[tx_id])

    async def open_transaction(self, new: NewTransaction) -> tuple[Transaction, bool]:
        existing = self._existing(new)
        if existing is not None:
            return existing, False
        tx_id = self._next_tx_id
        self._next_tx_id += 1
        tx = Transaction(
            id=tx_id,
            station_id=new.station_id,
            station_tx_id=new.station_tx_id if new.station_tx_id is not None else str(tx_id),
            evse_id=new.evse_id,
            connector_id=new.connector_id,
            id_token=new.id_token,
            started_at=utc(new.started_at),
            meter_start_wh=new.meter_start_wh,
            offline=new.offline,
            remote_start_id=new.remote_start_id,
        )
        self._txs[tx_id] = tx
        if new.start_key is not None:
            self._tx_by_key[new.start_key] = tx_id
        if new.station_tx_id is not None:
            self._tx_by_station_id[(new.station_id, new.station_tx_id)] = tx_id
        return dataclasses.replace(tx), True

    def _tx(self, transaction_id: int) -> Transaction:
        """The stored transaction (not a copy); :class:`NotFound` when there is none."""
        tx = self._txs.get(transaction_id)
        if tx is None:
            raise NotFound(f"no transaction {transaction_id}")
        return tx

    async def save_transaction(self, tx: Transaction) -> None:
        old = self._tx(tx.id)
        tx = _norm_tx(tx)
        self._txs[tx.id] = dataclasses.replace(
            old, needs=tx.needs, **{f: getattr(tx, f) for f in TRANSACTION_SAVED_FIELDS}
        )

    async def get_transaction(self, transaction_id: int) -> Transaction | None:
        tx = self._txs.get(transaction_id)
        return None if tx is None else dataclasses.replace(tx)

    async def find_transaction(self, station_id: str, station_tx_id: str) -> Transaction | None:
        tx_id = self._tx_by_station_id.get((station_id, station_tx_id))
        if tx_id is None and is_legacy_tx_id(station_tx_id):
            # A 1.6 transaction: the station uses str(id).
            candidate = self._txs.get(int(station_tx_id))
            if (
                candidate is not None
                and candidate.station_id == station_id
                and candidate.station_tx_id == station_tx_id
            ):
                tx_id = candidate.id
        return None if tx_id is None else dataclasses.replace(self._txs[tx_id])

    async def active_transaction(
        self, station_id: str, evse_id: int, connector_id: int | None = None
    ) -> Transaction | None:
        for tx in sorted(self._txs.values(), key=lambda t: t.id, reverse=True):
            if (
                tx.active
                and tx.station_id == station_id
                and tx.evse_id == evse_id
                and (connector_id is None or tx.connector_id == connector_id)
            ):
                return dataclasses.replace(tx)
        return None

    async def list_transactions(
        self,
        *,
        station_id: str | None = None,
        active: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[Transaction]:
        rows = [
            tx
            for tx in self._txs.values()
            if (station_id is None or tx.station_id == station_id)
            and (active is None or tx.active == active)
            and (since is None or tx.started_at >= utc(since))
            and (until is None or tx.started_at < utc(until))
        ]
        rows.sort(key=lambda t: (t.started_at, t.id))
        return [dataclasses.replace(t) for t in rows[: max(limit, 0)]]

    async def record_transaction_event(
        self, transaction_id: int, seq_no: int, kind: str, at: datetime
    ) -> bool:
        self._tx(transaction_id)  # NotFound when there is none
        key = (transaction_id, seq_no)
        if key in self._tx_events:
            return False
        self._tx_events.add(key)
        return True

    async def apply_transaction_event(
        self,
        transaction_id: int,
        *,
        seq_no: int | None,
        kind: str,
        at: datetime,
        samples: Sequence[StoredSample] = (),
        transaction: Transaction | None = None,
        on_commit: Callable[[bool], object] | None = None,
    ) -> bool:
        self._tx(transaction_id)  # NotFound when there is none
        # The seqNo last: a write cut short before it is redone whole, as fresh.
        await self.add_samples(samples)
        if transaction is not None:
            await self.save_transaction(transaction)
        fresh = seq_no is None or await self.record_transaction_event(
            transaction_id, seq_no, kind, at
        )
        if on_commit is not None:
            on_commit(fresh)
        return fresh

    async def set_needs(self, transaction_id: int, needs: EVChargingNeeds) -> None:
        self._tx(transaction_id).needs = _norm_needs(needs)

    # -- meter values ---------------------------------------------------------------------
    async def add_samples(
        self,
        samples: Sequence[StoredSample],
        on_commit: Callable[[int], object] | None = None,
    ) -> int:
        added = 0
        for s in samples:
            key = sample_key(s)
            if key in self._sample_keys:
                continue
            self._sample_keys.add(key)
            s = _norm_sample(s)
            self._samples.append(s)
            added += 1
            group = (s.station_id, s.evse_id, s.connector_id, s.sample.measurand, s.sample.phase)
            old = self._latest.get(group)
            if old is None or s.sample.timestamp >= old.sample.timestamp:
                self._latest[group] = s
        if on_commit is not None:
            on_commit(added)
        return added

    async def samples_for_transaction(self, transaction_id: int) -> list[StoredSample]:
        rows = [s for s in self._samples if s.transaction_id == transaction_id]
        rows.sort(key=lambda s: s.sample.timestamp)
        return rows

    async def latest_samples(self, station_id: str) -> list[StoredSample]:
        groups = [g for g in self._latest if g[0] == station_id]
        return [self._latest[g] for g in sorted(groups, key=_latest_order)]


def _latest_order(group: tuple[str, int, int, str, str | None]) -> tuple[int, int, str, str]:
    return (group[1], group[2], group[3], group[4] or "")


def is_legacy_tx_id(text: str) -> bool:
    """Whether ``text`` is how a 1.6 transaction id is written: ``str(id)``."""
    return text.isascii() and text.isdigit() and str(int(text)) == text and int(text) < 2**31
