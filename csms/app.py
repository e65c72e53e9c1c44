"""The central system assembled: store, event bus, core services and the OCPP server.

::

    async with Csms(settings, clock=clock) as csms:      # port 0 picks a free port
        print(csms.url)                                  # ws://127.0.0.1:PORT/ocpp/
        tx = await csms.commands.remote_start("CP1", id_token="TAG1", evse_id=1)

``store`` may be given (tests share a :class:`~csms.store.MemoryStore`); otherwise it is
opened from ``settings.database.url``.

Telemetry (``settings.telemetry``) opens with the server and sees every domain event on
:attr:`Csms.bus`; it is :attr:`Csms.telemetry` while running. Its files default to beside
the SQLite database, and to memory with ``memory://`` (see :func:`csms.config.telemetry_settings`).

:func:`serving` is what ``chargegrid serve`` and ``chargegrid demo`` run: the central system
and, when ``settings.api`` enables it, the HTTP API on the same event loop::

    async with serving(settings, clock=clock) as running:
        running.csms, running.api        # api is None without the HTTP API
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chargegrid.clock import Clock, WallClock
from csms.config import Settings, telemetry_settings
from csms.core.commands import Commands
from csms.core.service import CentralSystem
from csms.events import EventBus
from csms.gc_pauses import GcFreezer
from csms.lifecycle import StartStop
from csms.listeners import bind_listeners, close_all
from csms.ocpp.server import OcppServer
from csms.planning import PlanningService
from csms.security import ConnectionSecurity
from csms.security.alerts import SecurityAlerts
from csms.security.certificates import CertificateService, signer_from
from csms.security.credentials import Credentials
from csms.security.maintenance import Maintenance
from csms.sites import SiteService, StationSites, repository_for
from csms.store import SqlStore, Store, open_store
from csms.supervisor import HealthReport, Supervisor
from csms.telemetry import Telemetry, open_telemetry

if TYPE_CHECKING:
    from csms.api.server import ApiServer

__all__ = ["Csms", "Running", "serving"]

logger = logging.getLogger(__name__)


class Csms(StartStop):
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        bus: EventBus | None = None,
        ocpp_sockets: list[socket.socket] | None = None,
    ) -> None:
        """``ocpp_sockets``: the OCPP port already bound (:func:`serving` binds every port
        first); otherwise :meth:`start` binds it before it touches the store."""
        self.settings = settings or Settings()
        self._ocpp_sockets = ocpp_sockets
        self.clock = clock or WallClock()
        self._own_store = store is None
        self.store: Store = store if store is not None else self._open_store()
        self.bus = bus or EventBus()
        s = self.settings
        self.central = CentralSystem(
            self.store,
            self.bus,
            self.clock,
            unknown_stations=s.server.unknown_stations,
            heartbeat_interval_s=s.ocpp.heartbeat_interval_s,
            pending_interval_s=s.ocpp.pending_interval_s,
            seen_write_interval_s=s.ocpp.seen_write_interval_s,
            retry_initial_s=s.database.retry_initial_s,
            retry_max_s=s.database.retry_max_s,
            boots_per_s=s.ocpp.boots_per_s,
            station_cache_max=s.server.station_cache_max,
            station_feed_wait_max_s=s.server.station_feed_wait_max_s,
        )
        self.server = OcppServer(
            self.central,
            s.server,
            call_timeout_s=s.ocpp.call_timeout_s,
            security=ConnectionSecurity(s.security),
        )
        self.commands = Commands(
            self.server.link, self.central, remote_start_timeout_s=s.ocpp.remote_start_timeout_s
        )
        self.server.commands = self.commands
        self._add_security(s)
        self.sites = SiteService(
            repository_for(self.store), bus=self.bus, clock=self.clock, stations=self.store
        )
        #: Every long-running task, restarted after a failure and reported by ``health()``.
        self.supervisor = Supervisor()
        self.supervisor.probe("store writer", self._writer_problem)
        self.supervisor.probe("telemetry pipeline", self._telemetry_problem)
        #: Which site each station belongs to: one map for the planning service and the API.
        self.station_sites = StationSites()
        self.planning = PlanningService(
            sites=self.sites,
            store=self.store,
            bus=self.bus,
            commands=self.commands,
            clock=self.clock,
            settings=s.planning,
            supervisor=self.supervisor,
            station_sites=self.station_sites,
            der=self.central.der.repo,
        )
        self.server.health = self.health
        interval, young = s.server.gc_freeze_interval_s, s.server.gc_young_threshold
        self._gc = (
            GcFreezer(interval_s=interval, young_threshold=young) if interval or young else None
        )
        self._started = False
        self.telemetry: Telemetry | None = None
        self._detach_telemetry: Callable[[], None] | None = None

    def _add_security(self, s: Settings) -> None:
        """Station certificates, credentials, firmware and logs, security alerts
        (csms.security)."""
        #: station certificates: SignCertificate, renewal, trust stores (csms.security)
        self.certificates = CertificateService(
            s.security,
            central=self.central,
            commands=self.commands,
            signer=signer_from(s.security),
            expiries=self.server.security.expiries,
            security=self.server.security,
            disconnect=self._disconnect,
        )
        self.central.certificate_requests = self.certificates
        self.central.critical_security_events = frozenset(s.security.critical_events)
        self.server.certificates = self.certificates
        #: password rotation and security profile upgrades (csms.security)
        self.credentials = Credentials(
            central=self.central,
            commands=self.commands,
            security=self.server.security,
            bus=self.bus,
            url_of=lambda: self.url,
        )
        self.certificates.credentials = self.credentials
        #: signed firmware updates and log uploads (csms.security)
        self.maintenance = Maintenance(central=self.central, commands=self.commands)
        self.certificates.maintenance = self.maintenance
        #: critical SecurityEventNotifications of the last day, for the overview's alerts
        self.security_alerts = SecurityAlerts(self.bus)

    def _open_store(self) -> Store:
        """The store of ``database.url``; a SQL store with the configured commit window and
        durability level."""
        db = self.settings.database
        if db.url.startswith("memory://"):
            return open_store(db.url)
        return open_store(db.url, commit_window_s=db.commit_window_s, durability=db.durability)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        """The base URL stations append their id to."""
        return f"{self.server.security.scheme}://{self.settings.server.host}:{self.port}/ocpp/"

    @property
    def plain_url(self) -> str | None:
        """``ws://`` on the TLS port, for stations still on profile 1, when
        ``security.plain_on_tls_port`` takes them (None otherwise)."""
        if self.server.security.tls is None or not self.settings.security.plain_on_tls_port:
            return None
        return f"ws://{self.settings.server.host}:{self.port}/ocpp/"

    async def _disconnect(self, station_id: str, reason: str) -> bool:
        """Close the station's open connection (False: it had none)."""
        conn = self.server.connections.get(station_id)
        if conn is None:
            return False
        await conn.close(reason)
        return True

    def health(self) -> HealthReport:
        """Each long-running task's state; ``ok`` is False while one is failing or dead
        (what ``GET /health`` answers on the OCPP port and the API port)."""
        return self.supervisor.report()

    def _writer_problem(self) -> str | None:
        store = self.store
        if self._started and isinstance(store, SqlStore) and store.writer.dead:
            return "the group-commit writer task has ended"
        return None

    def _telemetry_problem(self) -> str | None:
        t = self.telemetry
        dead = t.pipeline.dead_threads() if t is not None and t.backend != "disabled" else []
        return f"threads stopped: {', '.join(dead)}" if dead else None

    async def start(self) -> None:
        # The port first: a second server on the same database and port must fail before it
        # marks the running one's stations disconnected or opens the telemetry outbox.
        sockets = self._ocpp_sockets
        if sockets is None:
            s = self.settings.server
            sockets = bind_listeners(s.host, s.port, what="OCPP")
        self._ocpp_sockets = None
        try:
            if self._own_store:
                await self.store.open()
        except BaseException:
            close_all(sockets)
            raise
        try:
            await self._start_telemetry()
            await self.central.forget_connections()
            await self.server.start(sockets)
            sockets = []
        except BaseException:
            close_all(sockets)
            await self._stop_telemetry()
            if self._own_store:
                await self.store.close()
            raise
        if self.settings.planning.enabled:
            await self.planning.start()
        if self._gc is not None:
            self._gc.start()
        self.certificates.start()
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.planning.stop()
        await self.certificates.stop()
        self.credentials.close()
        if self._gc is not None:
            await self._gc.stop()
        await self.server.stop()
        await self.central.close()
        await self._stop_telemetry()
        if self._own_store:
            await self.store.close()

    async def _start_telemetry(self) -> None:
        settings = telemetry_settings(self.settings)
        # Blocking: may ask the server's /ping for its version and opens SQLite files.
        t = await asyncio.to_thread(
            open_telemetry, settings, clock=self.clock, site_of=self.station_sites.placed
        )
        self._detach_telemetry = t.recorder.attach(self.bus)
        t.start()
        self.telemetry = t

    async def _stop_telemetry(self) -> None:
        t, self.telemetry = self.telemetry, None
        if self._detach_telemetry is not None:
            self._detach_telemetry()
            self._detach_telemetry = None
        if t is not None:
            await t.aclose()


@dataclass(frozen=True, slots=True)
class Running:
    """What :func:`serving` runs: the central system and its HTTP API (None when off)."""

    csms: Csms
    api: ApiServer | None


@contextlib.asynccontextmanager
async def serving(
    settings: Settings,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    api: bool = True,
) -> AsyncIterator[Running]:
    """The central system started, and the HTTP API with it when ``api`` and
    ``settings.api.enabled`` (at ``settings.api.host``/``port``, on the same event loop);
    both stopped on exit, the API first.

    Every port is bound before anything else happens (:mod:`csms.listeners`): when one is
    taken, :class:`~csms.listeners.PortInUse` is raised and the database, the telemetry
    outbox and everything else shared with a running server are left untouched."""
    with_api = api and settings.api.enabled
    ocpp_sockets = bind_listeners(settings.server.host, settings.server.port, what="OCPP")
    try:
        api_sockets = (
            bind_listeners(settings.api.host, settings.api.port, what="the HTTP API")
            if with_api
            else []
        )
    except BaseException:
        close_all(ocpp_sockets)
        raise
    try:
        csms = Csms(settings, clock=clock, store=store, ocpp_sockets=ocpp_sockets)
    except BaseException:
        close_all(ocpp_sockets + api_sockets)
        raise
    try:
        await csms.start()
    except BaseException:
        close_all(api_sockets)
        raise
    try:
        logger.info(
            "chargegrid serving OCPP at %s{station_id} (store %s, unknown stations: %s)",
            csms.url,
            settings.database.url.split("@")[-1],
            settings.server.unknown_stations,
        )
        if not with_api:
            yield Running(csms, None)
            return
        from csms.api import ApiServer, ApiServices

        server = ApiServer(
            ApiServices(csms),
            host=settings.api.host,
            port=settings.api.port,
            sockets=api_sockets,
        )
        try:
            await server.start()
        except BaseException:
            await server.stop()
            raise
        api_sockets = []  # the server's now, closed when it stops
        try:
            yield Running(csms, server)
        finally:
            await server.stop()
    finally:
        close_all(api_sockets)
        await csms.stop()
