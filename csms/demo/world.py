"""What surrounds the demo's sites: the sun on their PV (reported the way a site's energy
management posts readings), their grid meters, and the grid operator who caps them.

:class:`World` runs on the shared clock beside the central system and the simulated fleets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from chargegrid.clock import Clock
from csms.app import Csms
from csms.demo.day import DemoCap, DemoDay, cap_window, pv_power_w
from csms.domain import PvReading
from csms.events import SiteReadingsReceived
from csms.sites import NewConstraint, Site, SiteError
from simulators import Fleet

__all__ = ["SiteMeter", "World"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SiteMeter:
    """A site's grid meter at one instant: what the chargers draw (``load_w``) less the PV."""

    at: datetime
    load_w: float
    pv_w: float

    @property
    def import_w(self) -> float:
        return max(0.0, self.load_w - self.pv_w)

    @property
    def export_w(self) -> float:
        return max(0.0, self.pv_w - self.load_w)


class World:
    """Every ``reading_interval_s`` of clock time: PV readings on the bus (as
    ``POST /sites/{id}/readings`` publishes them), the grid meter into telemetry's ``site``
    measurement, and each cap created once its notice time has come."""

    def __init__(
        self,
        day: DemoDay,
        *,
        csms: Csms,
        clock: Clock,
        sites: Mapping[str, Site],
        fleets: Mapping[str, Fleet],
        start: datetime,
    ) -> None:
        self.day = day
        self.csms = csms
        self.clock = clock
        self.sites = dict(sites)
        self.fleets = dict(fleets)
        self.meters: dict[str, SiteMeter] = {}
        self._caps: list[tuple[DemoCap, datetime, datetime]] = [
            (cap, *cap_window(day, cap, start)) for cap in day.caps
        ]
        #: the caps set so far: (site, constraint id)
        self.caps_set: list[tuple[str, str]] = []

    async def run(self) -> None:
        while True:
            try:
                await self.tick(self.clock.now())
            except Exception:  # a transient store error must not stop the day: try again
                logger.exception("demo world: a step failed; trying again at the next one")
            await self.clock.sleep(self.day.reading_interval_s)

    async def tick(self, now: datetime) -> None:
        await self._set_due_caps(now)
        for site_id, site in self.sites.items():
            self._read(site_id, site, now)

    async def _set_due_caps(self, now: datetime) -> None:
        still: list[tuple[DemoCap, datetime, datetime]] = []
        for cap, start, end in self._caps:
            if end <= now:  # over before it was due (a day started late): nothing to set
                continue
            if (start - now).total_seconds() > cap.notice_s:
                still.append((cap, start, end))
                continue
            try:
                constraint, warnings = await self.csms.sites.create_constraint(
                    cap.site_id,
                    NewConstraint(
                        node_id=cap.node_id,
                        start=max(start, now),
                        end=end,
                        max_import_w=cap.max_import_w,
                        source=cap.source,
                    ),
                )
            except (SiteError, ValueError) as exc:  # refused for good (no such node ...)
                logger.error("demo: the cap on %s/%s is refused: %s", cap.site_id, cap.node_id, exc)
                continue
            self.caps_set.append((cap.site_id, constraint.id))
            logger.info(
                "demo: %s caps %s/%s at %.0f kW from %s to %s%s",
                cap.source,
                cap.site_id,
                cap.node_id,
                cap.max_import_w / 1000,
                start.isoformat(timespec="minutes"),
                end.isoformat(timespec="minutes"),
                f" ({'; '.join(warnings)})" if warnings else "",
            )
        self._caps = still

    def _read(self, site_id: str, site: Site, now: datetime) -> None:
        pv = tuple(
            PvReading(
                a.id, now, pv_power_w(a.peak_w, now, zone=self.day.zone, seed=self.day.weather_seed)
            )
            for a in site.pv
        )
        fleet = self.fleets.get(site_id)
        load_w = 0.0
        if fleet is not None:
            for runner in fleet.runners:
                load_w += sum(c.power_w for c in runner.station.connectors.values())
        meter = SiteMeter(now, load_w, sum(r.power_w for r in pv))
        self.meters[site_id] = meter
        if pv:
            self.csms.bus.publish(SiteReadingsReceived(site_id, pv, (), now))
        telemetry = self.csms.telemetry
        if telemetry is not None:
            telemetry.recorder.record_site(
                at=now,
                import_w=meter.import_w,
                export_w=meter.export_w,
                load_w=meter.load_w,
                site=site_id,
            )
