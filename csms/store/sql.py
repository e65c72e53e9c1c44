"""The SQL store: SQLite (embedded default) and PostgreSQL through SQLAlchemy 2 (async Core).

Every write goes through one :class:`~csms.store.writer.GroupWriter` (group commit; the
caller's call returns once the write is committed). Reads use the pool directly. Idempotent
writes are ``INSERT ... ON CONFLICT DO NOTHING`` against unique constraints. Failures that a
retry can cure are retried a few times, then raised as
:class:`~csms.exceptions.StoreUnavailable`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargegrid.clock import utc
from csms.domain import (
    BootInfo,
    EVChargingNeeds,
    IdToken,
    RegistrationStatus,
    StatusReport,
    Transaction,
)
from csms.exceptions import NotFound, StoreError
from csms.store import mapping as mp
from csms.store import tables as t
from csms.store.base import (
    STATION_BOOT_FIELDS,
    STATION_SET_FIELDS,
    NewTransaction,
    StationEvent,
    StationRecord,
    StoredSample,
    boot_fields,
)
from csms.store.memory import is_legacy_tx_id
from csms.store.ops import (
    SamplesOp,
    SeenOp,
    StatusOp,
    TransactionEventOp,
    dialect_insert,
    tx_update_params,
)
from csms.store.sql_access import SqlAccess
from csms.store.statements import where_equal

__all__ = ["SqlStore"]

logger = logging.getLogger(__name__)


# Run at every connection: statements built once (their cache keys with them).
_GET_STATION = sa.select(t.stations).where(t.stations.c.station_id == sa.bindparam("b_station_id"))


def _seen_at_latest(at: Any) -> Any:
    """A station's ``last_seen_at`` moved to ``at``, unless it is later already: it only
    moves forward."""
    seen = t.stations.c.last_seen_at
    return sa.case((sa.or_(seen.is_(None), seen < at), at), else_=seen)


_CONNECTED = (
    sa.update(t.stations)
    .where(t.stations.c.station_id == sa.bindparam("b_station_id"))
    .values(
        connected=True,
        last_seen_at=_seen_at_latest(sa.bindparam("b_at", type_=t.UtcDateTime())),
    )
)
_DISCONNECTED = (
    sa.update(t.stations)
    .where(t.stations.c.station_id == sa.bindparam("b_station_id"))
    .values(connected=False)
)


@functools.cache
def _record_boot_statement(dialect: str, connected: bool) -> Any:
    """``record_boot``'s upsert, built once per dialect: building it per boot (its
    ``excluded`` columns and cache key) cost more CPU than the rest of a connection.
    ``connected``: it also records the connection (``_CONNECTED``), one statement for both."""
    columns = mp.station_row(StationRecord("-")).keys()
    stmt = dialect_insert(dialect, t.stations).values(
        {k: sa.bindparam(f"b_{k}", type_=t.stations.c[k].type) for k in columns}
    )
    update: dict[str, Any] = {k: stmt.excluded[k] for k in STATION_BOOT_FIELDS}
    if connected:
        update["connected"] = True
        update["last_seen_at"] = _seen_at_latest(stmt.excluded.last_seen_at)
    return stmt.on_conflict_do_update(index_elements=["station_id"], set_=update)


class SqlStore(SqlAccess):
    """:class:`~csms.store.base.Store` on SQLite or PostgreSQL.

    ``auto_migrate`` creates the schema on an empty database; a database at an older
    revision is refused (run ``chargegrid db upgrade``). ``max_batch_ops`` bounds a group
    commit; ``retry_delays_s`` are the waits between attempts on a transient failure;
    ``statement_timeout_s`` turns a PostgreSQL server that stopped answering into
    :class:`~csms.exceptions.StoreUnavailable` instead of a hang.
    """

    # -- stations -------------------------------------------------------------------------
    async def get_station(self, station_id: str) -> StationRecord | None:
        # Read at every connection: a statement built once (its cache key with it).
        m = await self._one(_GET_STATION, {"b_station_id": station_id})
        return None if m is None else mp.row_to_station(m)

    async def put_station(self, record: StationRecord) -> None:
        stmt = self._insert(t.stations).values(mp.station_row(record))
        stmt = stmt.on_conflict_do_update(
            index_elements=["station_id"],
            set_={f: stmt.excluded[f] for f in STATION_SET_FIELDS},
        )

        async def run(conn: AsyncConnection) -> None:
            await conn.execute(stmt)

        await self._write(run)

    async def delete_station(self, station_id: str) -> None:
        async def run(conn: AsyncConnection) -> None:
            result = await conn.execute(
                sa.delete(t.stations).where(t.stations.c.station_id == station_id)
            )
            if result.rowcount == 0:
                raise NotFound(f"no station {station_id!r}")
            await conn.execute(
                sa.delete(t.connector_status).where(t.connector_status.c.station_id == station_id)
            )

        await self._write(run)

    async def list_stations(self) -> list[StationRecord]:
        rows = await self._all(
            sa.select(t.stations).order_by(self._by_text(t.stations.c.station_id))
        )
        return [mp.row_to_station(m) for m in rows]

    async def record_boot(
        self,
        station_id: str,
        info: BootInfo,
        status: RegistrationStatus,
        at: datetime,
        *,
        connected: bool = False,
    ) -> None:
        boot = boot_fields(info, at)
        if connected:
            boot |= {"connected": True, "last_seen_at": utc(at)}
        row = mp.station_row(StationRecord(station_id, registration=status)) | boot
        stmt = _record_boot_statement(self.dialect, connected)
        params = {f"b_{k}": v for k, v in row.items()}

        async def run(conn: AsyncConnection) -> None:
            await conn.execute(stmt, params)

        await self._write(run)

    async def record_connection(self, station_id: str, *, connected: bool, at: datetime) -> None:
        params: dict[str, Any] = {"b_station_id": station_id}
        if connected:
            stmt, params["b_at"] = _CONNECTED, utc(at)
        else:
            stmt = _DISCONNECTED

        async def run(conn: AsyncConnection) -> None:
            await conn.execute(stmt, params)

        await self._write(run)

    async def record_seen(self, station_id: str, at: datetime) -> None:
        await self._writer.submit(SeenOp(station_id, at))

    async def record_status(self, report: StatusReport) -> None:
        await self._writer.submit(StatusOp(self.dialect, report))

    async def connector_statuses(self, station_id: str) -> list[StatusReport]:
        c = t.connector_status.c
        rows = await self._all(
            sa.select(t.connector_status)
            .where(c.station_id == station_id)
            .order_by(c.evse_id, c.connector_id)
        )
        return [mp.row_to_status(m) for m in rows]

    async def status_history(
        self,
        station_id: str,
        *,
        evse_id: int | None = None,
        connector_id: int | None = None,
        limit: int = 1000,
    ) -> list[StatusReport]:
        c = t.status_history.c
        stmt = where_equal(
            sa.select(t.status_history),
            c,
            station_id=station_id,
            evse_id=evse_id,
            connector_id=connector_id,
        )
        stmt = stmt.order_by(c.timestamp.desc(), c.id.desc()).limit(max(limit, 0))
        rows = await self._all(stmt)
        return [mp.row_to_status(m) for m in reversed(rows)]

    async def record_station_event(self, event: StationEvent) -> None:
        stmt = self._insert(t.station_events).values(mp.event_row(event)).on_conflict_do_nothing()

        async def run(conn: AsyncConnection) -> None:
            await conn.execute(stmt)

        await self._write(run)

    async def station_events(self, station_id: str, kind: str | None = None) -> list[StationEvent]:
        c = t.station_events.c
        stmt = where_equal(sa.select(t.station_events), c, station_id=station_id, kind=kind)
        rows = await self._all(stmt.order_by(c.at, c.id))
        return [mp.row_to_event(m) for m in rows]

    # -- id tokens ------------------------------------------------------------------------
    async def get_id_token(self, token: str) -> IdToken | None:
        m = await self._one(sa.select(t.id_tokens).where(t.id_tokens.c.token == token))
        return None if m is None else mp.row_to_id_token(m)

    async def put_id_token(self, token: IdToken) -> None:
        row = mp.id_token_row(token)
        stmt = self._insert(t.id_tokens).values(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["token"], set_={k: stmt.excluded[k] for k in row if k != "token"}
        )

        async def run(conn: AsyncConnection) -> None:
            await conn.execute(stmt)

        await self._write(run)

    async def delete_id_token(self, token: str) -> None:
        async def run(conn: AsyncConnection) -> None:
            result = await conn.execute(sa.delete(t.id_tokens).where(t.id_tokens.c.token == token))
            if result.rowcount == 0:
                raise NotFound(f"no id token {token!r}")

        await self._write(run)

    async def list_id_tokens(self) -> list[IdToken]:
        rows = await self._all(sa.select(t.id_tokens).order_by(self._by_text(t.id_tokens.c.token)))
        return [mp.row_to_id_token(m) for m in rows]

    # -- transactions ---------------------------------------------------------------------
    @staticmethod
    def _existing_tx(new: NewTransaction) -> sa.Select[Any]:
        c = t.transactions.c
        conditions = []
        if new.start_key is not None:
            conditions.append(c.start_key == new.start_key)
        if new.station_tx_id is not None:
            conditions.append(
                sa.and_(c.station_id == new.station_id, c.station_tx_id == new.station_tx_id)
            )
        # A start_key match wins over a station_tx_id match (as in the memory store).
        first = sa.case((c.start_key == new.start_key, 0), else_=1) if new.start_key else c.id
        return sa.select(t.transactions).where(sa.or_(*conditions)).order_by(first, c.id).limit(1)

    async def open_transaction(self, new: NewTransaction) -> tuple[Transaction, bool]:
        keyed = new.start_key is not None or new.station_tx_id is not None
        insert = self._insert(t.transactions).values(mp.new_transaction_row(new))
        if keyed:
            insert = insert.on_conflict_do_nothing()
        insert = insert.returning(*t.transactions.c)

        async def run(conn: AsyncConnection) -> tuple[Transaction, bool]:
            if keyed:
                # Look first: a retried start consumes no id from the sequence.
                found = (await conn.execute(self._existing_tx(new))).mappings().first()
                if found is not None:
                    return mp.row_to_transaction(found), False
            row = (await conn.execute(insert)).mappings().first()
            if row is not None:
                return mp.row_to_transaction(row), True
            found = (await conn.execute(self._existing_tx(new))).mappings().first()
            if found is None:
                raise StoreError("transaction conflicted but cannot be found")
            return mp.row_to_transaction(found), False

        return await self._write(run)

    async def save_transaction(self, tx: Transaction) -> None:
        stmt = (
            sa.update(t.transactions)
            .where(t.transactions.c.id == tx.id)
            .values(mp.transaction_update_row(tx))
        )

        async def run(conn: AsyncConnection) -> None:
            if (await conn.execute(stmt)).rowcount == 0:
                raise NotFound(f"no transaction {tx.id}")

        await self._write(run)

    async def get_transaction(self, transaction_id: int) -> Transaction | None:
        m = await self._one(sa.select(t.transactions).where(t.transactions.c.id == transaction_id))
        return None if m is None else mp.row_to_transaction(m)

    async def find_transaction(self, station_id: str, station_tx_id: str) -> Transaction | None:
        c = t.transactions.c
        m = await self._one(
            sa.select(t.transactions).where(
                c.station_id == station_id, c.station_tx_id == station_tx_id
            )
        )
        if m is None and is_legacy_tx_id(station_tx_id):
            # A 1.6 transaction: the station knows it as str(id).
            m = await self._one(
                sa.select(t.transactions).where(
                    c.id == int(station_tx_id),
                    c.station_id == station_id,
                    c.station_tx_id.is_(None),
                )
            )
        return None if m is None else mp.row_to_transaction(m)

    async def active_transaction(
        self, station_id: str, evse_id: int, connector_id: int | None = None
    ) -> Transaction | None:
        c = t.transactions.c
        stmt = sa.select(t.transactions).where(
            c.station_id == station_id, c.evse_id == evse_id, c.stopped_at.is_(None)
        )
        if connector_id is not None:
            stmt = stmt.where(c.connector_id == connector_id)
        m = await self._one(stmt.order_by(c.id.desc()).limit(1))
        return None if m is None else mp.row_to_transaction(m)

    async def list_transactions(
        self,
        *,
        station_id: str | None = None,
        active: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[Transaction]:
        c = t.transactions.c
        stmt = where_equal(sa.select(t.transactions), c, station_id=station_id)
        if active is not None:
            stmt = stmt.where(c.stopped_at.is_(None) if active else c.stopped_at.is_not(None))
        if since is not None:
            stmt = stmt.where(c.started_at >= since)
        if until is not None:
            stmt = stmt.where(c.started_at < until)
        rows = await self._all(stmt.order_by(c.started_at, c.id).limit(max(limit, 0)))
        return [mp.row_to_transaction(m) for m in rows]

    async def record_transaction_event(
        self, transaction_id: int, seq_no: int, kind: str, at: datetime
    ) -> bool:
        stmt = (
            self._insert(t.transaction_events)
            .values(transaction_id=transaction_id, seq_no=seq_no, kind=kind, at=at)
            .on_conflict_do_nothing()
        )
        exists = sa.select(t.transactions.c.id).where(t.transactions.c.id == transaction_id)

        async def run(conn: AsyncConnection) -> bool:
            if (await conn.execute(exists)).first() is None:
                raise NotFound(f"no transaction {transaction_id}")
            return bool((await conn.execute(stmt)).rowcount == 1)

        return await self._write(run)

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
        op = TransactionEventOp(
            self.dialect,
            transaction_id,
            seq_no,
            kind,
            at,
            [mp.sample_row(s) for s in samples],
            self._known_meters,
            None if transaction is None else tx_update_params(transaction),
        )
        op.on_commit = on_commit
        return await self._writer.submit(op)

    async def set_needs(self, transaction_id: int, needs: EVChargingNeeds) -> None:
        stmt = (
            sa.update(t.transactions)
            .where(t.transactions.c.id == transaction_id)
            .values(mp.needs_row(needs))
        )

        async def run(conn: AsyncConnection) -> None:
            if (await conn.execute(stmt)).rowcount == 0:
                raise NotFound(f"no transaction {transaction_id}")

        await self._write(run)

    # -- meter values ---------------------------------------------------------------------
    async def add_samples(
        self,
        samples: Sequence[StoredSample],
        on_commit: Callable[[int], object] | None = None,
    ) -> int:
        if not samples:
            if on_commit is not None:
                on_commit(0)
            return 0
        op = SamplesOp(self.dialect, [mp.sample_row(s) for s in samples], self._known_meters)
        op.on_commit = on_commit
        return await self._writer.submit(op)

    async def samples_for_transaction(self, transaction_id: int) -> list[StoredSample]:
        c = t.samples.c
        rows = await self._all(
            sa.select(t.samples)
            .where(c.transaction_id == transaction_id)
            .order_by(c.timestamp, c.id)
        )
        return [mp.row_to_sample(m) for m in rows]

    async def latest_samples(self, station_id: str) -> list[StoredSample]:
        # Per meter of the station: its newest timestamp (a seek in the samples unique
        # index), then among the samples at that time the last stored.
        m, s = t.meters.c, t.samples.c
        x, y = t.samples.alias("x"), t.samples.alias("y")
        newest_time = (
            sa.select(sa.func.max(x.c.timestamp))
            .where(*(x.c[k] == m[k] for k in t.METER_KEY))
            .correlate(t.meters)
            .scalar_subquery()
        )
        newest_id = (
            sa.select(y.c.id)
            .where(*(y.c[k] == m[k] for k in t.METER_KEY), y.c.timestamp == newest_time)
            .order_by(y.c.id.desc())
            .limit(1)
            .correlate(t.meters)
            .scalar_subquery()
        )
        stmt = (
            sa.select(t.samples)
            .select_from(t.meters.join(t.samples, s.id == newest_id))
            .where(m.station_id == station_id)
            .order_by(m.evse_id, m.connector_id, self._by_text(m.measurand), self._by_text(m.phase))
        )
        return [mp.row_to_sample(row) for row in await self._all(stmt)]
