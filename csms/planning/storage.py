"""The site's storage as the planner sees it (decisions 0608, 0905, 0906).

- An OCPP storage unit the storage controller dispatches and may count on (a fresh reading
  within ``storage_stale_after_s``, no alarm) is scheduled by the optimizer: an
  :class:`optimizer.StorageUnit` with its live state of charge and the site file's limits.
  The plan's storage steps reach it through the controller.
- A unit it may not count on (no reading yet, stale, alarming, or no controller running), and
  a unit reporting through ``POST /sites/{id}/readings``, is counted at its worst case, the
  control law's: its discharge is not counted on, and it is taken to charge at the larger of
  what it last reported and the last setpoint it accepted, drawn under its node. So when the
  controller reports an EV reduction (the units cannot hold the limit), the re-plan it asks
  for gives the EVs exactly what the units no longer cover.
"""

from __future__ import annotations

from datetime import datetime

from csms.planning.config import PlanningSettings
from csms.planning.context import PlanningContext
from csms.planning.state import SiteState
from csms.planning.swap import rack_draws_w
from csms.planning.under import add_steps_under, add_under
from csms.sites.model import Site
from csms.storage_units import (
    LiveUnit,
    LiveUnits,
    SiteHooks,
    StorageController,
    StorageSettings,
)
from optimizer import Plan, StorageUnit

__all__ = [
    "billed_import_w",
    "estimated_import_w",
    "live_units",
    "metered_import_w",
    "storage_controller",
    "storage_draw_w",
    "storage_settings",
    "unmetered_w",
    "with_planned_storage",
]


def _live(units: LiveUnits, unit: LiveUnit, now: datetime, settings: PlanningSettings) -> bool:
    """Counted on: dispatched by the storage controller, fresh, no alarm (the law's rule)."""
    if not units.dispatching or unit.alarm or unit.soc_pct is None or unit.power_w is None:
        return False
    assert unit.measured_at is not None and unit.soc_at is not None
    oldest = min(unit.measured_at, unit.soc_at)
    return (now - oldest).total_seconds() <= settings.storage_stale_after_s


def live_units(
    state: SiteState, now: datetime, settings: PlanningSettings
) -> tuple[StorageUnit, ...]:
    """The OCPP units the optimizer schedules, from their state of charge now (held within
    the site file's bounds: a unit below its floor is planned from the floor)."""
    out = []
    for unit in state.units.units.values():
        if not _live(state.units, unit, now, settings):
            continue
        a = unit.asset
        assert unit.soc_pct is not None
        soc_wh = min(max(a.capacity_wh * unit.soc_pct / 100.0, a.min_soc_wh), a.max_soc_wh)
        out.append(
            StorageUnit(
                storage_id=a.id,
                node_id=a.node,
                capacity_wh=a.capacity_wh,
                soc_wh=soc_wh,
                max_charge_w=a.max_charge_w,
                # narrowed while a DER control limits its discharge (decision 0918)
                max_discharge_w=a.max_discharge_w * state.units.discharge_share(unit, now),
                min_soc_wh=a.min_soc_wh,
                max_soc_wh=a.max_soc_wh,
                charge_efficiency=a.charge_efficiency,
                discharge_efficiency=a.discharge_efficiency,
                # A battery's energy is not free: the plan leaves it no emptier than now.
                final_soc_min_wh=soc_wh,
            )
        )
    return tuple(out)


def storage_draw_w(
    state: SiteState, now: datetime | None, settings: PlanningSettings | None
) -> dict[str, float]:
    """Per node what the storage the planner does not schedule may draw (``now`` None: no
    unit is scheduled), with the unmetered load the grid meter shows (:func:`unmetered_w`),
    which the storage controller shaves or hands to the EVs like a unit's shortfall."""
    site = state.site
    draws: list[tuple[str, float]] = []
    for asset in site.storage:
        if asset.station is None:
            reading = state.storage.get(asset.id)
            if reading is not None and reading.power_w > 0:
                draws.append((asset.node, reading.power_w))
            continue
        unit = state.units.units.get(asset.id)
        if unit is None:
            continue
        if now is not None and settings is not None and _live(state.units, unit, now, settings):
            continue
        worst = max(unit.power_w or 0.0, unit.sent_w or 0.0)
        if worst > 0:
            draws.append((asset.node, worst))
    out: dict[str, float] = dict(unmetered_w(state))
    for node, watts in draws:
        add_under(out, site, node, watts)
    return out


def unmetered_w(state: SiteState) -> dict[str, float]:
    """The load the grid meter last showed that the central system's estimate misses, drawn
    at the grid connection (decision 0917): the EVs' share leaves room for it, so an EV
    reduction the controller asks for is absorbed even when the units shave an unmetered
    load."""
    root = state.site.root
    if root is None or state.meter.spec is None or state.meter.unmetered_w <= 0:
        return {}
    return {root.id: state.meter.unmetered_w}


def with_planned_storage(
    pv_w: dict[str, tuple[float, ...]],
    plan: Plan,
    site: Site,
    *,
    discharge: bool = True,
    without: frozenset[str] | None = None,
) -> dict[str, tuple[float, ...]]:
    """The supply the EVs under each node may take on top of its net import, per step: the
    PV counted on, plus what the plan has the storage under it discharge (less what it has
    it charge). The sharing then gives the EVs what the plan gave them; the storage
    controller holds the limit in force if a unit does not deliver, and when it cannot, its
    EV reduction re-plans without that unit (decision 0906). ``discharge=False``: its
    planned charging only (the supply that holds once the units' schedules run out, 0626);
    with ``without``, only those units' discharge is left out (decision 0930)."""
    if not plan.storage:
        return pv_w
    out = dict(pv_w)
    for asset in site.storage:
        steps = plan.storage.get(asset.id)
        if steps is None:
            continue
        kept = discharge if without is None else asset.id not in without
        power_w = steps.power_w if kept else tuple(max(0.0, w) for w in steps.power_w)
        add_steps_under(out, site, asset.node, power_w, sign=-1.0)
    return out


def storage_settings(settings: PlanningSettings) -> StorageSettings:
    """The storage controller's settings, from the ``[planning]`` section."""
    return StorageSettings(
        interval_s=settings.storage_interval_s,
        validity_intervals=settings.storage_validity_intervals,
        deadband_w=settings.storage_deadband_w,
        stale_after_s=settings.storage_stale_after_s,
        margin_w=settings.storage_margin_w,
        stack_level=settings.storage_stack_level,
    )


def metered_import_w(
    state: SiteState,
    now: datetime,
    *,
    pv_max_age_s: float,
    unit_stale_after_s: float | None = None,
) -> float:
    """The site's import now from what the CSMS knows: its EVs, its storage units (net),
    storage reporting charging through the API, the swap racks as their stations meter them
    (a rack whose reading is stale at what it may draw; decision 0915), less the PV counted
    on now. ``pv_max_age_s`` is the age past which a PV or rack reading is stale. A unit
    whose power reading is older than ``unit_stale_after_s`` counts its charging, not its
    discharge: a silent unit's schedule runs out to Idle, and a discharge counted after it
    stopped would show the grid meter an unmetered load that is not there (decision 0931)."""
    evs = sum(max(0.0, ev.power_w) for ev in state.evses.values() if ev.tx is not None)
    units = sum(_unit_w(u, now, unit_stale_after_s) for u in state.units.units.values())
    reported = sum(max(0.0, r.power_w) for r in state.storage.values())
    racks = rack_draws_w(state.racks, now, stale_after_s=pv_max_age_s)
    fresh = state.pv_plants.counted(now, max_age_s=pv_max_age_s)
    pv = sum(max(0.0, r.power_w) for r in fresh.values())
    return evs + units + reported + racks - pv


def estimated_import_w(state: SiteState, now: datetime, settings: PlanningSettings) -> float:
    """:func:`metered_import_w` with the ages of ``settings`` (the PV's and racks'
    ``readings_max_age_s``, the units' ``storage_stale_after_s``)."""
    return metered_import_w(
        state,
        now,
        pv_max_age_s=settings.readings_max_age_s,
        unit_stale_after_s=settings.storage_stale_after_s,
    )


def _unit_w(unit: LiveUnit, now: datetime, stale_after_s: float | None) -> float:
    power_w = unit.power_w or 0.0
    at = unit.measured_at
    if stale_after_s is not None and (at is None or (now - at).total_seconds() > stale_after_s):
        return max(0.0, power_w)
    return power_w


def storage_controller(
    site_id: str, state: SiteState, hooks: SiteHooks, ctx: PlanningContext
) -> StorageController:
    """The storage controller of one site loop (decision 0905)."""
    return StorageController(
        site_id,
        state.units,
        hooks,
        clock=ctx.clock,
        commands=ctx.commands,
        bus=ctx.bus,
        sites=ctx.sites,
        supervisor=ctx.supervisor,
        settings=storage_settings(ctx.settings),
        meter=state.meter,
        pv=state.pv_plants,
    )


def billed_import_w(state: SiteState, now: datetime, settings: PlanningSettings) -> float:
    """The site's import now for the billing peak. With a grid meter, the import the
    storage controller would use: the meter's while fresh, else its estimate plus the last
    unmetered load (decision 0917). Without: the EVs, plus what storage reports charging."""
    if state.meter.spec is not None:
        estimate_w = estimated_import_w(state, now, settings)
        return max(0.0, state.meter.read(now, estimate_w).import_w)
    evs = sum(max(0.0, ev.power_w) for ev in state.evses.values() if ev.tx is not None)
    return evs + sum(max(0.0, r.power_w) for r in state.storage.values())
