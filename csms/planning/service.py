"""The planning service inside ``chargegrid serve``: one loop per site.

Each loop waits for a reason to re-plan (the timer, or an event: arrival, departure, needs,
a constraint, a station going on- or offline, a meter deviation, non-compliance), builds the
problem from what :class:`~csms.planning.state.SiteState` knows, solves it in a worker thread
(the OCPP path never waits on a solve), and sends the first step as TxProfiles through
:class:`~csms.core.commands.Commands`. Stations get safe TxDefaultProfiles when they boot.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine
from typing import Any

from chargegrid.clock import Clock
from chargegrid.measurands import Measurand
from csms.backoff import Backoff
from csms.core.commands import Commands
from csms.der import DerRepository
from csms.domain import RegistrationStatus
from csms.events import (
    ConstraintsChanged,
    DomainEvent,
    EventBus,
    SiteChanged,
    SiteReadingsReceived,
    StationBooted,
    StationConnected,
    StationNonCompliant,
)
from csms.exceptions import CsmsError
from csms.planning.config import PlanningSettings
from csms.planning.context import PlanningContext
from csms.planning.lease_metrics import LeaseView, lease_metrics_text
from csms.planning.loop import SiteLoop
from csms.planning.readmodel import PlanReadModel
from csms.planning.state import SiteState
from csms.sites.placement import StationSites
from csms.sites.service import SiteService
from csms.storage_units import storage_metrics_text
from csms.store import Store
from csms.store.transient import is_transient
from csms.supervisor import Supervisor, cancel_and_wait

__all__ = ["PlanningService"]

logger = logging.getLogger(__name__)


class PlanningService:
    """Every site's planning loop; subscribe to the bus and re-plan as things happen."""

    def __init__(
        self,
        *,
        sites: SiteService,
        store: Store,
        bus: EventBus,
        commands: Commands,
        clock: Clock,
        settings: PlanningSettings | None = None,
        supervisor: Supervisor | None = None,
        station_sites: StationSites | None = None,
        der: DerRepository | None = None,
    ) -> None:
        self.sites = sites
        #: The DER controls in force (their narrowing of storage units resumes from it).
        self.der = der
        #: Runs the site watcher and every site's loop: restarted after a failure, and
        #: reported by ``/health`` (decision 0612).
        self.supervisor = supervisor or Supervisor()
        self.store = store
        self.bus = bus
        self.commands = commands
        self.clock = clock
        self.settings = settings or PlanningSettings()
        self.loops: dict[str, SiteLoop] = {}
        #: The plans as shown (the API reads them here): the loops' views, else what the
        #: bus says was dispatched, followed even while planning is disabled (decision 0621).
        self.plans = PlanReadModel(self.loops)
        bus.subscribe(self.plans.on_event)
        #: Which site each station belongs to (shared with the API; decision 0622): this
        #: service names each site's stations when it loads the site.
        self.station_sites = station_sites if station_sites is not None else StationSites()
        self._unsubscribe: object = None
        self._watcher: asyncio.Task[None] | None = None
        #: Passes of the site watcher that failed (the database was down?) since the start.
        self.watch_failures = 0
        self._tasks: set[asyncio.Task[None]] = set()
        #: Loading a site takes several store reads: one change at a time, or the watcher and
        #: a SiteChanged event would both build a loop and leave one running unseen.
        self._sites_lock = asyncio.Lock()
        #: What every site's loop is given of the service (decision 0620).
        self.context = PlanningContext(
            settings=self.settings,
            clock=clock,
            commands=commands,
            bus=bus,
            sites=sites,
            store=store,
            supervisor=self.supervisor,
            spawn=self.spawn,
            token_groups=self.token_groups,
        )

    async def start(self) -> None:
        # Subscribe first: a station that connects while the sites load is not missed.
        self._unsubscribe = self.bus.subscribe(self._on_event)
        try:
            await self._check_sites()
        except Exception as exc:  # the watcher tries again
            self._log_watch_failure(exc)
        self._watcher = self.supervisor.run(
            "planner: site watcher", self._watch_sites, task_name="planner-watcher"
        )

    @property
    def watch_interval_s(self) -> float:
        return min(30.0, self.settings.replan_interval_s)

    async def _watch_sites(self) -> None:
        """Sites applied by another process (``chargegrid site apply`` beside ``serve``)
        publish no event here: compare revisions now and then. This is also what loads a
        site whose load failed (the database was down): a failed pass is logged and the next
        one tries again, sooner while the failures last."""
        retry = Backoff(initial_s=1.0, max_s=math.inf, jitter=0.0)  # 1 s, 2 s, 4 s, ...
        wait_s = self.watch_interval_s
        while True:
            await self.clock.sleep(min(wait_s, self.watch_interval_s))
            try:
                await self._check_sites()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.watch_failures += 1
                self._log_watch_failure(exc)
                wait_s = retry.next_delay()
            else:
                retry.reset()
                wait_s = self.watch_interval_s

    async def _check_sites(self) -> None:
        stored = {site.id for site in await self.sites.list_sites()}
        for site_id in sorted(stored | set(self.loops)):
            revision = await self.sites.revision(site_id)
            loop = self.loops.get(site_id)
            if loop is None or loop.revision != revision:
                await self._site_changed(site_id)

    @staticmethod
    def _log_watch_failure(exc: Exception) -> None:
        if isinstance(exc, CsmsError) or is_transient(exc):
            logger.warning("planner: cannot read the sites (will retry): %s", exc)
        else:
            logger.error("planner: cannot read the sites (will retry)", exc_info=exc)

    async def stop(self) -> None:
        if callable(self._unsubscribe):
            self._unsubscribe()
        if self._watcher is not None:
            self._tasks.add(self._watcher)
            self._watcher = None
        await cancel_and_wait(list(self._tasks))
        for loop in self.loops.values():
            await loop.stop()
        self.loops.clear()

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
                if sample.sample.measurand == Measurand.ENERGY_ACTIVE_IMPORT_REGISTER:
                    ev.register_wh = sample.sample.value
                elif sample.sample.measurand == Measurand.POWER_ACTIVE_IMPORT:
                    ev.power_w = sample.sample.value
        for ev in state.evses.values():
            if ev.tx is not None and ev.tx.meter_start_wh is None:
                registers = [
                    s.sample.value
                    for s in await self.store.samples_for_transaction(ev.tx.id)
                    if s.sample.measurand == Measurand.ENERGY_ACTIVE_IMPORT_REGISTER
                    and s.sample.phase is None
                ]
                ev.start_wh = min(registers) if registers else None
        await self._load_der(state)
        loop = SiteLoop(self.context, state)
        loop.revision = await self.sites.revision(site_id)
        self.station_sites.name_stations(site)
        old = self.loops.get(site_id)
        if old is not None:  # never two loops sending profiles for one site
            await old.stop()
        self.loops[site_id] = loop
        # Events reach this loop from now on; a session that started while the site was
        # being loaded (after the first read above) is only in the store: take it too.
        for tx in await self.store.list_transactions(active=True, limit=100_000):
            ev = state.evse_of(tx.station_id, tx.evse_id)
            if ev is not None and ev.tx is None:
                state.take_transaction(tx)
        loop.start()
        loop.trigger("start", urgent=True)
        for station in site.stations:
            if state.stations[station.id].online:
                self.spawn(
                    loop.defaults.send(station.id), what=f"planner: defaults to {station.id}"
                )

    async def _load_der(self, state: SiteState) -> None:
        """The DER controls in force on the site's storage units, from the DER store (they
        narrow the units' ratings; decision 0918); events keep them from then on."""
        if self.der is None:
            return
        for station_id in {u.asset.station for u in state.units.units.values()}:
            assert station_id is not None
            state.units.der.load(station_id, await self.der.list_controls(station_id))

    def spawn(self, coro: Coroutine[Any, Any, None], *, what: str = "planner task") -> None:
        """Run ``coro`` once beside the loops; a failure is logged with its traceback (what
        it was for is retried: the watcher reloads a site, a re-plan resends defaults)."""
        task = self.supervisor.spawn(what, coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _site_changed(self, site_id: str) -> None:
        async with self._sites_lock:
            await self._take_site(site_id, await self.sites.revision(site_id))

    async def _take_site(self, site_id: str, revision: int) -> None:
        loop = self.loops.get(site_id)
        if loop is not None and loop.revision == revision:
            return  # already there (the watcher and an event both saw the change)
        if revision == 0:
            if loop is not None:
                await loop.stop()
                del self.loops[site_id]
            return
        if loop is None:
            await self._add_site(site_id)
            return
        site = await self.sites.get_site(site_id)
        loop.revision = revision
        loop.state.reset_site(site)
        await self._load_der(loop.state)
        self.station_sites.name_stations(site)
        for station in site.stations:
            st = loop.state.stations[station.id]
            if not st.online and self.commands.is_online(station.id):
                st.online = st.seen = True  # connected before it joined the site
                self.spawn(
                    loop.defaults.send(station.id), what=f"planner: defaults to {station.id}"
                )
        loop.trigger("site changed", urgent=True)

    def _on_event(self, event: DomainEvent) -> None:
        if isinstance(event, SiteChanged):
            self.spawn(
                self._site_changed(event.site_id), what=f"planner: load site {event.site_id}"
            )
            return
        if isinstance(event, ConstraintsChanged):
            loop = self.loops.get(event.site_id)
            if loop is not None:
                loop.trigger(f"constraint {event.change}", urgent=True)
            return
        if isinstance(event, SiteReadingsReceived):
            self._readings(event)
            return
        station_id = getattr(event, "station_id", None)
        if station_id is None:
            tx = getattr(event, "transaction", None)
            station_id = tx.station_id if tx is not None else None
        site_id = self.station_sites.naming(station_id) if station_id else None
        if site_id is None:
            return
        loop = self.loops.get(site_id)
        if loop is None:
            return
        state = loop.state
        noncompliant_before = {ev.key for ev in state.evses.values() if ev.non_compliant}
        taken = state.meter.taken
        reasons = state.apply(
            event,
            deviation_w=self.settings.meter_deviation_w,
            tolerance_w=self.settings.noncompliance_tolerance_w,
        )
        if state.meter.taken != taken and loop.storage is not None:
            loop.storage.metered()  # over the limit: step at once (decision 0931)
        if isinstance(event, StationBooted) and event.status is RegistrationStatus.ACCEPTED:
            self.spawn(
                loop.defaults.send(event.station_id),
                what=f"planner: defaults to {event.station_id}",
            )
        elif isinstance(event, StationConnected) and station_id is not None:
            pass  # defaults follow the accepted boot
        for ev in state.evses.values():
            if ev.non_compliant and ev.key not in noncompliant_before:
                logger.warning(
                    "site %s: %s draws %.0f W above its limit %.0f W",
                    site_id,
                    ev.key,
                    ev.power_w,
                    ev.limit_in_force_w(ev.power_at) or 0.0,
                )
                self.bus.publish(
                    StationNonCompliant(
                        ev.station.id,
                        ev.evse.id,
                        ev.limit_in_force_w(ev.power_at) or 0.0,
                        ev.power_w,
                        self.clock.now(),
                    )
                )
        self._publish_findings(loop)
        if "pv" in reasons and loop.storage is not None:
            loop.storage.poke()  # a PV plant's meter moved: the units first (0926)
        for reason in reasons:
            # A departure or a station coming online changes which EVSEs are idle: their
            # defaults must fit what the sessions leave at once (decision 0613).
            urgent = reason in (
                "station offline",
                "station online",
                "non-compliant",
                "arrival",
                "departure",
                "swap",
            )
            loop.trigger(reason, urgent=urgent)

    def _readings(self, event: SiteReadingsReceived) -> None:
        """Posted site readings: a change re-plans at once, and steps the storage controller
        at once (the units hold the limit until the re-plan, decision 0926)."""
        loop = self.loops.get(event.site_id)
        if loop is None:
            return
        taken = loop.state.meter.taken
        reasons = loop.state.apply(
            event, deviation_w=self.settings.meter_deviation_w, tolerance_w=0.0
        )
        for reason in reasons:
            loop.trigger(reason, urgent=True)  # less PV or more storage: less room
        if reasons and loop.storage is not None:
            loop.storage.poke()
        elif loop.state.meter.taken != taken and loop.storage is not None:
            loop.storage.metered()  # a posted grid meter reading over the limit (0931)
        self._publish_findings(loop)

    def _publish_findings(self, loop: SiteLoop) -> None:
        """The swaps that found no ready pack, logged and published once each; those that
        found one, published."""
        for rack in loop.state.racks.values():
            for served in rack.pop_served():
                self.bus.publish(served)
            for found in rack.pop_findings():
                logger.warning("site %s: swap at %s (%s) found no ready pack",
                               found.site_id, found.station_id, found.swap_id)  # fmt: skip
                self.bus.publish(found)

    def storage_metrics_text(self) -> str:
        """The storage controllers' counters and the EV limits leased to the units,
        Prometheus text (decisions 0905, 0930)."""
        views = [
            LeaseView(s, loop.state, loop.sender, loop.storage) for s, loop in self.loops.items()
        ]
        return storage_metrics_text(
            loop.storage for loop in self.loops.values() if loop.storage is not None
        ) + lease_metrics_text(views, self.clock.now())

    async def token_groups(self, state: SiteState) -> dict[str, str | None]:
        """Group of each active session's id token (for fleet defaults)."""
        out: dict[str, str | None] = {}
        for ev in state.evses.values():
            token = ev.tx.id_token if ev.tx is not None else None
            if token and token not in out:
                found = await self.store.get_id_token(token)
                out[token] = found.group_id if found is not None else None
        return out
