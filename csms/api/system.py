"""What the HTTP API uses of the running central system, as a protocol.

:class:`csms.app.Csms` is what ``serve`` passes; the API names only the parts it reads, so it
depends on those parts and not on the app that assembles them (the app imports the API to
serve it: the other way round would be an import cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chargegrid.clock import Clock
    from csms.config import Settings
    from csms.core.commands import Commands
    from csms.core.service import CentralSystem
    from csms.events import EventBus
    from csms.ocpp.server import OcppServer
    from csms.planning import PlanningService
    from csms.security.alerts import SecurityAlerts
    from csms.security.certificates import CertificateService
    from csms.security.credentials import Credentials
    from csms.security.maintenance import Maintenance
    from csms.sites import SiteService, StationSites
    from csms.store import Store
    from csms.supervisor import HealthReport, Supervisor
    from csms.telemetry import Telemetry

__all__ = ["CentralSystemParts"]


class CentralSystemParts(Protocol):
    """The parts of a started central system the API reads (all of :class:`~csms.app.Csms`'s
    that it uses, read-only). A part the API starts to use is added here; mypy checks
    that :class:`~csms.app.Csms` has it."""

    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def store(self) -> Store: ...
    @property
    def bus(self) -> EventBus: ...
    @property
    def central(self) -> CentralSystem: ...
    @property
    def server(self) -> OcppServer: ...
    @property
    def commands(self) -> Commands: ...
    @property
    def certificates(self) -> CertificateService: ...
    @property
    def credentials(self) -> Credentials: ...
    @property
    def maintenance(self) -> Maintenance: ...
    @property
    def security_alerts(self) -> SecurityAlerts: ...
    @property
    def sites(self) -> SiteService: ...
    @property
    def station_sites(self) -> StationSites: ...
    @property
    def planning(self) -> PlanningService: ...
    @property
    def supervisor(self) -> Supervisor: ...
    @property
    def telemetry(self) -> Telemetry | None: ...

    def health(self) -> HealthReport: ...
