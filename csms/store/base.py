"""The persistence contract of the central system.

Every method is atomic and every write is idempotent where the protocol allows redelivery,
so a caller that did not get an answer (crash, timeout, database blip) may simply call again.
A transient database failure raises :class:`~csms.exceptions.StoreUnavailable`; the caller
holds the station's answer and retries (see ``csms.core``), it never turns it into a CALLERROR.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from csms.domain import (
    BootInfo,
    EVChargingNeeds,
    IdToken,
    MeterSample,
    RegistrationStatus,
    StatusReport,
    Transaction,
)

if TYPE_CHECKING:
    from csms.store.station_feed import StationFeed

__all__ = [
    "STATION_BOOT_FIELDS",
    "STATION_SET_FIELDS",
    "TRANSACTION_SAVED_FIELDS",
    "NewTransaction",
    "StationEvent",
    "StationRecord",
    "Store",
    "StoredSample",
    "boot_fields",
]


@dataclass(frozen=True, slots=True)
class StationRecord:
    """A registered (or pending) station."""

    station_id: str
    password_hash: str | None = None
    site_id: str | None = None
    #: Registration state an operator set: Accepted, Pending (awaiting approval) or Rejected.
    registration: RegistrationStatus = RegistrationStatus.ACCEPTED
    ocpp_version: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    last_boot_at: datetime | None = None
    last_seen_at: datetime | None = None
    connected: bool = False
    #: the OCPP security profile (1-3) the station must connect with; None: the server's
    #: configured minimum
    security_profile: int | None = None
    #: a new password sent to the station and not yet used by it; both are accepted until
    #: the station connects with the new one (then it replaces ``password_hash``)
    pending_password_hash: str | None = None
    #: a higher security profile the station accepted to move to and has not yet connected
    #: with; its ``security_profile`` is raised to it when it does
    pending_security_profile: int | None = None


#: The fields :meth:`Store.put_station` sets on a station already stored; the others are
#: what its boots and connections record.
STATION_SET_FIELDS = (
    "password_hash",
    "site_id",
    "registration",
    "security_profile",
    "pending_password_hash",
    "pending_security_profile",
)

#: The fields :meth:`Store.record_boot` sets on a station: what it said of itself at boot
#: and when (:func:`boot_fields`).
STATION_BOOT_FIELDS = (
    "ocpp_version",
    "vendor",
    "model",
    "serial_number",
    "firmware_version",
    "last_boot_at",
)


def boot_fields(info: BootInfo, at: datetime) -> dict[str, Any]:
    """The values of :data:`STATION_BOOT_FIELDS` for a boot with ``info`` at ``at``."""
    return {
        "ocpp_version": info.ocpp_version,
        "vendor": info.vendor,
        "model": info.model,
        "serial_number": info.serial_number,
        "firmware_version": info.firmware_version,
        "last_boot_at": at,
    }


#: The fields of a :class:`~csms.domain.Transaction` :meth:`Store.save_transaction` persists
#: besides its EV's needs (``needs``, a record of its own, is persisted too).
TRANSACTION_SAVED_FIELDS = (
    "stopped_at",
    "meter_stop_wh",
    "stop_reason",
    "charging_state",
    "last_seq_no",
    "offline",
    "id_token",
    "remote_start_id",
)


@dataclass(frozen=True, slots=True)
class NewTransaction:
    """What the core knows when a transaction starts.

    ``start_key`` makes a 1.6 StartTransaction idempotent (station, connector, id tag, meter
    start and timestamp); a 2.0.1 transaction is identified by ``(station_id, station_tx_id)``.
    """

    station_id: str
    evse_id: int
    connector_id: int
    started_at: datetime
    id_token: str | None = None
    station_tx_id: str | None = None
    meter_start_wh: float | None = None
    start_key: str | None = None
    remote_start_id: int | None = None
    offline: bool = False


@dataclass(frozen=True, slots=True)
class StoredSample:
    station_id: str
    evse_id: int
    connector_id: int
    transaction_id: int | None
    sample: MeterSample


@dataclass(frozen=True, slots=True)
class StationEvent:
    """A message kept for the record: firmware/diagnostics status, security events,
    NotifyEvent, NotifyReport, DataTransfer, boots."""

    station_id: str
    kind: str
    at: datetime
    data: dict[str, Any]


class Store(Protocol):
    """Implemented by :class:`csms.store.memory.MemoryStore` and
    :class:`csms.store.sql.SqlStore` (SQLite and PostgreSQL)."""

    async def open(self) -> None:
        """Connect (and for the SQL store, check the schema is at the latest migration)."""

    async def close(self) -> None: ...

    async def settle(self) -> None:
        """Return once every write submitted before this call has committed or failed, and
        the ``on_commit`` of each committed one has run (a stopping server waits for the
        writes of the handlers it cancelled, so what they committed is announced)."""

    # -- stations -------------------------------------------------------------------------
    async def get_station(self, station_id: str) -> StationRecord | None: ...

    async def put_station(self, record: StationRecord) -> None:
        """Create, or replace the registration fields (:data:`STATION_SET_FIELDS`)."""

    async def delete_station(self, station_id: str) -> None: ...

    async def list_stations(self) -> list[StationRecord]: ...

    def station_feed(self) -> StationFeed | None:
        """A reader of the changes to station records made by any writer, for a cache of
        them (:mod:`csms.store.station_feed`); None when this process is the only writer
        and a read costs no more than a cache would (the memory store)."""

    async def prune_station_changes(self, *, keep: int) -> None:
        """Forget all but the newest ``keep`` changes of :meth:`station_feed`."""

    async def record_boot(
        self,
        station_id: str,
        info: BootInfo,
        status: RegistrationStatus,
        at: datetime,
        *,
        connected: bool = False,
    ) -> None:
        """Keep vendor/model/firmware and the boot time; creates the row if missing
        (an unknown station under the ``pending`` policy). ``connected``: also what
        ``record_connection(connected=True, at=at)`` records, in the same write."""

    async def record_connection(
        self, station_id: str, *, connected: bool, at: datetime
    ) -> None: ...

    async def record_seen(self, station_id: str, at: datetime) -> None:
        """Heartbeat or any message: update ``last_seen_at``."""

    async def record_status(self, report: StatusReport) -> None:
        """Keep the latest status per (station, evse, connector) and a history row."""

    async def connector_statuses(self, station_id: str) -> list[StatusReport]:
        """Latest status per (evse, connector), ordered by (evse_id, connector_id)."""

    async def status_history(
        self,
        station_id: str,
        *,
        evse_id: int | None = None,
        connector_id: int | None = None,
        limit: int = 1000,
    ) -> list[StatusReport]:
        """Every status report kept for the station (optionally one EVSE / connector), oldest
        first by ``timestamp``; the most recent ``limit`` reports."""

    async def record_station_event(self, event: StationEvent) -> None: ...

    async def station_events(
        self, station_id: str, kind: str | None = None
    ) -> list[StationEvent]: ...

    # -- id tokens ------------------------------------------------------------------------
    async def get_id_token(self, token: str) -> IdToken | None: ...

    async def put_id_token(self, token: IdToken) -> None: ...

    async def delete_id_token(self, token: str) -> None: ...

    async def list_id_tokens(self) -> list[IdToken]: ...

    # -- transactions ---------------------------------------------------------------------
    async def open_transaction(self, new: NewTransaction) -> tuple[Transaction, bool]:
        """Create a transaction, or return the existing one with the same ``start_key`` or
        ``(station_id, station_tx_id)``. Returns ``(transaction, created)``. For 1.6 (no
        ``station_tx_id``) the station-facing id becomes ``str(transaction.id)``."""

    async def save_transaction(self, tx: Transaction) -> None:
        """Persist the mutable fields (:data:`TRANSACTION_SAVED_FIELDS` and the needs)."""

    async def get_transaction(self, transaction_id: int) -> Transaction | None: ...

    async def find_transaction(self, station_id: str, station_tx_id: str) -> Transaction | None: ...

    async def active_transaction(
        self, station_id: str, evse_id: int, connector_id: int | None = None
    ) -> Transaction | None: ...

    async def list_transactions(
        self,
        *,
        station_id: str | None = None,
        active: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[Transaction]: ...

    async def record_transaction_event(
        self, transaction_id: int, seq_no: int, kind: str, at: datetime
    ) -> bool:
        """Remember a 2.0.1 TransactionEvent's seqNo. False if it was already recorded."""

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
        """A 2.0.1 TransactionEvent as one atomic write: remember its ``seq_no`` (as
        :meth:`record_transaction_event`), store its ``samples`` (as :meth:`add_samples`)
        and persist ``transaction``'s mutable fields (as :meth:`save_transaction`), all
        committed together. Returns False when the seqNo was already recorded (the samples
        and fields are written anyway: every part is idempotent); True without a seqNo.
        ``on_commit`` is called with that result once committed, before the caller hears
        of it, even if the caller was cancelled meanwhile (a write it never reaches is not
        committed)."""

    async def set_needs(self, transaction_id: int, needs: EVChargingNeeds) -> None: ...

    # -- meter values ---------------------------------------------------------------------
    async def add_samples(
        self,
        samples: Sequence[StoredSample],
        on_commit: Callable[[int], object] | None = None,
    ) -> int:
        """Store samples; an identical sample (same station, evse, connector, transaction,
        timestamp, measurand, phase, location, context) is stored once. Returns how many were
        new; ``on_commit`` as for :meth:`apply_transaction_event`."""

    async def samples_for_transaction(self, transaction_id: int) -> list[StoredSample]: ...

    async def latest_samples(self, station_id: str) -> list[StoredSample]:
        """The latest sample per (evse, connector, measurand, phase)."""
