"""Where sites and constraints live: a small protocol, an in-memory fake and the SQL one.

:func:`repository_for` picks the one matching a :class:`~csms.store.Store`: the SQL
repository shares a :class:`~csms.store.SqlStore`'s engine and group-commit writer, the memory
one goes with a :class:`~csms.store.MemoryStore`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.sites import tables as t
from csms.sites.constraints import (
    GridConstraint,
    InvalidStoredConstraint,
    parse_stored_constraint,
)
from csms.sites.exceptions import InvalidStoredSite
from csms.sites.model import Site
from csms.store import SqlStore, Store
from csms.store.writer import WriteOp

__all__ = ["MemorySiteRepository", "SiteRepository", "SqlSiteRepository", "repository_for"]

logger = logging.getLogger(__name__)


class SiteRepository(Protocol):
    async def get_site(self, site_id: str) -> tuple[Site, int] | None:
        """The site and its revision (1, 2, ... one per change)."""

    async def list_sites(self) -> list[Site]: ...

    async def put_site(self, site: Site, *, revision: int, at: datetime) -> None: ...

    async def delete_site(self, site_id: str) -> bool: ...

    async def put_constraint(self, constraint: GridConstraint) -> None:
        """Insert or replace (a cancel replaces)."""

    async def get_constraint(self, constraint_id: str) -> GridConstraint | None: ...

    async def list_constraints(self, site_id: str) -> list[GridConstraint]:
        """All of a site's constraints, cancelled ones too, oldest first; a stored row that
        does not validate is left out (and logged)."""

    async def list_invalid_constraints(self, site_id: str) -> list[InvalidStoredConstraint]:
        """The site's stored constraint rows that do not validate, oldest first."""

    async def get_invalid_constraint(self, constraint_id: str) -> InvalidStoredConstraint | None:
        """The stored row ``constraint_id`` if it does not validate."""

    async def delete_constraint(self, constraint_id: str) -> bool:
        """Remove a constraint row outright (for rows that do not validate)."""


class MemorySiteRepository:
    def __init__(self) -> None:
        self._sites: dict[str, tuple[Site, int]] = {}
        self._constraints: dict[str, GridConstraint] = {}
        #: rows that do not validate (only a test puts any here: the memory store never
        #: outlives the process that validated what it holds)
        self.invalid: dict[str, InvalidStoredConstraint] = {}

    async def get_site(self, site_id: str) -> tuple[Site, int] | None:
        return self._sites.get(site_id)

    async def list_sites(self) -> list[Site]:
        return [self._sites[k][0] for k in sorted(self._sites)]

    async def put_site(self, site: Site, *, revision: int, at: datetime) -> None:
        self._sites[site.id] = (site, revision)

    async def delete_site(self, site_id: str) -> bool:
        return self._sites.pop(site_id, None) is not None

    async def put_constraint(self, constraint: GridConstraint) -> None:
        self._constraints[constraint.id] = constraint

    async def get_constraint(self, constraint_id: str) -> GridConstraint | None:
        return self._constraints.get(constraint_id)

    async def list_constraints(self, site_id: str) -> list[GridConstraint]:
        found = [c for c in self._constraints.values() if c.site_id == site_id]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    async def list_invalid_constraints(self, site_id: str) -> list[InvalidStoredConstraint]:
        return [c for _, c in sorted(self.invalid.items()) if c.site_id == site_id]

    async def get_invalid_constraint(self, constraint_id: str) -> InvalidStoredConstraint | None:
        return self.invalid.get(constraint_id)

    async def delete_constraint(self, constraint_id: str) -> bool:
        found = self.invalid.pop(constraint_id, None) is not None
        return self._constraints.pop(constraint_id, None) is not None or found


_CONSTRAINT_FIELDS = [c.name for c in t.site_constraints.columns]


class SqlSiteRepository:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._reported: set[str] = set()

    def _parse(self, row: sa.RowMapping) -> GridConstraint | InvalidStoredConstraint:
        parsed = parse_stored_constraint(dict(row))
        if isinstance(parsed, InvalidStoredConstraint) and parsed.id not in self._reported:
            self._reported.add(parsed.id)  # once per process: it is read on every plan
            logger.warning(
                "stored constraint %s of site %s does not validate and is ignored (delete it "
                "with DELETE /api/v1/sites/%s/constraints/%s): %s",
                parsed.id,
                parsed.site_id,
                parsed.site_id,
                parsed.id,
                "; ".join(parsed.problems),
            )
        return parsed

    async def _write(self, stmts: list[Any]) -> None:
        async def run(conn: AsyncConnection) -> None:
            for stmt in stmts:
                await conn.execute(stmt)

        await self._store.writer.submit(WriteOp(run))

    async def _rows(self, stmt: sa.Select[Any]) -> list[sa.RowMapping]:
        async with self._store.engine.connect() as conn:
            return list((await conn.execute(stmt)).mappings().all())

    def _site(self, row: sa.RowMapping) -> Site:
        """The stored document, or :class:`InvalidStoredSite` (logged once per revision)."""
        try:
            return Site.model_validate(row["spec"])
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in e['loc']) or 'site'}: {e['msg']}" for e in exc.errors()
            ]
            error = InvalidStoredSite(str(row["site_id"]), int(row["revision"]), problems)
        key = f"site:{error.site_id}:{error.revision}"
        if key not in self._reported:
            self._reported.add(key)
            logger.warning("%s", error)
        raise error

    async def get_site(self, site_id: str) -> tuple[Site, int] | None:
        rows = await self._rows(sa.select(t.sites).where(t.sites.c.site_id == site_id))
        if not rows:
            return None
        return self._site(rows[0]), int(rows[0]["revision"])

    async def list_sites(self) -> list[Site]:
        """Every site whose stored document validates (the others are logged)."""
        rows = await self._rows(sa.select(t.sites).order_by(t.sites.c.site_id))
        out = []
        for row in rows:
            try:
                out.append(self._site(row))
            except InvalidStoredSite:
                continue
        return out

    async def put_site(self, site: Site, *, revision: int, at: datetime) -> None:
        values = {
            "name": site.name,
            "spec": site.model_dump(mode="json"),
            "revision": revision,
            "updated_at": at,
        }
        await self._write(
            [
                sa.delete(t.sites).where(t.sites.c.site_id == site.id),
                sa.insert(t.sites).values(site_id=site.id, **values),
            ]
        )

    async def delete_site(self, site_id: str) -> bool:
        existed = bool(
            await self._rows(sa.select(t.sites.c.site_id).where(t.sites.c.site_id == site_id))
        )
        await self._write(
            [
                sa.delete(t.sites).where(t.sites.c.site_id == site_id),
                sa.delete(t.site_constraints).where(t.site_constraints.c.site_id == site_id),
            ]
        )
        return existed

    async def put_constraint(self, constraint: GridConstraint) -> None:
        data = constraint.model_dump()
        values = {name: data[name] for name in _CONSTRAINT_FIELDS}
        await self._write(
            [
                sa.delete(t.site_constraints).where(t.site_constraints.c.id == constraint.id),
                sa.insert(t.site_constraints).values(**values),
            ]
        )

    async def get_constraint(self, constraint_id: str) -> GridConstraint | None:
        rows = await self._rows(
            sa.select(t.site_constraints).where(t.site_constraints.c.id == constraint_id)
        )
        found = self._parse(rows[0]) if rows else None
        return found if isinstance(found, GridConstraint) else None

    async def _all(self, site_id: str) -> list[GridConstraint | InvalidStoredConstraint]:
        rows = await self._rows(
            sa.select(t.site_constraints)
            .where(t.site_constraints.c.site_id == site_id)
            .order_by(t.site_constraints.c.created_at, t.site_constraints.c.id)
        )
        return [self._parse(r) for r in rows]

    async def list_constraints(self, site_id: str) -> list[GridConstraint]:
        return [c for c in await self._all(site_id) if isinstance(c, GridConstraint)]

    async def list_invalid_constraints(self, site_id: str) -> list[InvalidStoredConstraint]:
        return [c for c in await self._all(site_id) if isinstance(c, InvalidStoredConstraint)]

    async def get_invalid_constraint(self, constraint_id: str) -> InvalidStoredConstraint | None:
        rows = await self._rows(
            sa.select(t.site_constraints).where(t.site_constraints.c.id == constraint_id)
        )
        found = self._parse(rows[0]) if rows else None
        return found if isinstance(found, InvalidStoredConstraint) else None

    async def delete_constraint(self, constraint_id: str) -> bool:
        rows = await self._rows(
            sa.select(t.site_constraints.c.id).where(t.site_constraints.c.id == constraint_id)
        )
        await self._write(
            [sa.delete(t.site_constraints).where(t.site_constraints.c.id == constraint_id)]
        )
        return bool(rows)


def repository_for(store: Store) -> SiteRepository:
    """The SQL repository on a :class:`SqlStore`, else an in-memory one."""
    if isinstance(store, SqlStore):
        return SqlSiteRepository(store)
    return MemorySiteRepository()
