"""The audit log: read-only through the API."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from csms.api.auth import Permission, Role
from csms.api.boundary import BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.models import AuditOut, SiteId
from csms.api.query_times import require_order, require_times
from csms.api.records import AuditQuery

__all__ = ["GRID_ACTIONS", "router"]

router = APIRouter(route_class=BoundaryRoute, tags=["audit"], responses=AUTH_ERRORS)

#: the audit actions a grid operator may read
GRID_ACTIONS = ("constraint.", "site.", "der.")
#: site changes to these items can name drivers' id tokens (fleets match drivers by token)
_DRIVER_ITEMS = ("fleets ",)


def _without_driver_values(entry: AuditOut) -> AuditOut:
    """A site change as a grid operator sees it: a change to a fleet names the fleet, not
    its fields' old and new values (id tokens, prefixes, groups)."""
    changes = entry.detail.get("changes")
    if not isinstance(changes, list):
        return entry
    shown = []
    for change in changes:
        sign, _, rest = str(change).partition(" ")
        if rest.startswith(_DRIVER_ITEMS):
            shown.append(f"{sign} {rest.partition(': ')[0]}")
        else:
            shown.append(str(change))
    return entry.model_copy(update={"detail": {**entry.detail, "changes": shown}})


@router.get("/audit", response_model=list[AuditOut])
async def list_audit(
    services: Services,
    who: Caller,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    action: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    site_id: Annotated[SiteId | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """Constraint changes and commands, newest first; entries of the caller's sites only
    (an all-sites grant also sees entries on no site)."""
    require_times(("since", since), ("until", until))
    require_order(since, until)
    who.require(Permission.AUDIT_READ, site_id, sited=site_id is not None)
    sites = who.sites
    if site_id is not None:
        sites = frozenset({site_id})
    entries = await services.repo.list_audit(
        AuditQuery(
            since=since,
            until=until,
            action=action,
            site_ids=sites,
            # Grid operators see the grid side only: commands carry drivers' tokens.
            action_prefixes=GRID_ACTIONS if who.role is Role.GRID_OPERATOR else None,
            limit=limit,
        )
    )
    out = [AuditOut(**dataclasses.asdict(e)) for e in entries]
    if who.role is Role.GRID_OPERATOR:
        out = [_without_driver_values(e) for e in out]
    return out
