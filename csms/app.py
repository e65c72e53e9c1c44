"""The central system assembled: store, event bus, core services and the OCPP server.

::

    async with Csms(settings, clock=clock) as csms:      # port 0 picks a free port
        print(csms.url)                                  # ws://127.0.0.1:PORT/ocpp/
        tx = await csms.commands.remote_start("CP1", id_token="TAG1", evse_id=1)

``store`` may be given (tests share a :class:`~csms.store.MemoryStore`); otherwise it is
opened from ``settings.database.url``.
"""

from __future__ import annotations

import logging
from types import TracebackType

from chargegrid.clock import Clock, WallClock
from csms.config import Settings
from csms.core.commands import Commands
from csms.core.service import CentralSystem
from csms.events import EventBus
from csms.gc_pauses import GcFreezer
from csms.ocpp.server import OcppServer
from csms.planning import PlannerService
from csms.sites import SiteService, repository_for
from csms.store import Store, open_store

__all__ = ["Csms"]

logger = logging.getLogger(__name__)


class Csms:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.clock = clock or WallClock()
        self._own_store = store is None
        self.store: Store = store if store is not None else open_store(self.settings.database.url)
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
        )
        self.server = OcppServer(self.central, s.server, call_timeout_s=s.ocpp.call_timeout_s)
        self.commands = Commands(
            self.server.link, self.central, remote_start_timeout_s=s.ocpp.remote_start_timeout_s
        )
        self.server.commands = self.commands
        self.sites = SiteService(repository_for(self.store), bus=self.bus, clock=self.clock)
        self.planner = PlannerService(
            sites=self.sites,
            store=self.store,
            bus=self.bus,
            commands=self.commands,
            clock=self.clock,
            settings=s.planning,
        )
        interval = s.server.gc_freeze_interval_s
        self._gc = GcFreezer(interval_s=interval) if interval else None
        self._started = False

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        """The base URL stations append their id to."""
        return f"ws://{self.settings.server.host}:{self.port}/ocpp/"

    async def start(self) -> None:
        if self._own_store:
            await self.store.open()
        try:
            await self.central.forget_connections()
            await self.server.start()
        except BaseException:
            if self._own_store:
                await self.store.close()
            raise
        if self.settings.planning.enabled:
            await self.planner.start()
        if self._gc is not None:
            self._gc.start()
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.planner.stop()
        if self._gc is not None:
            await self._gc.stop()
        await self.server.stop()
        await self.central.close()
        if self._own_store:
            await self.store.close()

    async def __aenter__(self) -> Csms:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
