"""Writes that the group-commit writer merges across callers: heartbeats, status reports and
meter samples (see :mod:`csms.store.writer`)."""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from chargegrid.clock import utc
from csms.domain import StatusReport, Transaction
from csms.store import mapping as mp
from csms.store import tables as t
from csms.store.raw_postgres import KeyedUpdate, UnnestInsert, asyncpg_connection
from csms.store.raw_sqlite import RawStatement
from csms.store.writer import Coalesced, sqlite_dbapi

__all__ = [
    "SamplesOp",
    "SeenOp",
    "StatusOp",
    "TransactionEventOp",
    "dialect_insert",
    "tx_update_params",
]


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """The INSERT with ``on_conflict_do_*`` of the dialect (``sqlite`` or ``postgresql``)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class SeenOp(Coalesced[None]):
    """Heartbeats: only the latest time per station matters."""

    __slots__ = ("at", "station_id")

    def __init__(self, station_id: str, at: datetime) -> None:
        super().__init__()
        self.station_id = station_id
        self.at = utc(at)

    @classmethod
    async def run_many(cls, conn: AsyncConnection, ops: Sequence[Any]) -> list[None]:
        latest: dict[str, datetime] = {}
        for op in ops:
            seen = latest.get(op.station_id)
            if seen is None or op.at > seen:
                latest[op.station_id] = op.at
        # Rows in key order: two nodes writing the same rows cannot deadlock each other.
        params = [{"b_station_id": k, "b_at": latest[k]} for k in sorted(latest)]
        await conn.execute(_SEEN_UPDATE, params)
        return [None] * len(ops)


class StatusOp(Coalesced[None]):
    """Status reports: history rows plus the latest status per connector."""

    __slots__ = ("dialect", "report")

    def __init__(self, dialect: str, report: StatusReport) -> None:
        super().__init__()
        self.dialect = dialect
        self.report = dataclasses.replace(report, timestamp=utc(report.timestamp))

    @classmethod
    async def run_many(cls, conn: AsyncConnection, ops: Sequence[Any]) -> list[None]:
        dialect: str = ops[0].dialect
        rows = [mp.status_row(op.report) for op in ops]
        history, latest_upsert = _status_statements(dialect)
        await conn.execute(history, rows)
        # One row per connector in a statement (PostgreSQL refuses to touch a row twice);
        # the latest timestamp wins, a tie goes to the later call.
        latest: dict[tuple[str, int, int], dict[str, Any]] = {}
        for row in rows:
            key = (row["station_id"], row["evse_id"], row["connector_id"])
            old = latest.get(key)
            if old is None or row["timestamp"] >= old["timestamp"]:
                latest[key] = row
        await conn.execute(latest_upsert, [latest[k] for k in sorted(latest)])
        return [None] * len(ops)


_STATUS_KEY = t.CONNECTOR_KEY
#: The keys of :func:`~csms.store.mapping.status_row`, in its order.
_STATUS_ROW_KEYS = tuple(f.name for f in dataclasses.fields(StatusReport))

# The statements of the merged writes are the same for every batch: built once (building
# them, and their cache keys, was a measurable part of every batch).
_SEEN_UPDATE = (
    sa.update(t.stations)
    .where(t.stations.c.station_id == sa.bindparam("b_station_id"))
    .where(
        sa.or_(
            t.stations.c.last_seen_at.is_(None),
            t.stations.c.last_seen_at < sa.bindparam("b_at"),
        )
    )
    .values(last_seen_at=sa.bindparam("b_at"))
)


@functools.cache
def _status_statements(dialect: str) -> tuple[Any, Any]:
    history = dialect_insert(dialect, t.status_history).on_conflict_do_nothing()
    upsert = dialect_insert(dialect, t.connector_status)
    upsert = upsert.on_conflict_do_update(
        index_elements=list(_STATUS_KEY),
        set_={k: upsert.excluded[k] for k in _STATUS_ROW_KEYS if k not in _STATUS_KEY},
        where=t.connector_status.c.timestamp <= upsert.excluded.timestamp,
    )
    return history, upsert


@functools.cache
def _samples_statements(dialect: str) -> tuple[Any, Any]:
    insert = (
        dialect_insert(dialect, t.samples)
        .on_conflict_do_nothing()
        .returning(*(t.samples.c[k] for k in _SAMPLE_KEY))
    )
    meters = dialect_insert(dialect, t.meters).on_conflict_do_nothing()
    return insert, meters


_SAMPLE_KEY = t.SAMPLE_IDENTITY


class SamplesOp(Coalesced[int]):
    """Meter values: one INSERT for the whole batch; each caller learns how many of its
    samples were new (a sample sent twice in a batch counts for its first caller). A meter
    seen for the first time is added to ``meters``; ``known_meters`` (the store's cache of
    meters already in the database) is only extended once the batch has committed."""

    __slots__ = ("dialect", "known_meters", "new_meters", "rows")

    def __init__(
        self, dialect: str, rows: list[dict[str, Any]], known_meters: set[tuple[Any, ...]]
    ) -> None:
        super().__init__()
        self.dialect = dialect
        for row in rows:
            row["timestamp"] = utc(row["timestamp"])
        self.rows = rows
        self.known_meters = known_meters
        self.new_meters: set[tuple[Any, ...]] = set()

    @classmethod
    async def run_many(cls, conn: AsyncConnection, ops: Sequence[Any]) -> list[int]:
        return await _insert_samples(conn, ops)

    @classmethod
    def after_commit(cls, ops: Sequence[Any]) -> None:
        for op in ops:
            op.known_meters.update(op.new_meters)


async def _insert_samples(
    conn: AsyncConnection, ops: Sequence[Any], *, counted: bool = True
) -> list[int]:
    """The samples of ``ops`` (each with ``dialect``, ``rows``, ``known_meters`` and
    ``new_meters``) in one INSERT; how many of each op's samples were new (``counted``:
    on SQLite the uncounted rows of many callers go in one ``executemany``)."""
    dialect: str = ops[0].dialect
    known: set[tuple[Any, ...]] = ops[0].known_meters
    owner: dict[tuple[Any, ...], int] = {}
    rows: list[dict[str, Any]] = []
    new_meters: dict[tuple[Any, ...], int] = {}
    for i, op in enumerate(ops):
        op.new_meters = set()
        for row in op.rows:
            key = _sample_key(row)
            if key not in owner:
                owner[key] = i
                rows.append(row)
                meter = _meter_key(row)
                if meter not in known and meter not in new_meters:
                    new_meters[meter] = i
    counts = [0] * len(ops)
    if not rows:
        return counts
    insert, insert_meters = _samples_statements(dialect)
    raw = sqlite_dbapi(conn)
    meter_rows = [dict(zip(_METER_KEY, m, strict=True)) for m in sorted(new_meters)]
    if raw is not None:
        if counted:
            _insert_samples_raw(raw.cursor(), rows, owner, counts)
        else:
            _RAW_SAMPLES[0].executemany(raw.cursor(), rows)
        if meter_rows:
            _RAW_SAMPLES[1].executemany(raw.cursor(), meter_rows)
    elif dialect == "postgresql":
        driver = await asyncpg_connection(conn)
        for key in await _PG_SAMPLES.fetch(driver, rows):
            counts[owner[tuple(key)]] += 1
        if meter_rows:
            await _PG_METERS.execute(driver, meter_rows)
    else:
        for key in (await conn.execute(insert, rows)).all():
            counts[owner[tuple(key)]] += 1
        if meter_rows:
            await conn.execute(insert_meters, meter_rows)
    for meter, i in new_meters.items():
        ops[i].new_meters.add(meter)
    return counts


def _insert_samples_raw(
    cursor: Any,
    rows: list[dict[str, Any]],
    owner: dict[tuple[Any, ...], int],
    counts: list[int],
) -> None:
    """:func:`_insert_samples` on the SQLite writer's DBAPI connection: each caller's rows
    in one ``executemany``, whose row count is how many of them were new."""
    insert = _RAW_SAMPLES[0]
    start = 0
    for end in range(1, len(rows) + 1):
        i = owner[_sample_key(rows[start])]
        if end == len(rows) or owner[_sample_key(rows[end])] != i:
            counts[i] += insert.executemany(cursor, rows[start:end])
            start = end


class TransactionEventOp(Coalesced[bool]):
    """A 2.0.1 TransactionEvent: its seqNo, its samples and the transaction's new fields,
    committed in the batch's one transaction (so all or nothing). Merged per batch into one
    INSERT of events (returning the keys it stored, so each caller learns whether its seqNo
    was new), one INSERT of samples and one UPDATE of transactions."""

    __slots__ = (
        "at",
        "dialect",
        "kind",
        "known_meters",
        "new_meters",
        "rows",
        "seq_no",
        "transaction_id",
        "tx_row",
    )

    def __init__(
        self,
        dialect: str,
        transaction_id: int,
        seq_no: int | None,
        kind: str,
        at: datetime,
        rows: list[dict[str, Any]],
        known_meters: set[tuple[Any, ...]],
        tx_row: dict[str, Any] | None,
    ) -> None:
        super().__init__()
        self.dialect = dialect
        self.transaction_id = transaction_id
        self.seq_no = seq_no
        self.kind = kind
        self.at = utc(at)
        for row in rows:
            row["timestamp"] = utc(row["timestamp"])
        self.rows = rows
        self.known_meters = known_meters
        self.new_meters: set[tuple[Any, ...]] = set()
        self.tx_row = tx_row

    @classmethod
    async def run_many(cls, conn: AsyncConnection, ops: Sequence[Any]) -> list[bool]:
        dialect: str = ops[0].dialect
        events, update = _tx_event_statements(dialect)
        owner: dict[tuple[int, int], int] = {}
        for i, op in enumerate(ops):
            if op.seq_no is not None:
                owner.setdefault((op.transaction_id, op.seq_no), i)
        fresh = [op.seq_no is None for op in ops]
        raw = sqlite_dbapi(conn)
        if raw is not None:
            _apply_events_raw(raw.cursor(), ops, owner, fresh)
            await _insert_samples(conn, ops, counted=False)
            latest = _latest_states(ops)
            if latest:
                _RAW_TX_UPDATE.executemany(raw.cursor(), latest)
            return fresh
        postgres = dialect == "postgresql"
        if owner:
            rows = [_event_row(ops[i]) for i in owner.values()]
            keys: Sequence[Any]
            if postgres:
                keys = await _PG_EVENTS.fetch(await asyncpg_connection(conn), rows)
            else:
                keys = (await conn.execute(events, rows)).all()
            for key in keys:
                fresh[owner[(key[0], key[1])]] = True
        await _insert_samples(conn, ops)
        latest = _latest_states(ops)
        if latest and postgres:
            await _PG_TX_UPDATE.execute(await asyncpg_connection(conn), latest)
        elif latest:
            await conn.execute(update, latest)
        return fresh

    @classmethod
    def after_commit(cls, ops: Sequence[Any]) -> None:
        for op in ops:
            op.known_meters.update(op.new_meters)


def _apply_events_raw(
    cursor: Any, ops: Sequence[Any], owner: dict[tuple[int, int], int], fresh: list[bool]
) -> None:
    """The seqNos of ``ops`` on the SQLite writer's DBAPI connection: a row inserted is a
    seqNo seen first (``fresh``)."""
    for i in owner.values():
        if _RAW_EVENT.execute(cursor, _event_row(ops[i])):
            fresh[i] = True


def _event_row(op: Any) -> dict[str, Any]:
    return {"transaction_id": op.transaction_id, "seq_no": op.seq_no, "kind": op.kind, "at": op.at}


def _latest_states(ops: Sequence[Any]) -> list[dict[str, Any]]:
    """The UPDATE's parameters: the last state of each transaction in the batch, in key
    order (two nodes updating the same rows cannot deadlock each other)."""
    latest: dict[int, dict[str, Any]] = {}
    for op in ops:
        if op.tx_row is not None:
            latest[op.transaction_id] = op.tx_row
    return [{"b_id": k, **latest[k]} for k in sorted(latest)]


@functools.cache
def _tx_event_statements(dialect: str) -> tuple[Any, Any]:
    c = t.transaction_events.c
    events = (
        dialect_insert(dialect, t.transaction_events)
        .on_conflict_do_nothing()
        .returning(c.transaction_id, c.seq_no)
    )
    cols = t.transactions.c
    update = (
        sa.update(t.transactions)
        .where(cols.id == sa.bindparam("b_id"))
        .values({k: sa.bindparam(f"b_{k}", type_=cols[k].type) for k in _TX_FIELDS})
    )
    return events, update


def tx_update_params(tx: Transaction) -> dict[str, Any]:
    """:func:`~csms.store.mapping.transaction_update_row` as the UPDATE's parameters."""
    return {f"b_{k}": v for k, v in mp.transaction_update_row(tx).items()}


#: The columns :meth:`Store.save_transaction` persists.
_TX_FIELDS = tuple(
    mp.transaction_update_row(Transaction(0, "", "", 0, 0, None, datetime(2000, 1, 1, tzinfo=UTC)))
)


_METER_KEY = t.METER_KEY
_sample_key = operator.itemgetter(*_SAMPLE_KEY)
_meter_key = operator.itemgetter(*_METER_KEY)


# The same writes as statements for the SQLite writer's DBAPI connection (decision 0230).
_RAW_SAMPLES = (
    RawStatement(
        dialect_insert("sqlite", t.samples).on_conflict_do_nothing(),
        [c.name for c in t.samples.c if c.name != "id"],
    ),
    RawStatement(dialect_insert("sqlite", t.meters).on_conflict_do_nothing(), _METER_KEY),
)
_RAW_EVENT = RawStatement(
    dialect_insert("sqlite", t.transaction_events).on_conflict_do_nothing(),
    ("transaction_id", "seq_no", "kind", "at"),
)
_RAW_TX_UPDATE = RawStatement(_tx_event_statements("sqlite")[1])
_PG_SAMPLES = UnnestInsert(
    t.samples,
    [c.name for c in t.samples.c if c.name != "id"],
    f"ON CONFLICT DO NOTHING RETURNING {', '.join(_SAMPLE_KEY)}",
)
_PG_METERS = UnnestInsert(t.meters, _METER_KEY, "ON CONFLICT DO NOTHING")
_PG_EVENTS = UnnestInsert(
    t.transaction_events,
    ("transaction_id", "seq_no", "kind", "at"),
    "ON CONFLICT DO NOTHING RETURNING transaction_id, seq_no",
)
_PG_TX_UPDATE = KeyedUpdate(t.transactions, "id", _TX_FIELDS)
