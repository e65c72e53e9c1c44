"""A site's grid-operator constraints: caps, demand-response reductions and price signals
on a node for a time window, and which stations acknowledged the limits they caused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from csms.api.auth import Permission
from csms.api.boundary import AUDITED_ROUTES, BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.services import ApiServices
from csms.api.site_common import (
    NOT_FOUND,
    SiteId,
    audit_ok,
    delivery_bound_s,
    limits_out,
    require_aware,
    site_service,
)
from csms.api.site_models import AckOut, ConstraintCreated, ConstraintOut, ConstraintStatus
from csms.ids import ID_PATTERN
from csms.sites import ConstraintNotFound, GridConstraint, InvalidStoredConstraint, NewConstraint

__all__ = ["router"]

router = APIRouter(route_class=BoundaryRoute, tags=["sites"], responses=AUTH_ERRORS)

ConstraintId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]


def _acks(services: ApiServices, site_id: str, since: datetime) -> list[AckOut]:
    out = []
    for (station_id, evse_id), sent in sorted(services.plans.limits_sent().items()):
        if services.site_of(station_id) != site_id or sent.at < since:
            continue
        first = sent.limit.schedule[0][1] if sent.limit.schedule else None
        out.append(
            AckOut(
                station_id=station_id,
                evse_id=evse_id,
                accepted=sent.accepted,
                at=sent.at,
                unit=sent.limit.unit.value,
                limit=first,
            )
        )
    return out


@router.post(
    "/sites/{site_id}/constraints",
    response_model=ConstraintCreated,
    status_code=201,
    responses=NOT_FOUND,
)
async def create_constraint(
    services: Services, who: Caller, site_id: SiteId, body: NewConstraint
) -> ConstraintCreated:
    """A cap, a demand-response reduction or a price signal on a node, for a time window.
    Overlapping constraints combine to the strictest. The planner re-plans and the new limits
    reach the stations within ``delivery_bound_s``; ``GET .../constraints/{id}`` then lists
    which stations acknowledged."""
    who.require(Permission.CONSTRAINTS_WRITE, site_id)
    sites = site_service(services)
    constraint, warnings = await sites.create_constraint(site_id, body)
    await audit_ok(
        services,
        who,
        "constraint.create",
        site_id,
        constraint.id,
        body.model_dump(mode="json"),
        {"warnings": warnings},
    )
    return ConstraintCreated(
        constraint=constraint,
        warnings=warnings,
        limits=limits_out(await sites.limits_in_force(site_id)),
        delivery_bound_s=delivery_bound_s(services),
    )


@router.get("/sites/{site_id}/constraints", response_model=list[ConstraintOut], responses=NOT_FOUND)
async def list_constraints(
    services: Services,
    who: Caller,
    site_id: SiteId,
    active_at: Annotated[datetime | None, Query()] = None,
    include_cancelled: Annotated[bool, Query()] = False,
) -> list[ConstraintOut]:
    """The site's constraints, oldest first; stored rows that do not validate (from an
    earlier version) are listed too, after them, with ``invalid: true``: the planner
    ignores them and ``DELETE`` removes them."""
    require_aware("active_at", active_at)
    who.require(Permission.CONSTRAINTS_READ, site_id)
    sites = site_service(services)
    await sites.get_site(site_id)
    valid = await sites.list_constraints(
        site_id, active_at=active_at, include_cancelled=include_cancelled
    )
    invalid = await sites.list_invalid_constraints(site_id)
    return [ConstraintOut.of(c) for c in valid] + [ConstraintOut.of(c) for c in invalid]


async def _status(
    services: ApiServices, site_id: str, constraint: GridConstraint | InvalidStoredConstraint
) -> ConstraintStatus:
    if isinstance(constraint, InvalidStoredConstraint):
        return ConstraintStatus(
            constraint=ConstraintOut.of(constraint),
            acknowledged=[],
            delivery_bound_s=delivery_bound_s(services),
        )
    since = constraint.cancelled_at or constraint.created_at
    return ConstraintStatus(
        constraint=ConstraintOut.of(constraint),
        acknowledged=_acks(services, site_id, since),
        delivery_bound_s=delivery_bound_s(services),
    )


async def _constraint(
    services: ApiServices, site_id: str, constraint_id: str
) -> GridConstraint | InvalidStoredConstraint:
    """The constraint, or the stored row that does not validate."""
    sites = site_service(services)
    found: GridConstraint | InvalidStoredConstraint | None = await sites.get_invalid_constraint(
        constraint_id
    )
    if found is None:
        found = await sites.get_constraint(constraint_id)
    if found.site_id != site_id:
        raise ConstraintNotFound(constraint_id)
    return found


@router.get(
    "/sites/{site_id}/constraints/{constraint_id}",
    response_model=ConstraintStatus,
    responses=NOT_FOUND,
)
async def get_constraint(
    services: Services, who: Caller, site_id: SiteId, constraint_id: ConstraintId
) -> ConstraintStatus:
    """The constraint and the stations that acknowledged limits sent since it changed."""
    who.require(Permission.CONSTRAINTS_READ, site_id)
    return await _status(services, site_id, await _constraint(services, site_id, constraint_id))


@router.delete(
    "/sites/{site_id}/constraints/{constraint_id}",
    response_model=ConstraintStatus,
    responses=NOT_FOUND,
)
async def cancel_constraint(
    services: Services, who: Caller, site_id: SiteId, constraint_id: ConstraintId
) -> ConstraintStatus:
    """Cancel a constraint (idempotent); it stays listed with ``include_cancelled``. A
    stored row that does not validate is removed instead (the answer shows what it held)."""
    who.require(Permission.CONSTRAINTS_WRITE, site_id)
    found = await _constraint(services, site_id, constraint_id)
    if isinstance(found, InvalidStoredConstraint):
        removed = await site_service(services).delete_invalid_constraint(constraint_id)
        await audit_ok(
            services,
            who,
            "constraint.delete_invalid",
            site_id,
            constraint_id,
            {},
            {"problems": list(removed.problems)},
        )
        return await _status(services, site_id, removed)
    cancelled = await site_service(services).cancel_constraint(constraint_id)
    await audit_ok(services, who, "constraint.cancel", site_id, constraint_id, {})
    return await _status(services, site_id, cancelled)


# A refused write to these routes is in the audit log as "refused" (see csms.api.boundary).
AUDITED_ROUTES.update(
    {
        create_constraint.__name__: "constraint.create",
        cancel_constraint.__name__: "constraint.cancel",
    }
)
