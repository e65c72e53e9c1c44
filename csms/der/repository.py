"""Where DER controls and alarms live: a small protocol, an in-memory fake and the SQL one.

:func:`der_repository_for` picks the one matching a :class:`~csms.store.Store` (the SQL one
shares a :class:`~csms.store.SqlStore`'s engine and group-commit writer).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from csms.der import tables as t
from csms.der.model import DerAlarm, DerControl, DerControlRecord, DerControlType
from csms.store import SqlStore, Store
from csms.store.mapping import record_from_row, record_row
from csms.store.statements import SqlTables, where_equal

__all__ = ["DerRepository", "MemoryDerRepository", "SqlDerRepository", "der_repository_for"]

logger = logging.getLogger(__name__)


class DerRepository(Protocol):
    async def put_controls(self, records: Iterable[DerControlRecord]) -> None:
        """Insert or replace each (station, control id) row whole."""

    async def get_control(self, station_id: str, control_id: str) -> DerControlRecord | None: ...

    async def list_controls(
        self, station_id: str, *, in_force: bool = True
    ) -> list[DerControlRecord]:
        """A station's controls by type and priority; only those in force by default."""

    async def add_alarm(self, alarm: DerAlarm) -> None: ...

    async def list_alarms(
        self, *, station_id: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[DerAlarm]:
        """Alarms, newest first."""


def _order(records: Iterable[DerControlRecord]) -> list[DerControlRecord]:
    return sorted(
        records,
        key=lambda r: (r.control.control_type.value, r.control.priority, r.control.control_id),
    )


class MemoryDerRepository:
    def __init__(self) -> None:
        self._controls: dict[tuple[str, str], DerControlRecord] = {}
        self._alarms: list[DerAlarm] = []

    async def put_controls(self, records: Iterable[DerControlRecord]) -> None:
        for record in records:
            self._controls[(record.station_id, record.control.control_id)] = record

    async def get_control(self, station_id: str, control_id: str) -> DerControlRecord | None:
        return self._controls.get((station_id, control_id))

    async def list_controls(
        self, station_id: str, *, in_force: bool = True
    ) -> list[DerControlRecord]:
        found = [
            r
            for (sid, _), r in self._controls.items()
            if sid == station_id and (r.in_force or not in_force)
        ]
        return _order(found)

    async def add_alarm(self, alarm: DerAlarm) -> None:
        self._alarms.append(alarm)

    async def list_alarms(
        self, *, station_id: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[DerAlarm]:
        found = [
            a
            for a in reversed(self._alarms)
            if (station_id is None or a.station_id == station_id)
            and (since is None or a.at >= since)
        ]
        return sorted(found, key=lambda a: a.at, reverse=True)[:limit]


def _row(record: DerControlRecord) -> dict[str, Any]:
    c = record.control
    return {
        "station_id": record.station_id,
        "control_id": c.control_id,
        "control_type": c.control_type.value,
        "is_default": c.is_default,
        "setting": dict(c.setting),
        "superseded": c.superseded,
        "source": record.source,
        "recorded_at": record.recorded_at,
        "started": record.started,
        "started_changed_at": record.started_changed_at,
        "cleared_at": record.cleared_at,
    }


def _record(row: sa.RowMapping) -> DerControlRecord:
    control = DerControl(
        control_id=row["control_id"],
        control_type=DerControlType(row["control_type"]),
        is_default=bool(row["is_default"]),
        setting=dict(row["setting"]),
        superseded=bool(row["superseded"]),
    )
    return DerControlRecord(
        station_id=row["station_id"],
        control=control,
        source=row["source"],
        recorded_at=row["recorded_at"],
        started=row["started"],
        started_changed_at=row["started_changed_at"],
        cleared_at=row["cleared_at"],
    )


def _alarm(row: sa.RowMapping) -> DerAlarm:
    return record_from_row(DerAlarm, row, control_type=DerControlType, alarm_ended=bool)


class SqlDerRepository(SqlTables):
    async def put_controls(self, records: Iterable[DerControlRecord]) -> None:
        c = t.der_controls.c
        stmts: list[Any] = []
        for record in records:
            key = (c.station_id == record.station_id) & (c.control_id == record.control.control_id)
            stmts += [
                sa.delete(t.der_controls).where(key),
                sa.insert(t.der_controls).values(_row(record)),
            ]
        if stmts:
            await self._write(stmts)

    async def get_control(self, station_id: str, control_id: str) -> DerControlRecord | None:
        c = t.der_controls.c
        row = await self._first(
            sa.select(t.der_controls).where(
                (c.station_id == station_id) & (c.control_id == control_id)
            )
        )
        return None if row is None else _record(row)

    async def list_controls(
        self, station_id: str, *, in_force: bool = True
    ) -> list[DerControlRecord]:
        c = t.der_controls.c
        stmt = sa.select(t.der_controls).where(c.station_id == station_id)
        if in_force:
            stmt = stmt.where(c.cleared_at.is_(None) & sa.not_(c.superseded))
        return _order(_record(r) for r in await self._rows(stmt))

    async def add_alarm(self, alarm: DerAlarm) -> None:
        await self._write([sa.insert(t.der_alarms).values(record_row(alarm, control_type=str))])

    async def list_alarms(
        self, *, station_id: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[DerAlarm]:
        c = t.der_alarms.c
        stmt = where_equal(sa.select(t.der_alarms), c, station_id=station_id)
        if since is not None:
            stmt = stmt.where(c.at >= since)
        stmt = stmt.order_by(c.at.desc(), c.id.desc()).limit(limit)
        return [_alarm(r) for r in await self._rows(stmt)]


def der_repository_for(store: Store) -> DerRepository:
    """The SQL repository on a :class:`SqlStore`, else an in-memory one."""
    if isinstance(store, SqlStore):
        return SqlDerRepository(store)
    return MemoryDerRepository()
