"""The site service: the Python API that the CLI, the HTTP API and the planner use.

::

    sites = SiteService(repository_for(store), bus=bus, clock=clock)
    result = await sites.apply(site)                  # ApplyResult(changes, warnings, revision)
    site = await sites.get_site("depot")
    c, warnings = await sites.create_constraint("depot", NewConstraint(...))
    limits = await sites.limits_in_force("depot", at)   # node id -> NodeLimit
    await sites.cancel_constraint(c.id)

Every change publishes :class:`~csms.events.SiteChanged` or
:class:`~csms.events.ConstraintsChanged` on the bus (the planner re-plans on them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from chargegrid.clock import Clock
from csms.events import ConstraintsChanged, EventBus, GridConstraintSet, SiteChanged
from csms.sites.constraints import (
    GridConstraint,
    InvalidStoredConstraint,
    NewConstraint,
    NodeLimit,
    constraint_limits,
    constraint_warnings,
    limits_in_force,
    price_in_force,
)
from csms.sites.diff import Change, diff_sites
from csms.sites.exceptions import (
    ConstraintNotFound,
    InvalidConstraint,
    InvalidSite,
    InvalidStoredSite,
    NodeNotFound,
    SiteNotFound,
)
from csms.sites.model import Site, SiteNode, Tariff
from csms.sites.repository import SiteRepository
from csms.sites.validation import check_site
from csms.store import Store

__all__ = ["ApplyResult", "SiteService"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    changes: tuple[Change, ...]  # empty: nothing changed (and nothing was written)
    warnings: tuple[
        tuple[str, str], ...
    ]  # (location, message), e.g. a child limit above its parent
    revision: int


def _new_id() -> str:
    """20 hex digits that sort in creation order (wall-clock ns, then 16 random bits)."""
    return f"{time.time_ns():016x}{secrets.token_hex(2)}"


class SiteService:
    def __init__(
        self,
        repository: SiteRepository,
        *,
        bus: EventBus,
        clock: Clock,
        stations: Store | None = None,
    ) -> None:
        self._repo = repository
        self._bus = bus
        self._clock = clock
        #: where station registrations live: applying a site places the stations it names
        self._stations = stations
        self._lock = asyncio.Lock()

    # -- sites ----------------------------------------------------------------------------
    async def list_sites(self) -> list[Site]:
        return await self._repo.list_sites()

    async def get_site(self, site_id: str) -> Site:
        """Raises :class:`SiteNotFound`."""
        found = await self._repo.get_site(site_id)
        if found is None:
            raise SiteNotFound(site_id)
        return found[0]

    async def revision(self, site_id: str) -> int:
        """The site's revision (0: no such site); it grows by one per applied change."""
        try:
            found = await self._repo.get_site(site_id)
        except InvalidStoredSite as exc:
            return exc.revision
        return 0 if found is None else found[1]

    async def preview(self, site: Site) -> ApplyResult:
        """What :meth:`apply` would change, without changing it. Raises :class:`InvalidSite`.
        A stored document that no longer validates is replaced whole."""
        warnings = check_site(site)
        try:
            found = await self._repo.get_site(site.id)
        except InvalidStoredSite as exc:
            old, revision = None, exc.revision
        else:
            old, revision = found if found is not None else (None, 0)
        return ApplyResult(tuple(diff_sites(old, site)), tuple(warnings), revision)

    async def apply(self, site: Site) -> ApplyResult:
        """Create or replace a site. Idempotent: applying the same site again changes nothing
        (empty ``changes``, same revision). Raises :class:`InvalidSite` and stores nothing."""
        async with self._lock:
            result = await self.preview(site)
            if not result.changes:
                await self.place_stations(site)
                return result
            revision = result.revision + 1
            now = self._clock.now()
            await self._repo.put_site(site, revision=revision, at=now)
            await self.place_stations(site)
        logger.info(
            "site %s applied (revision %d, %d changes)", site.id, revision, len(result.changes)
        )
        self._bus.publish(SiteChanged(site.id, revision, now))
        return ApplyResult(result.changes, result.warnings, revision)

    async def place_stations(self, site: Site) -> list[str]:
        """The stations ``site`` names belong to it: each registered one gets the site as its
        ``site_id`` (a station registered to another site moves, with a warning). A station
        registered later takes its site from the site that names it (see
        :meth:`site_naming`). Returns the ids whose site changed."""
        if self._stations is None:
            return []
        moved = []
        for named in site.stations:
            record = await self._stations.get_station(named.id)
            if record is None or record.site_id == site.id:
                continue
            if record.site_id is not None:
                logger.warning(
                    "station %s moves from site %s to site %s, which names it",
                    named.id,
                    record.site_id,
                    site.id,
                )
            await self._stations.put_station(dataclasses.replace(record, site_id=site.id))
            moved.append(named.id)
        if moved:
            logger.info("site %s: stations %s placed in it", site.id, ", ".join(moved))
        return moved

    async def site_naming(self, station_id: str) -> str | None:
        """The site whose document names ``station_id`` (None: no site does)."""
        for site in await self._repo.list_sites():
            if site.station(station_id) is not None:
                return site.id
        return None

    async def delete_site(self, site_id: str) -> None:
        """Remove a site and its constraints. Raises :class:`SiteNotFound`."""
        async with self._lock:
            if not await self._repo.delete_site(site_id):
                raise SiteNotFound(site_id)
        self._bus.publish(SiteChanged(site_id, 0, self._clock.now()))

    async def _edit(self, site_id: str, **changes: object) -> ApplyResult:
        site = await self.get_site(site_id)
        data = site.model_dump()
        data.update(changes)
        try:
            edited = Site.model_validate(data)
        except ValidationError as exc:
            raise InvalidSite(
                [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
            ) from exc
        return await self.apply(edited)

    async def put_node(self, site_id: str, node: SiteNode) -> ApplyResult:
        """Add a node to the limit tree or replace the node with the same id."""
        site = await self.get_site(site_id)
        nodes = [n for n in site.nodes if n.id != node.id]
        replaced = [i for i, n in enumerate(site.nodes) if n.id == node.id]
        nodes.insert(replaced[0] if replaced else len(nodes), node)
        return await self._edit(site_id, nodes=tuple(n.model_dump() for n in nodes))

    async def delete_node(self, site_id: str, node_id: str) -> ApplyResult:
        """Remove a leaf node (a node still holding children or stations is an InvalidSite)."""
        site = await self.get_site(site_id)
        if site.node(node_id) is None:
            raise NodeNotFound(site_id, node_id)
        nodes = tuple(n.model_dump() for n in site.nodes if n.id != node_id)
        return await self._edit(site_id, nodes=nodes)

    async def set_tariff(self, site_id: str, tariff: Tariff) -> ApplyResult:
        return await self._edit(site_id, tariff=tariff.model_dump())

    # -- constraints ----------------------------------------------------------------------
    async def create_constraint(
        self, site_id: str, new: NewConstraint
    ) -> tuple[GridConstraint, list[str]]:
        """Store a constraint; returns it with warnings (e.g. a limit below what the EVSEs
        under the node need). Raises :class:`SiteNotFound`, :class:`InvalidConstraint` (field
        ``node_id`` for a node that does not exist, ``reduce_by_pct`` on a node without an
        import limit)."""
        site = await self.get_site(site_id)
        node = site.node(new.node_id)
        if node is None:
            raise InvalidConstraint("node_id", f"site {site_id!r} has no node {new.node_id!r}")
        if new.reduce_by_pct is not None and node.max_import_w is None:
            raise InvalidConstraint(
                "reduce_by_pct",
                f"node {node.id!r} has no import limit to reduce by a percentage "
                "(give reduce_to_w)",
            )
        now = self._clock.now()
        constraint = GridConstraint(
            **new.model_dump(), id=_new_id(), site_id=site_id, created_at=now
        )
        await self._repo.put_constraint(constraint)
        logger.info(
            "constraint %s on %s/%s from %s: %s %s..%s",
            constraint.id,
            site_id,
            new.node_id,
            new.source,
            new.kind,
            new.start.isoformat(),
            new.end.isoformat(),
        )
        self._bus.publish(ConstraintsChanged(site_id, constraint.id, "created", now))
        self._publish_set(constraint, site, "created", now)
        return constraint, constraint_warnings(site, new)

    def _publish_set(
        self, c: GridConstraint, site: Site | None, change: str, now: datetime
    ) -> None:
        """The constraint with its limits, for telemetry (``grid_constraint``)."""
        self._bus.publish(
            GridConstraintSet(
                site_id=c.site_id,
                node_id=c.node_id,
                constraint_id=c.id,
                source=c.source,
                change=change,
                limits=constraint_limits(c, site),
                start=c.start,
                end=c.end,
                at=now,
            )
        )

    async def get_constraint(self, constraint_id: str) -> GridConstraint:
        found = await self._repo.get_constraint(constraint_id)
        if found is None:
            raise ConstraintNotFound(constraint_id)
        return found

    async def list_constraints(
        self,
        site_id: str,
        *,
        active_at: datetime | None = None,
        overlapping: tuple[datetime, datetime] | None = None,
        include_cancelled: bool = False,
    ) -> list[GridConstraint]:
        """A site's constraints, oldest first; filtered to those in force at ``active_at`` or
        overlapping the window ``overlapping``."""
        found = await self._repo.list_constraints(site_id)
        if not include_cancelled:
            found = [c for c in found if c.cancelled_at is None]
        if active_at is not None:
            found = [c for c in found if c.active_at(active_at)]
        if overlapping is not None:
            found = [c for c in found if c.overlaps(*overlapping)]
        return found

    async def list_invalid_constraints(self, site_id: str) -> list[InvalidStoredConstraint]:
        """The site's stored constraints that do not validate (written by an earlier
        version): ignored for limits and prices, listed so that they can be removed."""
        return await self._repo.list_invalid_constraints(site_id)

    async def get_invalid_constraint(self, constraint_id: str) -> InvalidStoredConstraint | None:
        return await self._repo.get_invalid_constraint(constraint_id)

    async def delete_invalid_constraint(self, constraint_id: str) -> InvalidStoredConstraint:
        """Remove a stored constraint that does not validate. Raises
        :class:`ConstraintNotFound` when there is no such invalid row."""
        found = await self._repo.get_invalid_constraint(constraint_id)
        if found is None:
            raise ConstraintNotFound(constraint_id)
        await self._repo.delete_constraint(constraint_id)
        logger.warning(
            "invalid stored constraint %s of site %s deleted", constraint_id, found.site_id
        )
        self._bus.publish(
            ConstraintsChanged(found.site_id, constraint_id, "cancelled", self._clock.now())
        )
        return found

    async def cancel_constraint(self, constraint_id: str) -> GridConstraint:
        """Cancel a constraint (idempotent: cancelling twice keeps the first time)."""
        constraint = await self.get_constraint(constraint_id)
        if constraint.cancelled_at is not None:
            return constraint
        now = self._clock.now()
        cancelled = constraint.model_copy(update={"cancelled_at": now})
        await self._repo.put_constraint(cancelled)
        self._bus.publish(ConstraintsChanged(constraint.site_id, constraint.id, "cancelled", now))
        found = await self._repo.get_site(constraint.site_id)
        self._publish_set(cancelled, found[0] if found else None, "cancelled", now)
        return cancelled

    async def limits_in_force(
        self, site_id: str, at: datetime | None = None
    ) -> dict[str, NodeLimit]:
        """Every node's limits at ``at`` (default now): base limits narrowed by the active
        constraints, combined to the strictest."""
        site = await self.get_site(site_id)
        when = at or self._clock.now()
        return limits_in_force(site, await self._repo.list_constraints(site_id), when)

    async def price_in_force(self, site_id: str, at: datetime | None = None) -> float:
        site = await self.get_site(site_id)
        when = at or self._clock.now()
        return price_in_force(site, await self._repo.list_constraints(site_id), when)
