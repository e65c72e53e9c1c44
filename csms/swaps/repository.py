"""Where packs and swap sessions live: a small protocol, an in-memory fake and the SQL one.

:func:`swap_repository_for` picks the one matching a :class:`~csms.store.Store` (the SQL
one shares a :class:`~csms.store.SqlStore`'s engine and group-commit writer).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store import SqlStore, Store
from csms.store.mapping import record_from_row, record_row
from csms.store.statements import SqlTables
from csms.swaps import tables as t
from csms.swaps.model import BatteryPack, BatterySwap, PackReading, SwapState

__all__ = [
    "MemorySwapRepository",
    "SqlSwapRepository",
    "SwapFilter",
    "SwapRepository",
    "swap_repository_for",
]


@dataclasses.dataclass(frozen=True, slots=True)
class SwapFilter:
    station_id: str | None = None
    station_ids: frozenset[str] | None = None  # any of these (a site's stations)
    id_token: str | None = None
    state: SwapState | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    limit: int = 1000


class SwapRepository(Protocol):
    async def put_pack(self, pack: BatteryPack) -> None: ...

    async def get_packs(self, serial_numbers: Iterable[str]) -> dict[str, BatteryPack]: ...

    async def list_packs(self, *, station_id: str | None = None) -> list[BatteryPack]: ...

    async def latest_swap(self, station_id: str, request_id: int) -> BatterySwap | None:
        """The newest session of ``request_id`` at ``station_id``."""

    async def save_swap(self, swap: BatterySwap, packs: Sequence[BatteryPack] = ()) -> BatterySwap:
        """Insert (``id`` None: one is given) or replace the session, and the packs it
        moved, in one transaction; returns the session with its id."""

    async def get_swap(self, swap_id: int) -> BatterySwap | None: ...

    async def list_swaps(self, f: SwapFilter) -> list[BatterySwap]:
        """Sessions matching ``f``, oldest first."""


def _matches(s: BatterySwap, f: SwapFilter) -> bool:
    return (
        (f.station_id is None or s.station_id == f.station_id)
        and (f.station_ids is None or s.station_id in f.station_ids)
        and (f.id_token is None or s.id_token == f.id_token)
        and (f.state is None or s.state is f.state)
        and (f.since is None or s.created_at >= f.since)
        and (f.until is None or s.created_at < f.until)
    )


class MemorySwapRepository:
    def __init__(self) -> None:
        self._packs: dict[str, BatteryPack] = {}
        self._swaps: dict[int, BatterySwap] = {}

    async def put_pack(self, pack: BatteryPack) -> None:
        self._packs[pack.serial_number] = pack

    async def get_packs(self, serial_numbers: Iterable[str]) -> dict[str, BatteryPack]:
        return {s: self._packs[s] for s in serial_numbers if s in self._packs}

    async def list_packs(self, *, station_id: str | None = None) -> list[BatteryPack]:
        return [
            p
            for _, p in sorted(self._packs.items())
            if station_id is None or p.station_id == station_id
        ]

    async def latest_swap(self, station_id: str, request_id: int) -> BatterySwap | None:
        found = [
            s
            for s in self._swaps.values()
            if s.station_id == station_id and s.request_id == request_id
        ]
        return max(found, key=lambda s: s.id or 0) if found else None

    async def save_swap(self, swap: BatterySwap, packs: Sequence[BatteryPack] = ()) -> BatterySwap:
        if swap.id is None:
            swap = dataclasses.replace(swap, id=max(self._swaps, default=0) + 1)
        assert swap.id is not None
        self._swaps[swap.id] = swap
        for pack in packs:
            self._packs[pack.serial_number] = pack
        return swap

    async def get_swap(self, swap_id: int) -> BatterySwap | None:
        return self._swaps.get(swap_id)

    async def list_swaps(self, f: SwapFilter) -> list[BatterySwap]:
        found = [s for _, s in sorted(self._swaps.items()) if _matches(s, f)]
        return found[: f.limit]


def _readings(data: Any) -> tuple[PackReading, ...]:
    return tuple(
        PackReading(d["serial_number"], int(d["slot"]), float(d["soc_pct"]), float(d["soh_pct"]))
        for d in data
    )


def _pack_list(readings: tuple[PackReading, ...]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(p) for p in readings]


def _swap_row(swap: BatterySwap) -> dict[str, Any]:
    row = record_row(swap, state=str, packs_in=_pack_list, packs_out=_pack_list)
    if swap.id is None:
        del row["id"]
    return row


def _swap(row: sa.RowMapping) -> BatterySwap:
    return record_from_row(
        BatterySwap,
        row,
        state=SwapState,
        requested=bool,
        packs_in=_readings,
        packs_out=_readings,
    )


def _pack(row: sa.RowMapping) -> BatteryPack:
    return record_from_row(BatteryPack, row)


class SqlSwapRepository(SqlTables):
    @staticmethod
    async def _put_packs(conn: AsyncConnection, packs: Sequence[BatteryPack]) -> None:
        for pack in packs:
            key = t.battery_packs.c.serial_number == pack.serial_number
            await conn.execute(sa.delete(t.battery_packs).where(key))
            await conn.execute(sa.insert(t.battery_packs).values(record_row(pack)))

    async def put_pack(self, pack: BatteryPack) -> None:
        async def run(conn: AsyncConnection) -> None:
            await self._put_packs(conn, [pack])

        await self._run(run)

    async def get_packs(self, serial_numbers: Iterable[str]) -> dict[str, BatteryPack]:
        wanted = sorted(set(serial_numbers))
        if not wanted:
            return {}
        rows = await self._rows(
            sa.select(t.battery_packs).where(t.battery_packs.c.serial_number.in_(wanted))
        )
        return {r["serial_number"]: _pack(r) for r in rows}

    async def list_packs(self, *, station_id: str | None = None) -> list[BatteryPack]:
        stmt = sa.select(t.battery_packs).order_by(t.battery_packs.c.serial_number)
        if station_id is not None:
            stmt = stmt.where(t.battery_packs.c.station_id == station_id)
        return [_pack(r) for r in await self._rows(stmt)]

    async def latest_swap(self, station_id: str, request_id: int) -> BatterySwap | None:
        c = t.battery_swaps.c
        row = await self._first(
            sa.select(t.battery_swaps)
            .where((c.station_id == station_id) & (c.request_id == request_id))
            .order_by(c.id.desc())
            .limit(1)
        )
        return None if row is None else _swap(row)

    async def save_swap(self, swap: BatterySwap, packs: Sequence[BatteryPack] = ()) -> BatterySwap:
        row = _swap_row(swap)

        async def run(conn: AsyncConnection) -> int:
            if swap.id is None:
                result = await conn.execute(
                    sa.insert(t.battery_swaps).values(row).returning(t.battery_swaps.c.id)
                )
                swap_id = int(result.scalar_one())
            else:
                swap_id = swap.id
                await conn.execute(
                    sa.update(t.battery_swaps).where(t.battery_swaps.c.id == swap_id).values(row)
                )
            await self._put_packs(conn, packs)
            return swap_id

        swap_id = await self._run(run)
        return dataclasses.replace(swap, id=swap_id)

    async def get_swap(self, swap_id: int) -> BatterySwap | None:
        row = await self._first(sa.select(t.battery_swaps).where(t.battery_swaps.c.id == swap_id))
        return None if row is None else _swap(row)

    async def list_swaps(self, f: SwapFilter) -> list[BatterySwap]:
        c = t.battery_swaps.c
        stmt = sa.select(t.battery_swaps).order_by(c.id).limit(f.limit)
        if f.station_id is not None:
            stmt = stmt.where(c.station_id == f.station_id)
        if f.station_ids is not None:
            stmt = stmt.where(c.station_id.in_(sorted(f.station_ids)))
        if f.id_token is not None:
            stmt = stmt.where(c.id_token == f.id_token)
        if f.state is not None:
            stmt = stmt.where(c.state == f.state.value)
        if f.since is not None:
            stmt = stmt.where(c.created_at >= f.since)
        if f.until is not None:
            stmt = stmt.where(c.created_at < f.until)
        return [_swap(r) for r in await self._rows(stmt)]


def swap_repository_for(store: Store) -> SwapRepository:
    """The SQL repository on a :class:`SqlStore`, else an in-memory one."""
    if isinstance(store, SqlStore):
        return SqlSwapRepository(store)
    return MemorySwapRepository()
