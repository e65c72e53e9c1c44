"""The demo assembled: the central system and its API (:func:`csms.app.serving`), the demo's
sites applied, their stations and drivers registered, an admin API token, one simulated fleet
per site (``simulators.Fleet``) and the :class:`~csms.demo.world.World` around them, all on
one clock object.

::

    demo = Demo(settings, day=DEFAULT_DAY, clock=clock)
    await demo.start()
    print(demo.dashboard_url)
    ...                       # demo.progress() while it runs; demo.over once the day is done
    await demo.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd

from chargegrid.clock import Clock
from csms.app import Running, serving
from csms.config import Settings
from csms.core.passwords import hash_password
from csms.demo.day import DemoDay, DemoSite
from csms.demo.exceptions import DemoError, PortInUse
from csms.demo.world import World
from csms.domain import IdToken
from csms.sites import Site, load_site_file
from csms.store.base import StationRecord
from csms.supervisor import cancel_and_wait
from simulators import Fleet, FleetConfig, generate
from simulators.messages import ConnectorStatus

__all__ = ["Demo", "DemoProgress", "SiteStatus", "check_ports", "load_demo_site"]

logger = logging.getLogger(__name__)


def load_demo_site(name: str) -> Site:
    """A site file shipped with the package (``csms/demo/sites/NAME``)."""
    path = Path(str(files("csms.demo") / "sites" / name))
    site, _warnings = load_site_file(path)
    return site


def check_ports(host: str, ports: Sequence[tuple[int, str, str]]) -> None:
    """Raise :class:`PortInUse` for the first ``(port, what, option)`` another process holds
    (port 0 = any free port, never taken). Checked before anything is opened or written."""
    wanted = [p for p, _w, _o in ports if p]
    if len(set(wanted)) != len(wanted):
        raise DemoError(f"the OCPP and API ports must differ (both {wanted[0]})")
    for port, what, option in ports:
        if not port:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUse(host, port, what, option) from None
                raise DemoError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


@dataclass(frozen=True, slots=True)
class SiteStatus:
    site_id: str
    import_w: float
    limit_w: float | None
    #: a grid operator's constraint sets the limit in force
    capped: bool


@dataclass(frozen=True, slots=True)
class DemoProgress:
    at: datetime
    stations: int
    online: int
    charging: int
    sessions_done: int
    sessions_total: int
    #: simulated stations holding a TxProfile the planner sent
    tx_profiles: int
    sites: tuple[SiteStatus, ...]
    #: energy the simulated stations' meters counted
    energy_wh: float = 0.0

    def line(self) -> str:
        sites = " | ".join(
            f"{s.site_id} {s.import_w / 1000:.1f}/"
            + ("-" if s.limit_w is None else f"{s.limit_w / 1000:.0f}")
            + " kW"
            + (" (cap)" if s.capped else "")
            for s in self.sites
        )
        return (
            f"{self.at:%a %H:%M} | stations {self.online}/{self.stations} online | "
            f"sessions {self.charging} charging, {self.sessions_done}/{self.sessions_total} "
            f"done | TxProfiles at {self.tx_profiles} | {sites}"
        )


def _scenario(site: DemoSite, start: datetime, day: DemoDay) -> pd.DataFrame:
    """The site's visits on the day, at the scenario's hours in the sites' local time, each
    driver with an id token of the site's fleet (``VAN00001`` ...)."""
    local = start.astimezone(day.zone)
    # Generate as if local time were UTC, then move every instant to the real UTC instant.
    as_utc = local.replace(tzinfo=None).replace(tzinfo=start.tzinfo)
    offset = local.utcoffset() or timedelta(0)
    frame = generate(
        site.scenario,
        stations=site.stations,
        connectors=site.connectors,
        seed=site.seed,
        start=as_utc,
        prefix=site.prefix,
    )
    frame = frame[frame["arrival"] < pd.Timestamp(as_utc + timedelta(hours=day.hours))].copy()
    for column in ("arrival", "departure"):
        frame[column] = frame[column] - pd.Timedelta(offset)
    frame["id_tag"] = [f"{site.token_prefix}{i:05d}" for i in range(1, len(frame) + 1)]
    frame["ev_id"] = [f"{site.prefix}-EV{i:03d}" for i in range(1, len(frame) + 1)]
    return frame.reset_index(drop=True)


class Demo:
    """The whole system on one clock; see the module docstring."""

    def __init__(self, settings: Settings, *, day: DemoDay, clock: Clock) -> None:
        self.settings = settings
        self.day = day
        self.clock = clock
        self.start_at = clock.now()
        self.end_at = self.start_at + timedelta(hours=day.hours)
        self.token = ""
        self.sites: dict[str, Site] = {}
        self.fleets: dict[str, Fleet] = {}
        self.world: World | None = None
        self._running: Running | None = None
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[Any]] = []
        self._token_id: str | None = None
        self._password = secrets.token_urlsafe(18)

    # -- where it listens -------------------------------------------------------------------
    @property
    def running(self) -> Running:
        if self._running is None:
            raise DemoError("the demo is not running")
        return self._running

    @property
    def ocpp_url(self) -> str:
        return self.running.csms.url

    @property
    def api_url(self) -> str:
        api = self.running.api
        return "" if api is None else api.url

    @property
    def dashboard_url(self) -> str:
        return f"{self.api_url}/dashboard/#token={self.token}"

    @property
    def over(self) -> bool:
        """The simulated day has ended (the fleets have left)."""
        return self.clock.now() >= self.end_at

    # -- start and stop ---------------------------------------------------------------------
    async def start(self) -> None:
        try:
            self._running = await self._stack.enter_async_context(
                serving(self.settings, clock=self.clock)
            )
            await self._prepare()
            self._launch()
        except BaseException:
            await self.stop()
            raise

    async def _prepare(self) -> None:
        csms = self.running.csms
        scenarios: dict[str, pd.DataFrame] = {}
        for spec in self.day.sites:
            site = load_demo_site(spec.file)
            expected = {f"{spec.prefix}-{i:04d}" for i in range(1, spec.stations + 1)}
            if {s.id for s in site.stations} != expected:
                raise DemoError(f"{spec.file}: its stations are not {spec.prefix}-0001...")
            await csms.sites.apply(site)
            hashed = hash_password(self._password)
            for station in site.stations:
                await csms.store.put_station(
                    StationRecord(station.id, password_hash=hashed, site_id=site.id)
                )
            scenario = _scenario(spec, self.start_at, self.day)
            for tag in scenario["id_tag"]:
                await csms.store.put_id_token(IdToken(str(tag), group_id=site.id))
            self.sites[site.id] = site
            scenarios[site.id] = scenario
            self.fleets[site.id] = self._fleet(spec, scenario)
        await self._create_token()
        self.world = World(
            self.day,
            csms=csms,
            clock=self.clock,
            sites=self.sites,
            fleets=self.fleets,
            start=self.start_at,
        )

    def _fleet(self, spec: DemoSite, scenario: pd.DataFrame) -> Fleet:
        config = FleetConfig(
            url=self.ocpp_url.rstrip("/"),
            stations=spec.stations,
            ocpp=self.day.ocpp,
            password=self._password,
            connectors=spec.connectors,
            max_current_a=spec.max_current_a,
            meter_interval_s=self.day.meter_interval_s,
            prefix=spec.prefix,
            seed=spec.seed,
        )
        return Fleet(config, scenario, clock=self.clock)

    async def _create_token(self) -> None:
        if self.running.api is None:
            return
        from csms.api.repository import open_repository
        from csms.api.tokens import TokenService

        tokens = TokenService(open_repository(self.running.csms.store), now=self.clock.now)
        record, self.token = await tokens.create(role="admin", name="chargegrid demo")
        self._token_id = record.token_id

    def _launch(self) -> None:
        assert self.world is not None
        self._tasks.append(asyncio.create_task(self.world.run(), name="demo-world"))
        for site_id, fleet in self.fleets.items():
            self._tasks.append(
                asyncio.create_task(
                    fleet.run(until=self.end_at, progress_every_s=0.5, ramp_s=1.0),
                    name=f"demo-fleet-{site_id}",
                )
            )

    async def stop(self) -> None:
        """Stations first (they disconnect), then the world, the API and the central system
        (telemetry flushed on the way); the demo's API token is revoked."""
        for fleet in self.fleets.values():
            await fleet.stop()
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        if self._token_id is not None and self._running is not None:
            from csms.api.repository import open_repository
            from csms.api.tokens import TokenService

            tokens = TokenService(open_repository(self._running.csms.store), now=self.clock.now)
            with contextlib.suppress(Exception):
                await tokens.revoke(self._token_id)
            self._token_id = None
        await self._stack.aclose()
        self._running = None

    # -- what is going on -------------------------------------------------------------------
    async def progress(self) -> DemoProgress:
        runners = [r for fleet in self.fleets.values() for r in fleet.runners]
        charging = sum(
            c.status is ConnectorStatus.CHARGING
            for r in runners
            for c in r.station.connectors.values()
        )
        held = sum(
            any(i.profile.purpose.value == "TxProfile" for i in r.station.profiles.items)
            for r in runners
        )
        sites = []
        for site_id, site in self.sites.items():
            limits = await self.running.csms.sites.limits_in_force(site_id)
            root = next(n.id for n in site.nodes if n.parent is None)
            limit = limits.get(root)
            meter = self.world.meters.get(site_id) if self.world else None
            sites.append(
                SiteStatus(
                    site_id,
                    meter.import_w if meter else 0.0,
                    None if limit is None else limit.max_import_w,
                    bool(limit and limit.binding),
                )
            )
        return DemoProgress(
            at=self.clock.now().astimezone(self.day.zone),
            stations=len(runners),
            online=sum(r.online for r in runners),
            charging=charging,
            sessions_done=sum(len(r.station.records) for r in runners),
            sessions_total=sum(len(f.scenario) for f in self.fleets.values()),
            tx_profiles=held,
            sites=tuple(sites),
            energy_wh=sum(c.energy_wh for r in runners for c in r.station.connectors.values()),
        )
