"""A site is loaded by one planner loop, whoever notices it first: the SiteChanged event and
the watcher for sites applied by another process race for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import DatabaseSettings, ServerSettings, Settings
from csms.telemetry.settings import TelemetrySettings
from tests.integration.planning.harness import START, depot_site
from tests.waiting import wait_until


def _loops(site_id: str) -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == f"planner:{site_id}" and not t.done()]


async def test_one_planner_loop_per_site_when_changes_race(tmp_path: Path) -> None:
    csms = Csms(
        Settings(
            server=ServerSettings(port=0),
            database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}"),
            telemetry=TelemetrySettings(enabled=False),
        ),
        clock=VirtualClock(start=START, speed=60.0),
    )
    await csms.start()
    try:
        site = depot_site(stations=4, connectors=2)
        await csms.sites.apply(site)  # publishes SiteChanged: one load is under way
        # The watcher (and a second event) see the same change meanwhile.
        await asyncio.gather(*(csms.planning._site_changed(site.id) for _ in range(3)))
        await wait_until(lambda: site.id in csms.planning.loops, 10.0, "the site's planner")
        await wait_until(lambda: not csms.planning._tasks, 10.0, "the spawned load to finish too")
        assert len(_loops(site.id)) == 1
        loop = csms.planning.loops[site.id]
        assert loop._task in _loops(site.id)

        # A new revision is taken by the same loop; removing the site ends it.
        await csms.sites.apply(depot_site(stations=5, connectors=2))
        await asyncio.gather(*(csms.planning._site_changed(site.id) for _ in range(3)))
        await wait_until(lambda: not csms.planning._tasks, 10.0, "the spawned loads to finish")
        assert csms.planning.loops[site.id] is loop
        assert len(loop.state.stations) == 5
        assert len(_loops(site.id)) == 1
    finally:
        await csms.stop()
    assert _loops(site.id) == []
