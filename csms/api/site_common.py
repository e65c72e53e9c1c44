"""What the site routes share (:mod:`~csms.api.routers.sites`,
:mod:`~csms.api.routers.constraints`): the site id in paths, the 404 answer, the site
service, the limits in force as shown, the delivery bound, the audit of a write."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from csms.api.auth import Principal
from csms.api.models import ErrorOut
from csms.api.query_times import require_aware
from csms.api.services import ApiServices
from csms.api.site_models import NodeLimitOut
from csms.ids import ID_MAX_LENGTH, ID_PATTERN
from csms.sites import SiteService

__all__ = [
    "DELIVERY_BOUND_S",
    "NOT_FOUND",
    "SiteId",
    "audit_ok",
    "delivery_bound_s",
    "limits_out",
    "require_aware",
    "site_service",
]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such site, node or constraint"}
}

#: the bound the planner loop is held to: new limits reach the stations within this time
DELIVERY_BOUND_S = 5.0


def delivery_bound_s(services: ApiServices) -> float | None:
    """The bound an answer states: ``None`` when no planner sends limits on a change
    (planning disabled, or only the safe default profiles sent once per station)."""
    planning = services.csms.settings.planning
    return DELIVERY_BOUND_S if planning.enabled and planning.optimize else None


SiteId = Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]


def site_service(services: ApiServices) -> SiteService:
    """The site service (every running central system has one)."""
    assert services.sites is not None, "the site service is not configured"
    return services.sites


def limits_out(limits: dict[str, Any]) -> list[NodeLimitOut]:
    """The limits in force per node, as the API shows them."""
    return [
        NodeLimitOut(
            node_id=lim.node_id,
            max_import_w=lim.max_import_w,
            max_export_w=lim.max_export_w,
            max_phase_current_a=lim.max_phase_current_a,
            binding=list(lim.binding),
        )
        for lim in limits.values()
    ]


async def audit_ok(
    services: ApiServices,
    who: Principal,
    action: str,
    site_id: str,
    target: str,
    request: dict[str, Any],
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a site write that succeeded in the audit log."""
    await services.auditor.record(
        who, action, "ok", site_id=site_id, target=target, request=request, detail=detail
    )
