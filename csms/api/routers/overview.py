"""``GET /overview``: every granted site at a glance, with what needs attention."""

from __future__ import annotations

from fastapi import APIRouter

from csms.api.auth import Permission
from csms.api.boundary import BoundaryRoute
from csms.api.dashboard_models import OverviewOut
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.overview import site_overview

__all__ = ["router"]

router = APIRouter(route_class=BoundaryRoute, tags=["dashboard"], responses=AUTH_ERRORS)


@router.get("/overview", response_model=OverviewOut)
async def overview(services: Services, who: Caller) -> OverviewOut:
    """Per granted site: stations online / offline / faulted, active sessions, power now
    against the import limit in force, energy and cost of today's sessions (site's local
    day), and alerts (faulted or silent stations, grid constraints in force, a growing
    telemetry outbox, EVs that will miss or missed their departure, non-compliant EVSEs).
    Station and session figures are null for roles that may not read them."""
    who.require(Permission.SITES_READ, sited=False)
    if services.sites is None:
        return OverviewOut(at=services.now(), sites=[])
    stations = await services.store.list_stations()
    sites = [s for s in await services.sites.list_sites() if who.covers(s.id)]
    return OverviewOut(
        at=services.now(),
        sites=[await site_overview(services, who, site, stations) for site in sites],
    )
