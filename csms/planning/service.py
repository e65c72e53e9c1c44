"""The planner service inside ``chargegrid serve``: one loop per site.

Each loop waits for a reason to re-plan (the timer, or an event: arrival, departure, needs,
a constraint, a station going on- or offline, a meter deviation, non-compliance), builds the
problem from what :class:`~csms.planning.state.SiteState` knows, solves it in a worker thread
(the OCPP path never waits on a solve), and sends the first step as TxProfiles through
:class:`~csms.core.commands.Commands`. Stations get safe TxDefaultProfiles when they boot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from chargegrid.clock import Clock
from csms.core.commands import Commands
from csms.domain import ChargingLimit, RegistrationStatus
from csms.events import (
    ConstraintsChanged,
    DepartureMissed,
    DomainEvent,
    EventBus,
    PlanUpdated,
    SiteChanged,
    StationBooted,
    StationConnected,
    StationNonCompliant,
)
from csms.exceptions import CommandRejected, CsmsError
from csms.planning.allocate import fair_first_step
from csms.planning.config import PlanningSettings
from csms.planning.dispatch import choose, current_w, executable_w, make_limit, window_end
from csms.planning.problem import build_problem, default_problem
from csms.planning.state import EvseState, Sent, SiteState
from csms.sites.constraints import GridConstraint, limits_in_force
from csms.sites.service import SiteService
from csms.store import Store
from optimizer import Plan, Planner, PlannerConfig, safe_evse_limits_w

__all__ = ["EvseView", "PlanView", "PlannerService", "SitePlanner"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EvseView:
    station_id: str
    evse_id: int
    online: bool
    transaction_id: int | None
    planned_w: float | None
    sent_w: float | None
    ack: str | None  # "pending", "accepted", "rejected", "failed" or None (nothing sent)
    confirmed_w: float | None  # the limit the station last confirmed
    default_w: float | None
    measured_w: float
    non_compliant: bool


@dataclass(frozen=True, slots=True)
class PlanView:
    site_id: str
    at: datetime | None
    status: str | None  # "optimal", "fallback", or None before the first plan
    solve_s: float | None
    evses: tuple[EvseView, ...]
    binding: dict[str, str | None]  # node id -> binding constraint of the first step
    non_compliance_count: int


class SitePlanner:
    def __init__(self, service: PlannerService, state: SiteState) -> None:
        self.service = service
        self.state = state
        self.site_id = state.site.id
        self.planner = Planner(
            PlannerConfig(
                backend=service.settings.backend,
                time_limit_s=service.settings.solver_time_limit_s,
                replan_interval_s=service.settings.replan_interval_s,
            )
        )
        self.wake = asyncio.Event()
        self.urgent = False
        self.reasons: list[str] = []
        self.last_plan: Plan | None = None
        self.last_plan_at: datetime | None = None
        self.last_solve_s: float | None = None
        self.plans = 0
        self.defaults_w: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._sem = asyncio.Semaphore(service.settings.max_parallel_sends)
        #: Profiles are renewed for the next window within this long of the window's end.
        self.renew_margin_s = min(service.settings.profile_validity_s / 3, 120.0)

    # -- triggering -----------------------------------------------------------------------
    def trigger(self, reason: str, *, urgent: bool = False) -> None:
        self.reasons.append(reason)
        self.urgent = self.urgent or urgent
        self.wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"planner:{self.site_id}")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._sends) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        settings = self.service.settings
        clock = self.service.clock
        while True:
            boundary = window_end(clock.now(), validity_s=settings.profile_validity_s, margin_s=0)
            renew_in = (boundary - clock.now()).total_seconds() - self.renew_margin_s / 2
            if renew_in <= 0:
                renew_in += settings.profile_validity_s
            wait_s = min(settings.replan_interval_s, renew_in)
            sleeper = asyncio.ensure_future(clock.sleep(wait_s))
            waiter = asyncio.ensure_future(self.wake.wait())
            try:
                await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waiter.cancel()
            if self.wake.is_set() and not self.urgent and self.last_plan_at is not None:
                since = (clock.now() - self.last_plan_at).total_seconds()
                if since < settings.min_replan_gap_s:
                    await clock.sleep(settings.min_replan_gap_s - since)
            self.wake.clear()
            reasons, self.reasons, self.urgent = self.reasons or ["timer"], [], False
            try:
                await self.replan(reasons)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("site %s: re-plan failed", self.site_id)

    # -- planning -------------------------------------------------------------------------
    async def replan(self, reasons: list[str]) -> None:
        svc = self.service
        now = svc.clock.now()
        constraints = await svc.sites.list_constraints(self.site_id)
        await self._refresh_defaults(constraints, now)
        groups = await svc.token_groups(self.state)
        built = build_problem(
            self.state, constraints, now=now, settings=svc.settings, groups=groups
        )
        for ev, missing_wh in built.missed:
            ev.missed_reported = True
            assert ev.tx is not None
            logger.warning(
                "site %s: %s/%d departed (planned) with %.0f Wh missing",
                self.site_id,
                ev.station.id,
                ev.evse.id,
                missing_wh,
            )
            svc.bus.publish(
                DepartureMissed(self.site_id, ev.station.id, ev.evse.id, ev.tx.id, missing_wh, now)
            )
        if not built.controlled:
            self.last_plan_at = now
            return
        began = time.perf_counter()
        plan = await asyncio.to_thread(self.planner.plan, built.problem)
        self.last_solve_s = time.perf_counter() - began
        self.last_plan, self.last_plan_at = plan, now
        self.plans += 1
        limits = limits_in_force(self.state.site, constraints, now)
        site = self.state.site
        first = fair_first_step(
            plan,
            built.problem,
            now=now,
            ancestors={n.id: site.ancestors(n.id) for n in site.nodes},
        )
        valid_to = window_end(
            now, validity_s=svc.settings.profile_validity_s, margin_s=self.renew_margin_s
        )
        dispatches = choose(
            self.state,
            first,
            built.controlled,
            limits=limits,
            uncontrolled_w=built.uncontrolled_w,
            now=now,
            deadband_w=svc.settings.deadband_w,
            valid_to=valid_to,
        )
        logger.info(
            "site %s: plan %s in %.3f s for %d sessions (%s); sending %d limits",
            self.site_id,
            plan.status,
            self.last_solve_s,
            len(built.controlled),
            ", ".join(sorted(set(reasons))),
            len(dispatches),
        )
        # Make room before granting it: decreases first, increases once they are answered.
        before = {d.evse.key: current_w(d.evse) for d in dispatches}
        for d in dispatches:
            assert d.evse.tx is not None
            d.evse.sent = Sent(
                d.limit_w,
                "TxProfile",
                now,
                valid_to=valid_to,
                transaction_id=d.evse.tx.id,
            )
        down = [d for d in dispatches if d.limit_w < before[d.evse.key]]
        up = [d for d in dispatches if d.limit_w >= before[d.evse.key]]
        await asyncio.gather(*(self._send(d.evse, d.charging_limit) for d in down))
        await asyncio.gather(*(self._send(d.evse, d.charging_limit) for d in up))
        svc.bus.publish(
            PlanUpdated(
                self.site_id,
                now,
                plan.status,
                tuple((d.evse.station.id, d.evse.evse.id, d.limit_w) for d in dispatches),
            )
        )

    async def _send(self, ev: EvseState, limit: ChargingLimit) -> None:
        svc = self.service
        sent = ev.sent
        async with self._sem:
            try:
                await asyncio.wait_for(
                    svc.commands.set_charging_profile(limit), svc.settings.send_timeout_s
                )
            except CommandRejected as exc:
                state = "rejected"
                logger.warning("site %s: %s", self.site_id, exc)
            except (CsmsError, TimeoutError) as exc:
                state = "failed"
                logger.warning("site %s: profile to %s failed: %s", self.site_id, ev.key, exc)
            else:
                state = "accepted"
        if sent is not None and ev.sent is sent:
            sent.state = state  # type: ignore[assignment]
            if state == "accepted":
                ev.confirmed_w, ev.confirmed_at = sent.limit_w, svc.clock.now()
                if sent.transaction_id is not None:
                    ev.accepted_tx = (sent.transaction_id, sent.limit_w)
            else:
                self.trigger(f"profile {state}")

    # -- safe defaults --------------------------------------------------------------------
    async def _refresh_defaults(self, constraints: list[GridConstraint], now: datetime) -> None:
        problem = default_problem(self.state.site, constraints, now=now)
        safe = await asyncio.to_thread(safe_evse_limits_w, problem) if problem.evses else {}
        changed = {
            key
            for key, value in safe.items()
            if abs(value - self.defaults_w.get(key, -1e9)) > self.service.settings.deadband_w
            or value < self.defaults_w.get(key, value)
        }
        self.defaults_w = safe
        if changed:
            stations = {ev.station.id for ev in self.state.evses.values() if ev.key in changed}
            for station_id in stations:
                st = self.state.stations[station_id]
                if st.online and st.defaults_sent:
                    await self.send_defaults(station_id)

    async def send_defaults(self, station_id: str) -> None:
        """TxDefaultProfile per EVSE: the safe share of every limit above it."""
        svc = self.service
        if not svc.settings.default_profiles:
            return
        st = self.state.stations.get(station_id)
        if st is None:
            return
        if not self.defaults_w:
            constraints = await svc.sites.list_constraints(self.site_id)
            problem = default_problem(self.state.site, constraints, now=svc.clock.now())
            if problem.evses:
                self.defaults_w = await asyncio.to_thread(safe_evse_limits_w, problem)
        st.defaults_sent = True
        for ev in [e for e in self.state.evses.values() if e.station.id == station_id]:
            value = executable_w(ev, self.defaults_w.get(ev.key, 0.0), st.quirks)
            limit = make_limit(
                ev,
                value,
                st.quirks,
                purpose="TxDefaultProfile",
                now=svc.clock.now(),
                valid_to=None,
            )
            try:
                await asyncio.wait_for(
                    svc.commands.set_charging_profile(limit), svc.settings.send_timeout_s
                )
            except (CsmsError, TimeoutError) as exc:
                logger.warning("site %s: default profile to %s: %s", self.site_id, ev.key, exc)
                continue
            ev.default_w = value
            ev.confirmed_w, ev.confirmed_at = value, svc.clock.now()

    # -- views ----------------------------------------------------------------------------
    def view(self) -> PlanView:
        plan = self.last_plan
        binding: dict[str, str | None] = {}
        if plan is not None:
            binding = {node_id: n.binding[0] for node_id, n in plan.nodes.items()}
        rows = []
        for ev in self.state.evses.values():
            rows.append(
                EvseView(
                    station_id=ev.station.id,
                    evse_id=ev.evse.id,
                    online=self.state.stations[ev.station.id].online,
                    transaction_id=ev.tx.id if ev.tx is not None else None,
                    planned_w=ev.planned_w,
                    sent_w=ev.sent.limit_w if ev.sent is not None else None,
                    ack=ev.sent.state if ev.sent is not None else None,
                    confirmed_w=ev.confirmed_w,
                    default_w=ev.default_w,
                    measured_w=ev.power_w,
                    non_compliant=ev.non_compliant,
                )
            )
        return PlanView(
            self.site_id,
            self.last_plan_at,
            plan.status if plan is not None else None,
            self.last_solve_s,
            tuple(rows),
            binding,
            self.state.non_compliance_count,
        )


class PlannerService:
    """All sites' planners; subscribe to the bus and re-plan as things happen."""

    def __init__(
        self,
        *,
        sites: SiteService,
        store: Store,
        bus: EventBus,
        commands: Commands,
        clock: Clock,
        settings: PlanningSettings | None = None,
    ) -> None:
        self.sites = sites
        self.store = store
        self.bus = bus
        self.commands = commands
        self.clock = clock
        self.settings = settings or PlanningSettings()
        self.planners: dict[str, SitePlanner] = {}
        self._station_site: dict[str, str] = {}
        self._unsubscribe: object = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for site in await self.sites.list_sites():
            await self._add_site(site.id)
        unsubscribe = self.bus.subscribe(self._on_event)
        self._unsubscribe = unsubscribe

    async def stop(self) -> None:
        if callable(self._unsubscribe):
            self._unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for planner in self.planners.values():
            await planner.stop()
        self.planners.clear()

    def view(self, site_id: str) -> PlanView | None:
        planner = self.planners.get(site_id)
        return planner.view() if planner is not None else None

    async def _add_site(self, site_id: str) -> None:
        site = await self.sites.get_site(site_id)
        state = SiteState(site)
        # Resume: the sessions running now and their last meter readings.
        for tx in await self.store.list_transactions(active=True, limit=100_000):
            state.take_transaction(tx)
        for station in site.stations:
            online = self.commands.is_online(station.id)
            state.stations[station.id].online = online
            state.stations[station.id].seen = online
            for sample in await self.store.latest_samples(station.id):
                ev = state.evse_of(station.id, sample.evse_id)
                if ev is None or sample.sample.phase is not None:
                    continue
                if sample.sample.measurand == "Energy.Active.Import.Register":
                    ev.register_wh = sample.sample.value
                elif sample.sample.measurand == "Power.Active.Import":
                    ev.power_w = sample.sample.value
        for ev in state.evses.values():
            if ev.tx is not None and ev.tx.meter_start_wh is None:
                registers = [
                    s.sample.value
                    for s in await self.store.samples_for_transaction(ev.tx.id)
                    if s.sample.measurand == "Energy.Active.Import.Register"
                    and s.sample.phase is None
                ]
                ev.start_wh = min(registers) if registers else None
        planner = SitePlanner(self, state)
        for station in site.stations:
            self._station_site[station.id] = site_id
        self.planners[site_id] = planner
        planner.start()
        planner.trigger("start", urgent=True)
        for station in site.stations:
            if state.stations[station.id].online:
                self._spawn(planner.send_defaults(station.id))

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _site_changed(self, site_id: str, revision: int) -> None:
        planner = self.planners.get(site_id)
        if revision == 0:
            if planner is not None:
                await planner.stop()
                del self.planners[site_id]
            return
        if planner is None:
            await self._add_site(site_id)
            return
        site = await self.sites.get_site(site_id)
        planner.state.reset_site(site)
        for station in site.stations:
            self._station_site[station.id] = site_id
        planner.trigger("site changed", urgent=True)

    def _on_event(self, event: DomainEvent) -> None:
        if isinstance(event, SiteChanged):
            self._spawn(self._site_changed(event.site_id, event.revision))
            return
        if isinstance(event, ConstraintsChanged):
            planner = self.planners.get(event.site_id)
            if planner is not None:
                planner.trigger(f"constraint {event.change}", urgent=True)
            return
        station_id = getattr(event, "station_id", None)
        if station_id is None:
            tx = getattr(event, "transaction", None)
            station_id = tx.station_id if tx is not None else None
        site_id = self._station_site.get(station_id) if station_id else None
        if site_id is None:
            return
        planner = self.planners.get(site_id)
        if planner is None:
            return
        state = planner.state
        noncompliant_before = {ev.key for ev in state.evses.values() if ev.non_compliant}
        reasons = state.apply(
            event,
            deviation_w=self.settings.meter_deviation_w,
            tolerance_w=self.settings.noncompliance_tolerance_w,
        )
        if isinstance(event, StationBooted) and event.status is RegistrationStatus.ACCEPTED:
            self._spawn(planner.send_defaults(event.station_id))
        elif isinstance(event, StationConnected) and station_id is not None:
            pass  # defaults follow the accepted boot
        for ev in state.evses.values():
            if ev.non_compliant and ev.key not in noncompliant_before:
                logger.warning(
                    "site %s: %s draws %.0f W above its limit %.0f W",
                    site_id,
                    ev.key,
                    ev.power_w,
                    ev.limit_in_force_w() or 0.0,
                )
                self.bus.publish(
                    StationNonCompliant(
                        ev.station.id,
                        ev.evse.id,
                        ev.limit_in_force_w() or 0.0,
                        ev.power_w,
                        self.clock.now(),
                    )
                )
        for reason in reasons:
            urgent = reason in ("station offline", "non-compliant", "arrival")
            planner.trigger(reason, urgent=urgent)

    async def token_groups(self, state: SiteState) -> dict[str, str | None]:
        """Group of each active session's id token (for fleet defaults)."""
        out: dict[str, str | None] = {}
        for ev in state.evses.values():
            token = ev.tx.id_token if ev.tx is not None else None
            if token and token not in out:
                found = await self.store.get_id_token(token)
                out[token] = found.group_id if found is not None else None
        return out
