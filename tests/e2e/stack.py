"""The system the browser tests look at: the central system with its API and dashboard, a
planner, embedded telemetry, two sites and a simulated fleet on a virtual clock, in one
process.

``python -m tests.e2e.stack --state FILE`` starts it, writes ``FILE`` (JSON: the dashboard URL,
the API tokens of every role, the station ids) once everything listens and the stations
have booted, and runs until SIGTERM or SIGINT, then stops cleanly.

The depot site (Europe/Berlin) has a 100 kW grid connection over two feeders, PV and a
battery (their readings are posted to the API every simulated minute, as a site's energy
management would), ``--stations`` stations with two EVSEs each; the workplace site
(Europe/London) has two stations. SIM-0001 charges a short session every 20 simulated
minutes (one to follow to its end); SIM-0002 has no scheduled EV (a remote start's target);
LATE-0001 is registered on the depot but left for a test to connect.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from chargegrid.clock import VirtualClock
from csms.api import ApiServer, ApiServices, Role, TokenService
from csms.app import Csms
from csms.config import Settings
from csms.domain import IdToken
from csms.events import StationBooted
from csms.sites import (
    FleetDefaults,
    NodeKind,
    PvAsset,
    Site,
    SiteEvse,
    SiteNode,
    SiteStation,
    StorageAsset,
    Tariff,
    TouPeriod,
)
from csms.store import MemoryStore
from csms.store.base import StationRecord
from simulators import FleetConfig
from simulators.fleet import Fleet
from simulators.scenario import generate

__all__ = ["START", "build_sites", "main", "run_stack"]

logger = logging.getLogger("tests.e2e.stack")

#: 09:15 in Berlin on a weekday: the workplace cars are arriving
START = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
FOLLOWED = "SIM-0001"
IDLE = "SIM-0002"
APP_TOKEN = "APP-0001"
#: registered on the depot but run by no fleet: a test connects it and watches it appear
LATE = "LATE-0001"


def _station_ids(count: int, prefix: str = "SIM") -> list[str]:
    return [f"{prefix}-{i:04d}" for i in range(1, count + 1)]


def build_sites(depot_stations: list[str], workplace_stations: list[str]) -> list[Site]:
    half = len(depot_stations) // 2
    depot = Site(
        id="depot",
        name="Depot Nord",
        timezone="Europe/Berlin",
        nodes=(
            SiteNode(id="grid", kind=NodeKind.GRID_CONNECTION, max_import_w=100_000.0),
            SiteNode(id="feeder-a", kind=NodeKind.FEEDER, parent="grid", max_import_w=60_000.0),
            SiteNode(id="feeder-b", kind=NodeKind.FEEDER, parent="grid", max_import_w=60_000.0),
        ),
        stations=tuple(
            SiteStation(
                id=sid,
                node="feeder-a" if i < half else "feeder-b",
                evses=(SiteEvse(id=1), SiteEvse(id=2)),
            )
            for i, sid in enumerate(depot_stations)
        ),
        pv=(PvAsset(id="roof", node="feeder-a", peak_w=40_000.0),),
        storage=(
            StorageAsset(
                id="bess",
                node="grid",
                capacity_wh=100_000.0,
                max_charge_w=30_000.0,
                max_discharge_w=30_000.0,
            ),
        ),
        tariff=Tariff(
            currency="EUR",
            periods=(
                TouPeriod(start=time(0), import_price_per_kwh=0.18),
                TouPeriod(start=time(7), import_price_per_kwh=0.31),
                TouPeriod(start=time(11), import_price_per_kwh=0.22),
                TouPeriod(start=time(17), import_price_per_kwh=0.36),
                TouPeriod(start=time(21), import_price_per_kwh=0.18),
            ),
        ),
        fleets=(
            FleetDefaults(id="pool-cars", token_prefix="TAG", group="pool"),
            FleetDefaults(id="app-users", token_prefix="APP"),
        ),
    )
    workplace = Site(
        id="workplace",
        name="Workplace West",
        timezone="Europe/London",
        nodes=(SiteNode(id="grid", kind=NodeKind.GRID_CONNECTION, max_import_w=40_000.0),),
        stations=tuple(
            SiteStation(id=sid, node="grid", evses=(SiteEvse(id=1), SiteEvse(id=2)))
            for sid in workplace_stations
        ),
    )
    return [depot, workplace]


def _scenario(stations: list[str], start: datetime) -> pd.DataFrame:
    """Workplace arrivals on every station but the followed and the idle one; short
    back-to-back sessions on the followed one."""
    drawn = generate("workplace", stations=len(stations), connectors=2, seed=11, start=start)
    drawn = drawn[~drawn["station_id"].isin([FOLLOWED, IDLE])]
    template = drawn.iloc[0].to_dict() if len(drawn) else None
    rows = []
    for k in range(24):
        arrival = start + timedelta(minutes=1 + 20 * k)
        row = dict(template or {})
        row.update(
            ev_id=f"EV-F{k:03d}",
            station_id=FOLLOWED,
            connector_id=1,
            arrival=arrival,
            departure=arrival + timedelta(minutes=12),
            initial_soc=0.3,
            target_soc=0.9,
            id_tag=f"TAGF{k:03d}",
        )
        rows.append(row)
    frame = pd.concat([drawn, pd.DataFrame(rows)], ignore_index=True)
    for col in ("arrival", "departure"):
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[ns, UTC]")
    return frame.sort_values(["arrival", "station_id"], kind="stable").reset_index(drop=True)


async def _readings(api_url: str, token: str, clock: VirtualClock, stop: asyncio.Event) -> None:
    """PV and battery readings of the depot, every simulated minute."""
    soc = 55.0
    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        while not stop.is_set():
            now = clock.now()
            hour = now.hour + now.minute / 60
            pv_w = max(0.0, 40_000.0 * math.sin(math.pi * (hour - 5.5) / 13.0))
            storage_w = 12_000.0 if 10 <= hour < 13 else -8_000.0
            soc = min(95.0, max(10.0, soc + storage_w / 100_000.0 * 100 / 60))
            body = {
                "pv": [{"pv_id": "roof", "power_w": round(pv_w, 1)}],
                "storage": [{"storage_id": "bess", "soc_pct": round(soc, 2), "power_w": storage_w}],
            }
            with contextlib.suppress(httpx.HTTPError):
                await c.post("/api/v1/sites/depot/readings", json=body)
            await clock.sleep(60)


async def run_stack(
    state_file: Path, *, stations: int, speed: float, api_port: int, stop: asyncio.Event
) -> None:
    clock = VirtualClock(start=START, speed=speed)
    depot_ids = _station_ids(stations)
    workplace_ids = _station_ids(2, prefix="WRK")
    store = MemoryStore()
    await store.open()
    for sid in [*depot_ids, LATE]:
        await store.put_station(StationRecord(sid, site_id="depot"))
    for sid in workplace_ids:
        await store.put_station(StationRecord(sid, site_id="workplace"))
    scenario = _scenario(depot_ids, START)
    for tag in [*scenario["id_tag"], APP_TOKEN]:
        await store.put_id_token(
            IdToken(str(tag), group_id="pool" if tag.startswith("TAG") else None)
        )
    settings = Settings(
        server={"host": "127.0.0.1", "port": 0},  # type: ignore[arg-type]
        database={"url": "memory://"},  # type: ignore[arg-type]
        ocpp={"call_timeout_s": 10.0, "heartbeat_interval_s": 300},  # type: ignore[arg-type]
        api={"host": "127.0.0.1", "port": api_port},  # type: ignore[arg-type]
        planning={"replan_interval_s": 300.0, "min_replan_gap_s": 10.0},  # type: ignore[arg-type]
    )
    csms = Csms(settings, clock=clock, store=store)
    await csms.start()
    services = ApiServices(csms)
    server = ApiServer(services, host="127.0.0.1", port=api_port)
    await server.start()
    fleet_tasks: list[asyncio.Task[Any]] = []
    try:
        for site in build_sites([*depot_ids, LATE], workplace_ids):
            await csms.sites.apply(site)
        await services.refresh_stations()
        tokens = TokenService(services.repo, now=clock.now)
        texts: dict[str, str] = {}
        grants = {
            "admin": (Role.ADMIN, ()),
            "fleet_manager": (Role.FLEET_MANAGER, ("depot",)),
            "grid_operator": (Role.GRID_OPERATOR, ("depot",)),
            "viewer": (Role.VIEWER, ("depot",)),
            "fleet_manager_workplace": (Role.FLEET_MANAGER, ("workplace",)),
        }
        for name, (role, sites) in grants.items():
            _, texts[name] = await tokens.create(role=role, name=name, sites=sites)
        # expires after one simulated hour: a minute of wall time at speed 60
        _, texts["expiring"] = await tokens.create(
            role=Role.FLEET_MANAGER,
            name="expiring",
            sites=("depot",),
            expires_at=clock.now() + timedelta(hours=1),
        )
        booted: set[str] = set()
        everyone = set(depot_ids) | set(workplace_ids)
        all_booted = asyncio.Event()

        def on_event(event: object) -> None:
            if isinstance(event, StationBooted):
                booted.add(event.station_id)
                if everyone <= booted:
                    all_booted.set()

        csms.bus.subscribe(on_event)  # type: ignore[arg-type]
        depot_fleet = Fleet(
            FleetConfig(url=csms.url, stations=stations, ocpp="mixed", connectors=2),
            scenario,
            clock=clock,
        )
        workplace_fleet = Fleet(
            FleetConfig(url=csms.url, stations=2, ocpp="2.0.1", connectors=2, prefix="WRK"),
            generate("workplace", stations=2, connectors=2, seed=3, start=START, prefix="WRK"),
            clock=clock,
        )
        until = START + timedelta(days=2)
        for fleet in (depot_fleet, workplace_fleet):
            fleet_tasks.append(asyncio.create_task(fleet.run(until=until)))
        fleet_tasks.append(
            asyncio.create_task(_readings(server.url, texts["grid_operator"], clock, stop))
        )
        await asyncio.wait_for(all_booted.wait(), 60)
        state = {
            "url": server.url,
            "dashboard": f"{server.url}/dashboard/",
            "ocpp_url": csms.url,
            "tokens": texts,
            "stations": depot_ids,
            "workplace_stations": workplace_ids,
            "followed": FOLLOWED,
            "idle": IDLE,
            "late": LATE,
            "app_token": APP_TOKEN,
            "speed": speed,
            "pid": os.getpid(),
        }
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(state_file)
        logger.info("stack ready at %s", state["dashboard"])
        await stop.wait()
    finally:
        for task in fleet_tasks:
            task.cancel()
        for task in fleet_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await server.stop()
        await csms.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=Path(tempfile.gettempdir()) / "stack.json")
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--api-port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        parent = os.getppid()

        async def orphaned() -> None:
            # the test run that started us died without stopping us: stop by ourselves
            while True:
                await asyncio.sleep(1.0)
                if os.getppid() != parent:
                    stop.set()
                    return

        watchdog = asyncio.create_task(orphaned())
        try:
            await run_stack(
                args.state,
                stations=args.stations,
                speed=args.speed,
                api_port=args.api_port,
                stop=stop,
            )
        finally:
            watchdog.cancel()

    asyncio.run(run())


if __name__ == "__main__":
    main()
