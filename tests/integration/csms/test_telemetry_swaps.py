"""A battery swap over a real OCPP 2.1 WebSocket lands in telemetry (decision 0921): the
swap station's packs go in and come out, and the session's ``swap`` points reach the
embedded store or a real InfluxDB (a throwaway ``influxd``) with their energy, state of
charge and duration; the site's rack counts the swap as served from a ready pack (a
``ready_pack`` point with the site); a DER control set on the same central system lands as
a ``der`` point beside them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.v21 import call

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.config import Settings
from csms.der import DerControl, DerControlType
from csms.domain import IdToken
from csms.events import SwapFromReadyPack
from csms.sites import NodeKind, Site, SiteNode, SwapStation
from csms.store import MemoryStore
from csms.store.base import StationRecord
from csms.swaps import BatteryPack
from csms.telemetry import Aggregation, TelemetryQuery
from tests.fixtures.influx import ServerProcess
from tests.integration.csms.conftest import PASSWORD, PASSWORD_HASH, START
from tests.integration.csms.stations import connect_station
from tests.integration.telemetry.helpers import influxql, unique_db
from tests.waiting import wait_until


def _swap(event: str, serial: str, soc: float) -> Any:
    return call.BatterySwap(
        event_type=event,
        request_id=77,
        id_token={"idToken": "DRIVER", "type": "ISO14443"},
        battery_data=[{"evseId": 1, "serialNumber": serial, "soC": soc, "soH": 99}],
    )


def _site() -> Site:
    """The swap station's site: its rack, ready at 80 %."""
    rack = SwapStation(
        id="rack", station="SWAP1", node="grid", rack_size=2, pack_capacity_wh=70_000.0,
        max_pack_power_w=20_000.0, max_rack_power_w=40_000.0, ready_soc_pct=80.0,
    )  # fmt: skip
    grid = SiteNode(id="grid", kind=NodeKind.GRID_CONNECTION, max_import_w=100_000.0)
    return Site(id="swapsite", nodes=(grid,), swap=(rack,))


async def _swap_day(csms: Csms, clock: ManualClock) -> None:
    """A 2.1 swap station boots; a driver's pack goes in, a charged one comes out 90 s
    later and the site's rack counts it; the storage unit beside it takes a DER control."""
    counted: list[SwapFromReadyPack] = []
    csms.bus.subscribe(lambda e: counted.append(e) if isinstance(e, SwapFromReadyPack) else None)
    await csms.sites.apply(_site())
    for serial in ("IN-1", "OUT-1"):
        await csms.central.swaps.repo.put_pack(BatteryPack(serial, capacity_wh=70_000))
    async with connect_station(csms.url, "SWAP1", version="2.1", password=PASSWORD) as cp:
        boot = await cp.call(
            call.BootNotification(
                charging_station={"model": "Swap", "vendor_name": "Acme"}, reason="PowerUp"
            )
        )
        assert boot.status == "Accepted"
        await wait_until(lambda: csms.commands.is_online("SWAP1"), 10, "SWAP1 online")
        await cp.call(_swap("BatteryIn", "IN-1", 10))
        clock.advance(90)
        await cp.call(_swap("BatteryOut", "OUT-1", 90))
        limit = DerControl("lmd-1", DerControlType.LIMIT_MAX_DISCHARGE, False, {"priority": 1})
        await csms.commands.set_der_control("SWAP1", limit)
        await wait_until(lambda: bool(counted), 10, "the rack to count the swap")
    assert csms.telemetry is not None
    assert await asyncio.to_thread(csms.telemetry.pipeline.flush, timeout_s=10)


def _query(field: str, measurement: str = "swap") -> TelemetryQuery:
    return TelemetryQuery(
        measurement=measurement,
        field=field,
        start=START,
        stop=START + timedelta(hours=1),
        aggregation=Aggregation.MAX,
        group_by=("station", "event"),
    )


@pytest.mark.parametrize(
    "backend", ["embedded", pytest.param("influxdb", marks=pytest.mark.influx)]
)
async def test_a_swap_reaches_the_telemetry_store(
    backend: str, request: pytest.FixtureRequest, clock: ManualClock, tmp_path: Path
) -> None:
    store = MemoryStore()
    await store.open()
    await store.put_station(StationRecord("SWAP1", password_hash=PASSWORD_HASH))
    await store.put_id_token(IdToken("DRIVER"))
    telemetry: dict[str, Any] = {"batch_interval_s": 0.05, "flush_interval_s": 0.01,
                                 "outbox_path": tmp_path / "outbox.sqlite3"}  # fmt: skip
    db = unique_db()
    if backend == "influxdb":
        influxd: ServerProcess = request.getfixturevalue("influxd")
        telemetry |= {"url": influxd.url, "database": db}
    else:
        telemetry |= {"embedded_path": tmp_path / "telemetry.sqlite3"}
    settings = Settings(
        server={"host": "127.0.0.1", "port": 0, "gc_freeze_interval_s": None},  # type: ignore[arg-type]
        database={"url": "memory://"},  # type: ignore[arg-type]
        telemetry=telemetry,  # type: ignore[arg-type]
    )
    async with Csms(settings, clock=clock, store=store) as csms:
        assert csms.telemetry is not None
        assert csms.telemetry.backend == ("v1" if backend == "influxdb" else "embedded")
        await _swap_day(csms, clock)
        got = {
            field: {
                (s.tags["event"], s.points[0][1])
                for s in await csms.telemetry.aquery(_query(field))
            }
            for field in ("energy_in_wh", "energy_out_wh", "soc_in_pct", "soc_out_pct",
                          "duration_s")
        }  # fmt: skip
        der = await csms.telemetry.aquery(_query("value", "der"))
        rack = await csms.telemetry.aquery(_query("ready_soc_pct"))
        stats = csms.telemetry.stats
        assert not stats.input_rejected and not stats.dropped
    assert got == {
        "energy_in_wh": {("in", 7000.0), ("out", 7000.0)},
        "energy_out_wh": {("out", 63_000.0)},
        "soc_in_pct": {("in", 10.0), ("out", 10.0)},
        "soc_out_pct": {("out", 90.0), ("ready_pack", 90.0)},  # the rack's count too
        "duration_s": {("out", 90.0)},
    }
    assert [(s.tags, [v for _, v in s.points]) for s in der] == [
        ({"station": "SWAP1", "event": "set"}, [1.0])
    ]
    assert [(s.tags, [v for _, v in s.points]) for s in rack] == [
        ({"station": "SWAP1", "event": "ready_pack"}, [80.0])
    ]
    if backend == "influxdb":  # the strings too, as the schema names them
        rows = influxql(
            influxd.url, db, "SELECT packs_in, packs_out, auth_status FROM swap WHERE event='out'"
        )
        assert rows["results"][0]["series"][0]["values"][0][1:] == ["IN-1", "OUT-1", "Accepted"]
