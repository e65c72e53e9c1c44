"""The planner survives the database going away, and a loop that dies shows in /health
(issue 11, item 6).

PostgreSQL "stops" behind a TCP proxy that the test takes down and brings back (the shared
server is never touched); a site applied meanwhile by another process must still be planned.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import csms.planning.loop as site_loop
from chargegrid.clock import VirtualClock
from csms.app import Csms, serving
from csms.config import DatabaseSettings, ServerSettings, Settings
from csms.events import EventBus
from csms.sites import SiteService, repository_for
from csms.store import SqlStore
from csms.telemetry.settings import TelemetrySettings
from tests.integration.csms.databases import temporary_postgres
from tests.integration.planning.harness import START, depot_site
from tests.integration.store.tcp_proxy import TcpProxy
from tests.waiting import wait_until


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from temporary_postgres()


def _planned_at(csms: Csms, site_id: str) -> datetime | None:
    view = csms.planning.plans.view(site_id)
    return view.at if view is not None else None


@pytest.mark.postgres
async def test_a_site_applied_while_postgres_is_down_is_planned_once_it_is_back(
    postgres_url: str,
) -> None:
    direct = sa.make_url(postgres_url)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432)
    await proxy.up()
    via_proxy = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    clock = VirtualClock(start=START, speed=30.0)
    csms = Csms(
        Settings(
            server=ServerSettings(port=0, gc_freeze_interval_s=None),
            database=DatabaseSettings(url=via_proxy, retry_initial_s=0.05, retry_max_s=0.5),
            telemetry=TelemetrySettings(enabled=False),
        ),
        clock=clock,
    )
    other = SqlStore(postgres_url)  # "chargegrid site apply" beside serve, straight to the server
    await csms.start()
    try:
        await other.open()
        assert csms.planning.loops == {}
        await proxy.down()  # PostgreSQL stops
        before = csms.planning.watch_failures
        await wait_until(
            lambda: csms.planning.watch_failures >= before + 2, 60.0, "two failed site watches"
        )
        # Applied by another process during the outage: no event reaches this server.
        await SiteService(repository_for(other), bus=EventBus(), clock=clock).apply(
            depot_site(stations=2, connectors=1)
        )
        await proxy.up()  # PostgreSQL is back
        await wait_until(lambda: _planned_at(csms, "depot") is not None, 60.0, "a plan")
        assert csms.health().ok, csms.health().as_dict()
        # The watcher survived: it still sees the next change.
        await SiteService(repository_for(other), bus=EventBus(), clock=clock).apply(
            depot_site(stations=3, connectors=1)
        )
        await wait_until(
            lambda: len(csms.planning.loops["depot"].state.stations) == 3,
            60.0,
            "the third station in the planner",
        )
    finally:
        await csms.stop()
        await other.close()
        await proxy.down()


async def test_a_dead_site_loop_shows_in_health_and_is_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = {"on": False}
    real_window_end = site_loop.window_end

    def window_end(*args: Any, **kwargs: Any) -> datetime:
        if broken["on"]:
            raise RuntimeError("injected: the loop's own arithmetic failed")
        return real_window_end(*args, **kwargs)

    monkeypatch.setattr(site_loop, "window_end", window_end)
    settings = Settings(
        server={"host": "127.0.0.1", "port": 0, "gc_freeze_interval_s": None},  # type: ignore[arg-type]
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}"},  # type: ignore[arg-type]
        api={"enabled": True, "host": "127.0.0.1", "port": 0},  # type: ignore[arg-type]
        telemetry={"enabled": False},  # type: ignore[arg-type]
    )
    async with serving(settings, clock=VirtualClock(start=START, speed=30.0)) as running:
        csms, api = running.csms, running.api
        assert api is not None
        csms.supervisor.restart_initial_s = 0.05
        csms.supervisor.restart_max_s = 0.2
        async with httpx.AsyncClient(timeout=10) as http:
            ok = await http.get(f"{api.url}/health")
            assert (ok.status_code, ok.json()["ok"]) == (200, True)

            broken["on"] = True
            await csms.sites.apply(depot_site(stations=2, connectors=1))
            name = "planner: site depot"
            await wait_until(
                lambda: any(t.failures >= 2 for t in csms.health().tasks), 60.0, "two failures"
            )
            for url in (f"{api.url}/health", f"http://127.0.0.1:{csms.port}/health"):
                answer = await http.get(url)
                assert answer.status_code == 503
                body = answer.json()
                assert body["ok"] is False and body["unhealthy"] == [name]
                (row,) = [t for t in body["tasks"] if t["name"] == name]
                assert row["state"] == "failing"
                assert "injected" in row["last_error"]

            broken["on"] = False  # the cause goes away: the restarted loop plans the site
            await wait_until(lambda: _planned_at(csms, "depot") is not None, 60.0, "a plan")
            csms.supervisor.stable_after_s = 0.0  # (instead of a minute of good running)
            ok = await http.get(f"{api.url}/health")
            assert (ok.status_code, ok.json()["ok"]) == (200, True)
