"""Everything the API's routes use, assembled around a running central system
(:class:`~csms.api.system.CentralSystemParts`: what ``serve`` passes is :class:`~csms.app.Csms`).

::

    services = ApiServices(csms)            # csms started (its store open)
    await services.start()                  # event hub on the bus, webhook workers
    app = create_app(services)
    ...
    await services.stop()
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chargegrid.measurands import DEFAULT_MEASURAND
from csms.api.audit import Auditor
from csms.api.costs import energy_cost
from csms.api.live import LiveView
from csms.api.repository import ApiRepository, open_repository
from csms.api.stream import EventHub
from csms.api.webhooks import WebhookDispatcher
from csms.config import ApiSettings
from csms.events import (
    DepartureMissed,
    SiteChanged,
    StationBooted,
    StationConnected,
)
from csms.store.base import StationRecord

if TYPE_CHECKING:
    import httpx

    from csms.api.system import CentralSystemParts
    from csms.domain import Transaction
    from csms.planning.readmodel import PlanReadModel
    from csms.sites import SiteService, StationSites

__all__ = ["ApiServices"]

logger = logging.getLogger(__name__)


class ApiServices:
    def __init__(
        self,
        csms: CentralSystemParts,
        *,
        settings: ApiSettings | None = None,
        repo: ApiRepository | None = None,
        sites: Any = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        from csms.api.jobs import JobManager

        self.csms = csms
        self.settings = settings or csms.settings.api
        self.store = csms.store
        self.commands = csms.commands
        self.clock = csms.clock
        self.repo: ApiRepository = repo if repo is not None else open_repository(csms.store)
        self.auditor = Auditor(self.repo, now=self.now)
        self.jobs = JobManager(self.repo, self.auditor, now=self.now)
        self.hub = EventHub(
            now=self.now,
            site_of=self.site_of,
            replay_events=(settings or csms.settings.api).stream_replay_events,
        )
        #: the site service (``csms.sites``)
        self.sites: SiteService | None = (
            sites if sites is not None else getattr(csms, "sites", None)
        )
        #: the plans as shown and the last limit sent per (station, EVSE): the planning
        #: wing's read-model
        self.plans: PlanReadModel = csms.planning.plans
        #: the recent missed departures per site (for the dashboard's alerts)
        self.departures_missed: dict[str, deque[DepartureMissed]] = {}
        #: statuses, EVSE power and session costs followed from the bus (the dashboard)
        self.live = LiveView(csms.store, site_of=self.site_of)
        s = self.settings
        self.webhooks = WebhookDispatcher(
            self.repo,
            now=self.now,
            max_attempts=s.webhook_max_attempts,
            initial_backoff_s=s.webhook_initial_backoff_s,
            max_backoff_s=s.webhook_max_backoff_s,
            timeout_s=s.webhook_timeout_s,
            max_queue=s.webhook_queue,
            transport=webhook_transport,
        )
        #: which site each station belongs to (the one map, shared with planning)
        self.station_sites: StationSites = csms.station_sites
        self._refreshes: set[asyncio.Future[None]] = set()
        self._unsubscribe: list[Any] = []
        self.started = False

    def _on_domain_event(self, event: Any) -> None:
        self.live.on_event(event)
        if isinstance(event, DepartureMissed):
            kept = self.departures_missed.setdefault(event.site_id, deque(maxlen=100))
            kept.append(event)
        elif isinstance(event, SiteChanged) and self.started:
            self.background(self.refresh_stations())
        elif (
            isinstance(event, StationConnected | StationBooted)
            and self.started
            and not self.station_sites.known(event.station_id)
        ):
            # Registered since the start (by the CLI or another node): learn its site.
            self.background(self._learn_station(event.station_id))
        if isinstance(event, StationConnected) and self.started and self.hub.subscriptions:
            # Only while a dashboard watches the stream: otherwise two store reads on every
            # connection (a third of its CPU, every station again in a reconnect storm) for
            # figures nobody may ask for; the first request reads them (LiveView).
            self.background(self._read_ahead(event.station_id))
        # Converting costs: only when a stream client or a webhook listens.
        self.hub.publish(event, deliver=bool(self.hub.subscriptions or self.webhooks.has_hooks))

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` beside the requests; cancelled by :meth:`stop`."""
        task = asyncio.ensure_future(coro)
        self._refreshes.add(task)
        task.add_done_callback(self._refreshes.discard)

    async def _read_ahead(self, station_id: str) -> None:
        """A connected station's statuses and power, read once now rather than by the first
        dashboard request after it (see :class:`~csms.api.live.LiveView`)."""
        try:
            await self.live.statuses(station_id)
            await self.live.power(station_id)
        except Exception as exc:
            logger.debug("station %s: dashboard figures not read ahead: %s", station_id, exc)

    async def _learn_station(self, station_id: str) -> None:
        record = await self.store.get_station(station_id)
        if record is not None:
            self.station_sites.register(record)

    def now(self) -> datetime:
        return self.clock.now()

    def site_of(self, station_id: str) -> str | None:
        return self.station_sites.site_of(station_id)

    async def resolve_site(self, station_id: str) -> str | None:
        """:meth:`site_of`, reading the station's registration when the map has no site for
        it (a site applied by another process since the map was made)."""
        site = self.station_sites.site_of(station_id)
        if site is None:
            record = await self.store.get_station(station_id)
            if record is not None:
                site = self.station_sites.register(record)
        return site

    def station_site(self, record: StationRecord) -> str | None:
        """A station's site: its registration's, else the site whose model places it."""
        return self.station_sites.site_of_record(record)

    def remember_station(self, station_id: str, site_id: str | None) -> None:
        self.station_sites.register_site(station_id, site_id)

    def forget_station(self, station_id: str) -> None:
        self.station_sites.forget(station_id)

    async def cost_of(
        self, tx: Transaction, site_id: str | None
    ) -> tuple[float | None, str | None]:
        """The energy cost of ``tx`` under its site's tariff and price signals:
        ``(cost, currency)``, or Nones without a site or energy readings."""
        _, cost, currency = (await self.energy_and_cost([tx], site_id)).get(
            tx.id, (None, None, None)
        )
        return cost, currency

    async def energy_and_cost(
        self, txs: list[Transaction], site_id: str | None
    ) -> dict[int, tuple[float | None, float | None, str | None]]:
        """Per session of ``site_id``: ``(energy_wh, cost, currency)`` from its register
        readings (start, every ``Energy.Active.Import.Register`` sample, stop), so an active
        session counts the energy so far; Nones without a site or readings. The site and its
        constraints are read once for all of ``txs``."""
        from csms.sites import SiteNotFound
        from csms.sites.constraints import price_in_force

        out: dict[int, tuple[float | None, float | None, str | None]] = {}
        txs = [tx for tx in txs if tx.meter_start_wh is not None]
        if self.sites is None or site_id is None or not txs:
            return out
        try:
            site = await self.sites.get_site(site_id)
        except SiteNotFound:
            return out
        constraints = await self.sites.list_constraints(site_id)
        price_at = functools.partial(price_in_force, site, constraints)
        for tx in txs:
            assert tx.meter_start_wh is not None
            points = await self.register_points(tx)
            if len(points) < 2:
                continue
            cost = energy_cost(points, price_at)
            energy = max(p[1] for p in points) - tx.meter_start_wh
            out[tx.id] = (max(0.0, energy), round(cost, 4), site.tariff.currency)
        return out

    async def register_points(self, tx: Transaction) -> list[tuple[datetime, float]]:
        """The session's energy register as stored: ``(time, Wh)`` at its start (meter
        start), at every ``Energy.Active.Import.Register`` sample (no phase) and at its stop;
        empty without a meter start."""
        if tx.meter_start_wh is None:
            return []
        points = [(tx.started_at, tx.meter_start_wh)]
        for stored in await self.store.samples_for_transaction(tx.id):
            sample = stored.sample
            if sample.measurand == DEFAULT_MEASURAND and sample.phase is None:
                points.append((sample.timestamp, sample.value))
        if tx.stopped_at is not None and tx.meter_stop_wh is not None:
            points.append((tx.stopped_at, tx.meter_stop_wh))
        return points

    async def refresh_stations(self) -> None:
        """Station -> site anew: the station's registration, else the site that places it."""
        sites = await self.sites.list_sites() if self.sites is not None else []
        self.station_sites.reset(sites=sites, records=await self.store.list_stations())

    async def start(self) -> None:
        if self.started:
            return
        await self.refresh_stations()
        await self.webhooks.start()
        self._unsubscribe.append(
            self.csms.supervisor.probe("api: webhook delivery", self.webhooks.problem)
        )
        self._unsubscribe.append(self.hub.add_listener(self.webhooks.on_event))
        self._unsubscribe.append(self.csms.bus.subscribe(self._on_domain_event))
        self.started = True

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for task in tuple(self._refreshes):
            task.cancel()
        self.hub.close()
        await self.jobs.stop()
        await self.webhooks.stop()
