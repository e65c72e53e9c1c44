"""Sites, their limit tree and tariff, readings and power, and the current plan, on the
site service (:mod:`csms.sites`); their constraints are in
:mod:`~csms.api.routers.constraints`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from csms.api.auth import Permission, Principal, Role
from csms.api.boundary import AUDITED_ROUTES, BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.exceptions import InvalidField
from csms.api.models import record_out
from csms.api.power import site_power
from csms.api.services import ApiServices
from csms.api.site_common import (
    NOT_FOUND,
    SiteId,
    audit_ok,
    limits_out,
    require_aware,
    site_service,
)
from csms.api.site_models import (
    ApplyOut,
    NodeLimitOut,
    PlanEvseOut,
    PlanNodeOut,
    PlanOut,
    PlanStepOut,
    PlanStorageOut,
    PlanSwapRackOut,
    ReadingsIn,
    ReadingsOut,
    SitePowerOut,
)
from csms.domain import GridMeterReading, PvReading, RackSwap, StorageReading, SwapRackReading
from csms.events import SiteReadingsReceived
from csms.ids import ID_MAX_LENGTH, ID_PATTERN
from csms.sites import (
    PV_PEAK_TOLERANCE,
    ApplyResult,
    Site,
    SiteNode,
    Tariff,
)
from csms.sites.constraints import limits_in_force

__all__ = ["router", "visible_site"]

router = APIRouter(route_class=BoundaryRoute, tags=["sites"], responses=AUTH_ERRORS)

NodeId = Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]


def _apply_out(result: ApplyResult) -> ApplyOut:
    return ApplyOut(
        revision=result.revision,
        changes=[str(c) for c in result.changes],
        warnings=[f"{where}: {msg}" if where else msg for where, msg in result.warnings],
    )


def visible_site(site: Site, who: Principal) -> Site:
    """The site as ``who`` may see it: grid operators see nothing about drivers, so each
    fleet keeps its session needs but not the id tokens, prefix or group that pick its
    drivers."""
    if who.role is not Role.GRID_OPERATOR or not site.fleets:
        return site
    fleets = tuple(
        f.model_copy(update={"id_tokens": (), "token_prefix": None, "group": None})
        for f in site.fleets
    )
    return site.model_copy(update={"fleets": fleets})


# -- sites and the limit tree -----------------------------------------------------------
@router.get("/sites", response_model=list[Site])
async def list_sites(services: Services, who: Caller) -> list[Site]:
    """The sites the caller is granted (grid operators: fleets without their id tokens)."""
    who.require(Permission.SITES_READ, sited=False)
    return [
        visible_site(s, who) for s in await site_service(services).list_sites() if who.covers(s.id)
    ]


@router.get("/sites/{site_id}", response_model=Site, responses=NOT_FOUND)
async def get_site(services: Services, who: Caller, site_id: SiteId) -> Site:
    """One site (grid operators: fleets without their id tokens)."""
    who.require(Permission.SITES_READ, site_id)
    return visible_site(await site_service(services).get_site(site_id), who)


@router.put("/sites/{site_id}", response_model=ApplyOut)
async def put_site(services: Services, who: Caller, site_id: SiteId, body: Site) -> ApplyOut:
    """Create or replace a whole site: limit tree, stations, assets, tariff (admin)."""
    who.require(Permission.SITES_CREATE, site_id)
    if body.id != site_id:
        raise InvalidField(("body", "id"), f"the body's id {body.id!r} is not {site_id!r}")
    result = await site_service(services).apply(body)
    out = _apply_out(result)
    await audit_ok(
        services,
        who,
        "site.apply",
        site_id,
        site_id,
        {"revision": result.revision},
        {"changes": out.changes},
    )
    return out


@router.delete("/sites/{site_id}", status_code=204, responses=NOT_FOUND)
async def delete_site(services: Services, who: Caller, site_id: SiteId) -> Response:
    """Remove a site and its constraints (admin)."""
    who.require(Permission.SITES_CREATE, site_id)
    sites = site_service(services)
    await sites.delete_site(site_id)  # also one whose stored document no longer validates
    await audit_ok(services, who, "site.delete", site_id, site_id, {})
    return Response(status_code=204)


@router.put("/sites/{site_id}/nodes/{node_id}", response_model=ApplyOut, responses=NOT_FOUND)
async def put_node(
    services: Services, who: Caller, site_id: SiteId, node_id: NodeId, body: SiteNode
) -> ApplyOut:
    """Add or change one node of the limit tree (import/export W, per-phase A)."""
    who.require(Permission.SITES_WRITE, site_id)
    if body.id != node_id:
        raise InvalidField(("body", "id"), f"the body's id {body.id!r} is not {node_id!r}")
    out = _apply_out(await site_service(services).put_node(site_id, body))
    await audit_ok(
        services,
        who,
        "site.node.put",
        site_id,
        node_id,
        body.model_dump(mode="json"),
        {"changes": out.changes},
    )
    return out


@router.delete("/sites/{site_id}/nodes/{node_id}", response_model=ApplyOut, responses=NOT_FOUND)
async def delete_node(
    services: Services, who: Caller, site_id: SiteId, node_id: NodeId
) -> ApplyOut:
    who.require(Permission.SITES_WRITE, site_id)
    out = _apply_out(await site_service(services).delete_node(site_id, node_id))
    await audit_ok(
        services, who, "site.node.delete", site_id, node_id, {}, {"changes": out.changes}
    )
    return out


@router.get("/sites/{site_id}/limits", response_model=list[NodeLimitOut], responses=NOT_FOUND)
async def limits(
    services: Services,
    who: Caller,
    site_id: SiteId,
    at: Annotated[datetime | None, Query(description="default: now")] = None,
) -> list[NodeLimitOut]:
    """Every node's limits in force: base limits narrowed by the active constraints
    (strictest wins), with the constraints that bind."""
    require_aware("at", at)
    who.require(Permission.SITES_READ, site_id)
    return limits_out(await site_service(services).limits_in_force(site_id, at))


@router.get("/sites/{site_id}/power", response_model=SitePowerOut, responses=NOT_FOUND)
async def power(services: Services, who: Caller, site_id: SiteId) -> SitePowerOut:
    """Site power now: each EVSE's latest measured power and the sums per node of the limit
    tree, beside each node's limit in force."""
    who.require(Permission.SITES_READ, site_id)
    return await site_power(services, await site_service(services).get_site(site_id))


# -- readings ---------------------------------------------------------------------------
#: how far ahead of the CSMS's clock a reading's time may be (clocks differ a little)
READINGS_SKEW_S = 60.0


@router.post(
    "/sites/{site_id}/readings", response_model=ReadingsOut, status_code=202, responses=NOT_FOUND
)
async def post_readings(
    services: Services, who: Caller, site_id: SiteId, body: ReadingsIn
) -> ReadingsOut:
    """PV production (with an optional forecast), storage units' state and the grid meter,
    from the site's energy management. The planner counts on fresh PV readings and accounts
    for storage at its charging power (decision 0608); a big change re-plans at once. The
    storage controller uses a fresh grid meter reading as the site import (decision 0917).
    Telemetry records them. A reading older than the last one of its asset is ignored."""
    who.require(Permission.READINGS_WRITE, site_id)
    site = await site_service(services).get_site(site_id)
    now = services.now()

    def at_of(where: tuple[str | int, ...], at: datetime | None) -> datetime:
        if at is None:
            return now
        if (at - now).total_seconds() > READINGS_SKEW_S:
            raise InvalidField((*where, "at"), f"{at.isoformat()} is in the future")
        return at

    pv = []
    plants = {a.id: a for a in site.pv}
    for i, r in enumerate(body.pv):
        _on_site(site, "pv", i, r.pv_id, "PV")
        if r.power_w > plants[r.pv_id].max_reading_w:
            raise InvalidField(("body", "pv", i, "power_w"), f"{r.power_w:g} W is above the "
                               f"plant's peak {plants[r.pv_id].peak_w:g} W by more than "
                               f"{PV_PEAK_TOLERANCE:.0%}")  # fmt: skip
        forecast = tuple((f.start, f.end, f.power_w) for f in r.forecast)
        pv.append(PvReading(r.pv_id, at_of(("body", "pv", i), r.at), r.power_w, forecast))
    storage = []
    for i, u in enumerate(body.storage):
        _on_site(site, "storage", i, u.storage_id, "storage unit")
        at = at_of(("body", "storage", i), u.at)
        storage.append(StorageReading(u.storage_id, at, u.soc_pct, u.power_w))
    racks = _swap_readings(site, body, at_of)
    meter = None
    if body.meter is not None:
        if site.meter is None:
            raise InvalidField(("body", "meter"), f"site {site_id!r} has no [meter]")
        m = body.meter
        meter = GridMeterReading(at_of(("body", "meter"), m.at), m.import_w, m.export_w)
    if pv or storage or racks or meter:
        services.csms.bus.publish(
            SiteReadingsReceived(site_id, tuple(pv), tuple(storage), now, swap=racks, meter=meter)
        )
    return ReadingsOut(
        pv=len(pv), storage=len(storage), swap=len(racks), meter=int(meter is not None), at=now
    )


def _swap_readings(
    site: Site,
    body: ReadingsIn,
    at_of: Callable[[tuple[str | int, ...], datetime | None], datetime],
) -> tuple[SwapRackReading, ...]:
    """The swap stations' rack readings (a swap's own time is checked like a reading's)."""
    out = []
    for i, r in enumerate(body.swap):
        _on_site(site, "swap", i, r.swap_id, "swap station")
        swaps = tuple(
            RackSwap(at_of(("body", "swap", i, "swaps", k), s.at), s.pack_out_soc_pct)
            for k, s in enumerate(r.swaps)
        )
        out.append(SwapRackReading(r.swap_id, at_of(("body", "swap", i), r.at),
                                   tuple(r.pack_soc_pct), tuple(r.pack_ids), swaps))  # fmt: skip
    return tuple(out)


def _on_site(site: Site, kind: str, i: int, asset_id: str, what: str) -> None:
    """Refuse the ``i``-th reading of ``body.<kind>`` (``pv``, ``storage``, ``swap``) when
    the site has no such asset."""
    if all(a.id != asset_id for a in getattr(site, kind)):
        raise InvalidField(
            ("body", kind, i, f"{kind}_id"), f"site {site.id!r} has no {what} {asset_id!r}"
        )


# -- tariff -----------------------------------------------------------------------------
@router.get("/sites/{site_id}/tariff", response_model=Tariff, responses=NOT_FOUND)
async def get_tariff(services: Services, who: Caller, site_id: SiteId) -> Tariff:
    who.require(Permission.TARIFFS_READ, site_id)
    return (await site_service(services).get_site(site_id)).tariff


@router.put("/sites/{site_id}/tariff", response_model=ApplyOut, responses=NOT_FOUND)
async def put_tariff(services: Services, who: Caller, site_id: SiteId, body: Tariff) -> ApplyOut:
    """Time-of-use import prices, export price, demand charge (admin)."""
    who.require(Permission.TARIFFS_WRITE, site_id)
    out = _apply_out(await site_service(services).set_tariff(site_id, body))
    await audit_ok(services, who, "site.tariff.put", site_id, site_id, body.model_dump(mode="json"))
    return out


# -- constraints ------------------------------------------------------------------------
# -- plan -------------------------------------------------------------------------------
def _plan_out(services: ApiServices, site_id: str) -> PlanOut:
    """The plan as the planning wing shows it, with the optimizer's steps behind it."""
    view = services.plans.shown(site_id)
    plan = view.plan
    steps: list[PlanStepOut] = []
    storage: list[PlanStorageOut] = []
    nodes: list[PlanNodeOut] = []
    per_evse: dict[str, list[float]] = {}
    if plan is not None:
        at = plan.grid.start
        for duration in plan.grid.step_durations_s:
            steps.append(PlanStepOut(start=at, duration_s=duration))
            at += timedelta(seconds=duration)
        per_evse = {key: list(e.power_w) for key, e in plan.evses.items()}
        storage = [
            PlanStorageOut(storage_id=k, power_w=list(v.power_w), soc_wh=list(v.soc_wh))
            for k, v in plan.storage.items()
        ]
        nodes = [
            PlanNodeOut(
                node_id=k,
                power_w=list(n.power_w),
                max_import_w=list(n.max_import_w),
                binding=list(n.binding),
            )
            for k, n in plan.nodes.items()
        ]
    return PlanOut(
        site_id=site_id,
        planned_at=view.at,
        status=view.status,
        solve_s=view.solve_s,
        non_compliance_count=view.non_compliance_count,
        steps=steps,
        evses=[
            record_out(PlanEvseOut, e, power_w=per_evse.get(f"{e.station_id}/{e.evse_id}", []))
            for e in view.evses
        ],
        storage=storage,
        nodes=nodes,
        swap_racks=[
            record_out(
                PlanSwapRackOut,
                r,
                power_w=list(plan.swap_racks[r.swap_id].power_w)
                if plan is not None and r.swap_id in plan.swap_racks
                else [],
            )
            for r in view.swap_racks
        ],
        limits=[],
    )


@router.get("/sites/{site_id}/plan", response_model=PlanOut, responses=NOT_FOUND)
async def plan(services: Services, who: Caller, site_id: SiteId) -> PlanOut:
    """The plan in force: per EVSE and storage unit the planned power per time step, the
    limit sent and whether the station confirmed it; per node the planned power, its limit
    and what binds in each step; and the limits in force with the binding grid constraints."""
    who.require(Permission.PLANS_READ, site_id)
    sites = site_service(services)
    site = await sites.get_site(site_id)
    out = _plan_out(services, site_id)
    if out.steps and out.nodes:
        # Which grid constraints set each node's limits, step by step.
        constraints = await sites.list_constraints(site_id)
        per_step = [limits_in_force(site, constraints, step.start) for step in out.steps]
        out.nodes = [
            node.model_copy(
                update={
                    "constraint_ids": [
                        list(lim[node.node_id].binding) if node.node_id in lim else []
                        for lim in per_step
                    ]
                }
            )
            for node in out.nodes
        ]
    return out.model_copy(update={"limits": limits_out(await sites.limits_in_force(site_id))})


# A refused write to these routes is in the audit log as "refused" (see csms.api.boundary).
AUDITED_ROUTES.update(
    {
        put_site.__name__: "site.apply",
        delete_site.__name__: "site.delete",
        put_node.__name__: "site.node.put",
        delete_node.__name__: "site.node.delete",
        put_tariff.__name__: "site.tariff.put",
    }
)
