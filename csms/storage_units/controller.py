"""The storage controller of one site: every ``storage_interval_s`` it runs the control law
(:func:`storage_ctrl.step`) on the units' live readings, the plan's storage step and the
limits in force, sends each unit a short ``CentralSetpoint`` schedule where it changed, and
hands what the units cannot hold to the EV limits (``ev_reduction_w``; decision 0905).

It runs under the supervisor (restarted after a failure, named by ``/health`` when it dies,
decision 0612). If it stops, every unit's schedule runs out within
``storage_validity_intervals`` intervals and the unit is Idle.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from chargegrid.clock import Clock
from csms.core.commands import Commands
from csms.events import EventBus, StorageDispatched
from csms.exceptions import CommandError
from csms.quantities import MAX_POWER_W
from csms.sites.constraints import GridConstraint, limits_in_force
from csms.sites.model import Site
from csms.sites.service import SiteService
from csms.storage_units.glue import (
    Sent,
    next_edge_s,
    plan_now,
    planned_then,
    resend_due,
    setpoint_schedule,
)
from csms.storage_units.meter import LiveMeter, SiteImport
from csms.storage_units.pv import LivePv
from csms.storage_units.units import LiveUnits
from csms.supervisor import Supervisor, cancel_and_wait
from optimizer import Plan
from storage_ctrl import ControlSettings, Decision, SiteLimits, UnitRating, step
from storage_ctrl import Measurements as LawMeasurements

__all__ = ["SiteHooks", "StorageController", "StorageSettings", "kept_shares", "site_limits"]

logger = logging.getLogger(__name__)

#: a step for an edge (a cap, a plan step) runs this long after it, the edge in force then
EDGE_LAG_S = 0.01


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """The controller's options (``[planning] storage_*``; the README lists them)."""

    interval_s: float = 5.0
    validity_intervals: int = 3
    deadband_w: float = 500.0
    stale_after_s: float = 15.0
    margin_w: float = 0.0
    stack_level: int = 1


@dataclass(frozen=True, slots=True)
class SiteHooks:
    """What the controller reads of, and hands to, the site's planning loop."""

    site: Callable[[], Site]
    plan: Callable[[], Plan | None]
    import_w: Callable[[], float]
    """The site's import now as the sum of what the CSMS knows (the meter's fallback)."""
    ev_reduction: Callable[[float], None]
    replan: Callable[[str], None]
    """Ask for a re-plan now (the controller started or stopped dispatching)."""
    leases: Callable[[], Awaitable[None]] | None = None
    """Send the EV limits that count on the units what the units' commitments give them:
    after the decision (a lost unit's part withdrawn first) and after the units' schedules
    went out (renewed; 0626, 0930)."""


def site_limits(site: Site, constraints: list[GridConstraint], at: datetime) -> SiteLimits:
    """The grid connection's import and export limits in force at ``at`` (base limits
    narrowed by every active cap and demand-response window); unlimited is 1 GW."""
    root = site.root
    if root is None:
        return SiteLimits(import_limit_w=MAX_POWER_W)
    limit = limits_in_force(site, constraints, at)[root.id]
    export = limit.max_export_w
    return SiteLimits(
        import_limit_w=MAX_POWER_W if limit.max_import_w is None else limit.max_import_w,
        export_limit_w=float("inf") if export is None else export,
    )


def kept_shares(
    ratings: Mapping[str, UnitRating], planned_w: Mapping[str, float]
) -> dict[str, float]:
    """Per unit the plan has discharge, the share (0..1) of that discharge its rating in
    force (a DER control's, decision 0918) still gives."""
    out = {}
    for unit_id, rating in ratings.items():
        want_w = -planned_w.get(unit_id, 0.0)
        if want_w > 0.0:
            out[unit_id] = min(1.0, max(0.0, rating.max_discharge_w) / want_w)
    return out


class StorageController:
    def __init__(
        self,
        site_id: str,
        units: LiveUnits,
        hooks: SiteHooks,
        *,
        clock: Clock,
        commands: Commands,
        bus: EventBus,
        sites: SiteService,
        supervisor: Supervisor,
        settings: StorageSettings,
        meter: LiveMeter | None = None,
        pv: LivePv | None = None,
    ) -> None:
        self.site_id = site_id
        self.units = units
        #: the site's grid meter; its import is used while fresh (decision 0917)
        self.meter = meter
        #: the site's PV plants (their refusals and lapses are served with the controller's)
        self.pv = pv
        self.hooks = hooks
        self.clock = clock
        self.commands = commands
        self.bus = bus
        self.sites = sites
        self.supervisor = supervisor
        self.settings = settings
        self.sent: dict[str, Sent] = {}
        self.last: Decision | None = None
        self.steps = 0
        #: Counted since the start: corrections by field, exclusions by reason, failed sends.
        self.corrections: Counter[str] = Counter()
        self.exclusions: Counter[str] = Counter()
        self.send_failures = 0
        #: Steps that used the estimate for want of a fresh meter reading, by reason.
        self.meter_fallbacks: Counter[str] = Counter()
        #: The site import the last step used.
        self.last_import: SiteImport | None = None
        #: Schedules the units accepted, by operation mode (CentralSetpoint, Idle).
        self.sent_schedules: Counter[str] = Counter()
        self.last_excluded: dict[str, str] = {}
        #: Per unit, the discharge rating a DER control narrows it to at the last step.
        self.der_limits_w: dict[str, float | None] = {}
        #: Units whose last setpoint was refused or failed (not counted on until one is
        #: accepted again; the EV limits that count on them are lowered, decision 0930).
        self.refused: set[str] = set()
        #: Per unit, the share (0..1) of its planned discharge its rating in force still
        #: gives at the last step (less than 1 while a DER control narrows it below the plan).
        self.discharge_kept: dict[str, float] = {}
        self._constraints: list[GridConstraint] = []
        #: the units' ratings at the last step (a DER control narrows them; 0918)
        self._ratings: dict[str, UnitRating] = {}
        self._task: asyncio.Task[None] | None = None
        #: set by :meth:`poke`: a reading changed the import, step now (decision 0926)
        self._poked = asyncio.Event()
        #: Steps taken early because a reading moved the import (counted since the start).
        self.poked_steps = 0
        #: Grid meter readings over the limit in force that stepped at once (decision 0931).
        self.meter_pokes = 0

    @property
    def law_settings(self) -> ControlSettings:
        s = self.settings
        return ControlSettings(
            interval_s=s.interval_s,
            stale_after_s=s.stale_after_s,
            margin_w=s.margin_w,
        )

    def start(self) -> None:
        """Dispatch from now on (the planner schedules the units it may count on again)."""
        self.units.dispatching = True
        self._task = self.supervisor.run(
            f"storage control: site {self.site_id}",
            self._run,
            task_name=f"storage:{self.site_id}",
        )
        self.hooks.replan("storage control started")

    async def stop(self) -> None:
        """Stop dispatching: the units' schedules run out to Idle and the planner stops
        scheduling them (it counts them at their worst case again)."""
        await cancel_and_wait([self._task] if self._task is not None else [])
        self._task = None
        self.units.dispatching = False
        self.hooks.replan("storage control stopped")

    @property
    def has_work(self) -> bool:
        """OCPP storage units to dispatch, or a grid meter to read: without units a step
        still measures the import (the unmetered load the planner leaves room for) and
        hands an import over the limit to the EV limits."""
        return bool(self.units.units) or (self.meter is not None and self.meter.spec is not None)

    def poke(self) -> None:
        """A reading moved the site's import (less PV, the grid meter): step now rather than
        at the interval's end (decision 0926). Pokes while a step runs make one step more."""
        self._poked.set()

    def metered(self) -> bool:
        """A new grid meter reading was kept: step now if it measures the import over the
        limit in force (less the margin) by more than the deadband, so that the units, or
        the EV cut the step hands over, act within the meter's interval rather than the
        controller's (decision 0931). Whether it poked."""
        meter = self.meter
        if meter is None or meter.import_w is None or not self.has_work:
            return False
        now = self.clock.now()
        limit = site_limits(self.hooks.site(), self._constraints, now).import_limit_w
        over_w = meter.import_w - (limit - self.settings.margin_w)
        if over_w <= self.settings.deadband_w:
            return False
        self.meter_pokes += 1
        self.poke()
        return True

    async def _run(self) -> None:
        while True:
            began = self.clock.now()
            self._poked.clear()
            if self.has_work:
                await self.step_once()
            spent = (self.clock.now() - began).total_seconds()
            wait_s = self.settings.interval_s - spent
            edge_s = next_edge_s(self.hooks.plan(), self._constraints, self.clock.now())
            if edge_s is not None:  # a cap or plan step starting: step right after it
                wait_s = min(wait_s, edge_s + EDGE_LAG_S)
            if await self._sleep_or_poke(max(0.0, wait_s)):
                self.poked_steps += 1

    async def _sleep_or_poke(self, wait_s: float) -> bool:
        """Sleep ``wait_s`` of the clock, or until poked; True: poked."""
        if self._poked.is_set():
            return True
        sleeper = asyncio.ensure_future(self.clock.sleep(wait_s))
        poked = asyncio.ensure_future(self._poked.wait())
        try:
            await asyncio.wait({sleeper, poked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            poked.cancel()
        return self._poked.is_set()

    async def step_once(self) -> Decision:
        """One control step: decide, hand the EV reduction over, send what changed."""
        now = self.clock.now()
        site = self.hooks.site()
        try:
            self._constraints = await self.sites.list_constraints(self.site_id)
        except Exception as exc:  # the last constraints read stay in force
            logger.warning("storage control %s: constraints not read (%s)", self.site_id, exc)
        tariff = site.tariff
        local = site.local_time(now).time()
        ratings = self.units.ratings(now)
        self._narrowed(ratings)
        self._ratings = ratings
        site_import = self._site_import(now)
        planned = plan_now(
            self.hooks.plan(),
            now,
            absorb_surplus=tariff.export_price_per_kwh < tariff.import_price_at(local),
        )
        self.discharge_kept = kept_shares(ratings, planned.setpoints_w)
        decision = step(
            LawMeasurements(
                site_import.import_w, site_import.measured_at or now, self.units.readings()
            ),
            planned,
            site_limits(site, self._constraints, now),
            now,
            ratings=ratings.values(),
            previous_w={u: s.setpoint_w or 0.0 for u, s in self.sent.items()},
            settings=self.law_settings,
        )
        self.last, self.steps = decision, self.steps + 1
        self._count(decision)
        if self.hooks.leases is not None:  # a unit not counted on: its part of the EV limits
            await self.hooks.leases()  # goes before anything else (decision 0930)
        self.hooks.ev_reduction(decision.ev_reduction_w)
        await self._send(decision, now)
        if self.hooks.leases is not None:
            await self.hooks.leases()
        self.bus.publish(
            StorageDispatched(
                self.site_id,
                now,
                tuple(
                    (u, s.setpoint_w, tuple(r.value for r in s.reasons))
                    for u, s in sorted(decision.setpoints.items())
                ),
                tuple((u, why.value) for u, why in sorted(decision.excluded.items())),
                decision.ev_reduction_w,
                decision.export_excess_w,
                tuple((c.field, c.given, c.used) for c in decision.corrections),
                tuple(
                    (u, unit.soc_pct, unit.power_w) for u, unit in sorted(self.units.units.items())
                ),
                site_import.import_w,
                site_import.source,
            )
        )
        return decision

    def _site_import(self, now: datetime) -> SiteImport:
        """The meter's import while fresh, else the estimate (counted; logged when it
        starts and ends)."""
        estimate_w = self.hooks.import_w()
        if self.meter is None:
            return SiteImport(estimate_w, estimate_w, None)
        found = self.meter.site_import(now, estimate_w)
        before = self.last_import
        if found.fallback is not None:
            self.meter_fallbacks[found.fallback] += 1
            if before is None or before.fallback != found.fallback:
                logger.warning("storage control %s: grid meter %s: the estimate %.0f W plus "
                               "the last unmetered load %.0f W", self.site_id,
                               found.fallback.replace("_", " "), estimate_w,
                               found.import_w - estimate_w)  # fmt: skip
        elif before is not None and before.fallback is not None:
            logger.info("storage control %s: grid meter read again", self.site_id)
        self.last_import = found
        return found

    def _narrowed(self, ratings: dict[str, UnitRating]) -> None:
        """Log each unit whose discharge rating a DER control narrows, or no longer does."""
        for unit_id, rating in ratings.items():
            rated = self.units.units[unit_id].asset.max_discharge_w
            limit = rating.max_discharge_w if rating.max_discharge_w < rated else None
            if self.der_limits_w.get(unit_id) != limit:
                if limit is None:
                    logger.info("storage control %s: unit %s: DER limit ended, discharge up "
                                "to %.0f W", self.site_id, unit_id, rated)  # fmt: skip
                else:
                    logger.warning("storage control %s: unit %s: a DER control limits its "
                                   "discharge to %.0f W of %.0f W", self.site_id, unit_id,
                                   limit, rated)  # fmt: skip
            self.der_limits_w[unit_id] = limit

    def _count(self, decision: Decision) -> None:
        for c in decision.corrections:
            self.corrections[c.field] += 1
            logger.warning(
                "storage control %s: %s corrected from %.0f to %.0f",
                self.site_id,
                c.field,
                c.given,
                c.used,
            )
        before = self.last_excluded
        for unit_id, why in decision.excluded.items():
            self.exclusions[why.value] += 1
            if before.get(unit_id) != why.value:
                logger.warning(
                    "storage control %s: unit %s not counted on (%s); the EV limits absorb it",
                    self.site_id,
                    unit_id,
                    why.value,
                )
        self.last_excluded = {u: w.value for u, w in decision.excluded.items()}
        for unit_id in decision.unknown_units:
            logger.warning("storage control %s: reading of unknown unit %s", self.site_id, unit_id)

    async def _send(self, decision: Decision, now: datetime) -> None:
        wanted: dict[str, float | None] = {u: s.setpoint_w for u, s in decision.setpoints.items()}
        for unit_id in decision.excluded:
            unit = self.units.units.get(unit_id)
            if (
                unit is not None
                and unit.asset.station
                and self.commands.is_online(unit.asset.station)
            ):
                wanted[unit_id] = None  # reachable but not counted on: Idle
        await asyncio.gather(*(self._send_one(u, w, now) for u, w in sorted(wanted.items())))

    async def _send_one(self, unit_id: str, setpoint_w: float | None, now: datetime) -> None:
        s = self.settings
        validity_s = s.interval_s * s.validity_intervals
        then = None
        if setpoint_w is not None:
            until = now.replace(microsecond=0) + timedelta(seconds=validity_s)
            then = planned_then(self.hooks.plan(), unit_id, setpoint_w, now, until)
            rating = self._ratings.get(unit_id)
            if then is not None and rating is not None:  # within its rating in force (0918)
                then = (then[0], max(then[1], -rating.max_discharge_w))
                then = None if then[1] >= setpoint_w else then
        if not resend_due(
            self.sent.get(unit_id),
            setpoint_w,
            now=now,
            deadband_w=s.deadband_w,
            renew_before_s=validity_s - s.interval_s * 1.5,
            then=then,
        ):
            return
        asset = self.units.units[unit_id].asset
        assert asset.station is not None
        limit = setpoint_schedule(
            asset.station,
            asset.evse,
            setpoint_w,
            now=now,
            validity_s=validity_s,
            stack_level=s.stack_level,
            then=then,
        )
        try:
            await self.commands.set_charging_profile(limit)
        except CommandError as exc:
            self.send_failures += 1
            self.refused.add(unit_id)
            logger.warning("storage control %s: unit %s: %s", self.site_id, unit_id, exc)
            return
        assert limit.valid_to is not None
        self.refused.discard(unit_id)
        self.sent[unit_id] = Sent(setpoint_w, limit.valid_to, then)
        self.sent_schedules["Idle" if setpoint_w is None else "CentralSetpoint"] += 1
        self.units.units[unit_id].sent_w = setpoint_w

    def expired(self, now: datetime) -> list[str]:
        """Units whose last schedule has run out (they are Idle)."""
        return [u for u, s in self.sent.items() if s.valid_to <= now]
