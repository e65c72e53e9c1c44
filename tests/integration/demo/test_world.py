"""The world around the demo's sites, against a running central system: PV readings on the
bus, the grid meter, and caps created once their notice time comes (a refused one dropped)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time

import pytest

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.config import Settings
from csms.demo import DEFAULT_DAY, DemoCap, World, day_start, load_demo_site
from csms.events import DomainEvent, SiteReadingsReceived

DAY = dataclasses.replace(
    DEFAULT_DAY,
    caps=(
        DemoCap("workplace", "grid", time(10, 0), time(11, 0), 20_000.0, notice_s=1800.0),
        DemoCap("workplace", "no-such-node", time(10, 0), time(11, 0), 1.0, notice_s=1800.0),
        # over before the world gets to it: never set
        DemoCap("workplace", "grid", time(11, 0), time(11, 30), 5_000.0, notice_s=0.0),
    ),
)


def _local(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2026, 6, 1), time(hour, minute), tzinfo=DAY.zone)


async def test_the_world_reports_pv_reads_meters_and_caps(caplog: pytest.LogCaptureFixture) -> None:
    start = day_start(DAY, date(2026, 6, 1))
    clock = ManualClock(start)
    settings = Settings(
        server={"port": 0},  # type: ignore[arg-type]
        database={"url": "memory://"},  # type: ignore[arg-type]
        telemetry={"enabled": False},  # type: ignore[arg-type]
        planning={"enabled": False},  # type: ignore[arg-type]
    )
    async with Csms(settings, clock=clock) as csms:
        site = load_demo_site("workplace.toml")
        await csms.sites.apply(site)
        readings: list[SiteReadingsReceived] = []

        def seen(event: DomainEvent) -> None:
            if isinstance(event, SiteReadingsReceived):
                readings.append(event)

        csms.bus.subscribe(seen)
        world = World(DAY, csms=csms, clock=clock, sites={site.id: site}, fleets={}, start=start)

        await world.tick(_local(6, 0).astimezone(start.tzinfo))
        assert world.caps_set == [] and readings[-1].pv[0].power_w >= 0.0
        await world.tick(_local(9, 31))  # 29 minutes before: announced
        assert len(world.caps_set) == 1
        (cap,) = await csms.sites.list_constraints("workplace")
        assert (cap.start, cap.end, cap.max_import_w) == (_local(10), _local(11), 20_000.0)
        assert "no-such-node" in caplog.text  # refused for good, reported, not retried
        await world.tick(_local(12, 0))
        assert len(world.caps_set) == 1 and len(await csms.sites.list_constraints("workplace")) == 1
        noon = readings[-1]
        assert noon.site_id == "workplace" and noon.pv[0].pv_id == "roof"
        assert noon.pv[0].power_w > 0
        meter = world.meters["workplace"]
        assert (meter.load_w, meter.import_w, meter.export_w) == (0.0, 0.0, noon.pv[0].power_w)
