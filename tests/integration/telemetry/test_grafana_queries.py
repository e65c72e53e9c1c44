"""Every query of the Grafana dashboard against a real InfluxDB 1.x filled by a short
simulated run: the demo's central system, fleets and world on one virtual clock writing
telemetry to ``influxd`` (and a test EMS posting a storage unit's readings through the API;
the demo has no swap station or DER-controlled unit, so their events are published on the
central system's bus as those would publish them).
Each panel's query, expanded as Grafana expands it, answers with data in the columns the
panel expects.

InfluxDB 2.x is not available here; what can be checked is that the 2.x write path (v2 API,
into VictoriaMetrics) carries every numeric series the panels read. VictoriaMetrics does not
answer InfluxQL, so the queries themselves are not run against 2.x (docs/grafana.md).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargegrid.clock import VirtualClock
from csms.config import Settings
from csms.demo import DEFAULT_DAY, Demo, DemoCap, DemoDay, day_start
from csms.der import DerControl, DerControlType
from csms.der.model import DerAlarm
from csms.events import (
    BatterySwapUpdated,
    DerAlarmRaised,
    DerControlSet,
    EventBus,
    SwapFromReadyPack,
    SwapWithoutReadyPack,
)
from csms.sites import StorageAsset
from csms.swaps import BatterySwap, SwapState
from csms.swaps.model import PackReading
from csms.telemetry.grafana import expand, iter_queries
from csms.telemetry.grafana_panels import VARIABLES
from tests.fixtures.influx import ServerProcess, make_victoria_metrics
from tests.integration.telemetry.helpers import influxql, unique_db
from tests.waiting import wait_until

pytestmark = [pytest.mark.influx, pytest.mark.slow]

#: An afternoon: cars charging and leaving under the PV, a cap that comes and goes. The run
#: lasts at least RUN and until the central system has ended a session (the fleets would go
#: on to the day's end).
DAY = DemoDay(
    sites=DEFAULT_DAY.sites,
    caps=(DemoCap("workplace", "grid", time(16, 0), time(16, 45), 20_000.0, notice_s=600.0),),
    start=time(15, 30),
    hours=5.0,
)
START = day_start(DAY, date(2026, 6, 1))
RUN = timedelta(hours=2)
END = START + timedelta(hours=DAY.hours)
SPEED = 600.0


@dataclass
class RunFacts:
    sessions_ended: int
    caps_set: int
    storage_posts: int


async def _ems(api_url: str, token: str, clock: VirtualClock, stop: asyncio.Event) -> int:
    """The site's energy management: the battery's state every simulated minute, through
    ``POST /sites/workplace/readings`` as a real EMS posts it."""
    posts = 0
    soc = 40.0
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        while not stop.is_set():
            power_w = 10_000.0 if posts % 20 < 10 else -8_000.0
            soc = min(95.0, max(10.0, soc + power_w / 100_000.0 * 100 / 60))
            response = await client.post(
                "/api/v1/sites/workplace/readings",
                headers={"Authorization": f"Bearer {token}"},
                json={"storage": [{"storage_id": "bess", "soc_pct": soc, "power_w": power_w}]},
            )
            assert response.status_code == 202, response.text
            posts += 1
            await clock.sleep(60)
    return posts


def _swaps_and_der(bus: EventBus, at: datetime) -> None:
    """A workplace swap station's completed swap from a ready pack and one that found none
    at its rack; a storage unit's DER control set and an alarm it raised."""
    swap = BatterySwap(
        1, "SWAP-1", 1, "DRIVER", SwapState.COMPLETED, "Accepted", False,
        at - timedelta(minutes=3), started_at=at - timedelta(minutes=2), ended_at=at,
        packs_in=(PackReading("IN-1", 1, 12.0, 99.0),),
        packs_out=(PackReading("OUT-1", 2, 95.0, 98.0),),
        energy_in_wh=8_400.0, energy_out_wh=66_500.0,
    )  # fmt: skip
    bus.publish(BatterySwapUpdated("SWAP-1", swap, at))
    bus.publish(SwapFromReadyPack("workplace", "rack", "SWAP-1", 95.0, 80.0, at))
    later = at + timedelta(minutes=5)
    bus.publish(SwapWithoutReadyPack("workplace", "rack", "SWAP-1", 70.0, 80.0, later))
    control = DerControl("lmd-1", DerControlType.LIMIT_MAX_DISCHARGE, False, {"priority": 1})
    bus.publish(DerControlSet("BESS-1", control, (), at))
    alarm = DerAlarm("BESS-1", DerControlType.LV_MUST_TRIP, at, grid_event_fault="UnderVoltage")
    bus.publish(DerAlarmRaised("BESS-1", alarm))


async def short_run(settings: Settings) -> RunFacts:
    clock = VirtualClock(start=START, speed=SPEED)
    demo = Demo(settings, day=DAY, clock=clock)
    await demo.start()
    stop = asyncio.Event()
    try:
        csms = demo.running.csms
        site = demo.sites["workplace"]
        battery = StorageAsset(
            id="bess",
            node="grid",
            capacity_wh=100_000.0,
            max_charge_w=30_000.0,
            max_discharge_w=30_000.0,
        )
        await csms.sites.apply(site.model_copy(update={"storage": (battery,)}))
        ems = asyncio.create_task(_ems(demo.api_url, demo.token, clock, stop))

        async def ran_and_a_session_ended() -> bool:
            assert clock.now() < END, "no session ended in the central system"
            assert not ems.done() or ems.exception() is None
            ended = any(not tx.active for tx in await csms.store.list_transactions())
            return clock.now() >= START + RUN and ended

        # bounded by END in virtual time above; the wall-clock bound only backs it up
        await wait_until(ran_and_a_session_ended, 3600.0, "the run", every_s=0.2)
        stop.set()
        posts = await ems
        csms.station_sites.register_site("SWAP-1", "workplace")  # its registration's site
        _swaps_and_der(csms.bus, clock.now())
        telemetry = csms.telemetry
        assert telemetry is not None
        assert await asyncio.to_thread(telemetry.pipeline.flush, timeout_s=30)
        assert not telemetry.stats.dropped and telemetry.stats.points_server_rejected == 0
        done = sum(len(r.station.records) for f in demo.fleets.values() for r in f.runners)
        assert demo.world is not None
        return RunFacts(done, len(demo.world.caps_set), posts)
    finally:
        stop.set()
        await demo.stop()


def _settings(tmp_path: Path, telemetry: dict[str, Any]) -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"},  # type: ignore[arg-type]
        server={"port": 0, "unknown_stations": "reject"},  # type: ignore[arg-type]
        api={"port": 0},  # type: ignore[arg-type]
        telemetry={  # type: ignore[arg-type]
            "outbox_path": tmp_path / "outbox.sqlite3",
            "batch_interval_s": 0.1,
            "flush_interval_s": 0.02,
            **telemetry,
        },
    )


def _values(url: str, db: str, statement: str) -> list[str]:
    payload = influxql(url, db, statement)
    result = payload["results"][0]
    assert "error" not in result, (statement, result)
    return sorted({str(row[1]) for s in result.get("series", []) for row in s["values"]})


async def test_every_panel_query_returns_data_from_a_simulated_run(
    influxd: ServerProcess, tmp_path: Path
) -> None:
    db = unique_db()
    facts = await short_run(_settings(tmp_path, {"url": influxd.url, "database": db}))
    assert facts.sessions_ended >= 1 and facts.caps_set == 1 and facts.storage_posts >= 2

    # The variables, as Grafana runs them: the sites, then the site's stations.
    site_query, station_query = VARIABLES
    assert _values(influxd.url, db, site_query.query) == ["depot", "workplace"]
    assets = _values(
        influxd.url,
        db,
        expand(
            station_query.query,
            start=START,
            stop=END,
            interval_s=60,
            variables={"site": ["workplace"]},
        ),
    )
    pattern = re.compile(station_query.regex[1:-1])  # Grafana's /regex/, a capture group
    stations = sorted({m.group(1) for a in assets if (m := pattern.match(a))})
    assert stations == [f"WORK-{i:04d}" for i in range(1, 9)]

    checked = []
    for title, query in iter_queries():
        statement = expand(
            query.text,
            start=START - timedelta(hours=1),
            stop=END + timedelta(hours=3),  # the plans reach ahead
            interval_s=300,
            variables={"site": ["workplace"], "station": stations},
        )
        payload = influxql(influxd.url, db, statement)
        result = payload["results"][0]
        assert "error" not in result, (title, statement, result)
        series = result.get("series", [])
        assert series, f"{title}: no data for {statement}"
        for s in series:
            assert tuple(s["columns"]) == query.columns, (title, s["columns"])
        filled = [row for s in series for row in s["values"] if any(v is not None for v in row[1:])]
        assert filled, f"{title}: only empty rows for {statement}"
        checked.append(title)
    assert len(checked) == len(list(iter_queries()))


#: Fields the panels read that are strings or booleans: VictoriaMetrics keeps numbers only.
_NOT_NUMBERS = {
    "status", "error_code", "stop_reason", "reason", "active", "constraint_id", "ready_pack",
}  # fmt: skip


def _numeric_series_read() -> set[tuple[str, str]]:
    """(measurement, field) of every aggregate the panels compute."""
    pairs = set()
    for _title, query in iter_queries():
        measurement = re.search(r'FROM "([^"]+)"', query.text)
        assert measurement is not None
        for field in re.findall(r'(?:mean|sum|count|last)\("([^"]+)"\)', query.text):
            if field not in _NOT_NUMBERS:
                pairs.add((measurement.group(1), field))
    return pairs


@pytest.fixture
def own_victoria_metrics(tmp_path: Path) -> Iterator[ServerProcess]:
    """A VictoriaMetrics of this test's own: it has no databases to keep runs apart."""
    root = tmp_path / "vm"
    root.mkdir()
    server = make_victoria_metrics(root)
    server.start()
    yield server
    server.stop()


async def test_the_2x_write_path_carries_every_series_the_panels_read(
    own_victoria_metrics: ServerProcess, tmp_path: Path
) -> None:
    victoria_metrics = own_victoria_metrics
    facts = await short_run(
        _settings(
            tmp_path,
            {
                "url": victoria_metrics.url,
                "api": "v2",
                "bucket": "chargegrid",
                "org": "ops",
                "token": "secret",
            },
        )
    )
    assert facts.sessions_ended >= 1
    url = victoria_metrics.url
    missing = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        (await client.get("/internal/force_flush")).raise_for_status()
        for measurement, field in sorted(_numeric_series_read()):
            selector = f'{{__name__="{measurement}_{field}"}}'
            response = await client.post("/api/v1/export", data={"match[]": selector})
            response.raise_for_status()
            series = [json.loads(line) for line in response.text.splitlines() if line.strip()]
            if not any(s["values"] for s in series):
                missing.append(f"{measurement}.{field}")
    assert missing == []
