"""Telemetry wired into the running CSMS: an ``ocpp`` 1.6 station's meter values land in
InfluxDB (a throwaway ``influxd``) or the embedded store, in the schema's measurement/tags."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.config import Settings
from csms.domain import ChargingLimit, ChargingRateUnit, IdToken
from csms.store import MemoryStore
from csms.store.base import StationRecord
from csms.telemetry import Aggregation, TelemetryQuery
from tests.fixtures.influx import ServerProcess
from tests.integration.csms.conftest import PASSWORD, PASSWORD_HASH, START
from tests.integration.csms.stations import connect_station
from tests.integration.telemetry.helpers import influxql, unique_db


def _ts(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _settings(database_url: str, **telemetry: Any) -> Settings:
    return Settings(
        server={"host": "127.0.0.1", "port": 0, "gc_freeze_interval_s": None},  # type: ignore[arg-type]
        database={"url": database_url},  # type: ignore[arg-type]
        telemetry={"batch_interval_s": 0.05, "flush_interval_s": 0.01, **telemetry},  # type: ignore[arg-type]
    )


async def _one_session(csms: Csms) -> int:
    """Boot, a transaction with two rounds of meter values, stop; returns the transaction id."""
    async with connect_station(csms.url, "CP16", password=PASSWORD) as cp:
        boot = await cp.call(
            call.BootNotification(charge_point_vendor="Acme", charge_point_model="AC22")
        )
        assert boot.status == "Accepted"
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=1000, timestamp=_ts(0))
        )
        tx_id: int = start.transaction_id
        for minute, (wh, w, a) in enumerate([(1500, 7400.0, 32.1), (2100, 7300.0, 31.7)], 1):
            await cp.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=tx_id,
                    meter_value=[
                        {
                            "timestamp": _ts(minute),
                            "sampled_value": [
                                {"value": str(wh), "unit": "Wh"},
                                {
                                    "value": str(w / 1000),
                                    "measurand": "Power.Active.Import",
                                    "unit": "kW",
                                },
                                {
                                    "value": str(a),
                                    "measurand": "Current.Import",
                                    "unit": "A",
                                    "phase": "L1",
                                },
                            ],
                        }
                    ],
                )
            )
        await cp.call(call.StopTransaction(transaction_id=tx_id, meter_stop=2500, timestamp=_ts(3)))
    return tx_id


async def _store() -> MemoryStore:
    store = MemoryStore()
    await store.open()
    await store.put_station(StationRecord("CP16", password_hash=PASSWORD_HASH))
    await store.put_id_token(IdToken("TAG1"))
    return store


async def _flush(csms: Csms) -> None:
    assert csms.telemetry is not None
    assert await asyncio.to_thread(csms.telemetry.pipeline.flush, timeout_s=10)


def _current_query() -> TelemetryQuery:
    return TelemetryQuery(
        measurement="meter",
        field="value",
        start=START,
        stop=START + timedelta(hours=1),
        aggregation=Aggregation.MAX,
        window_s=60,
        group_by=("station", "measurand", "phase"),
        where={"measurand": "Current.Import"},
    )


@pytest.mark.influx
async def test_meter_values_land_in_influxdb(
    influxd: ServerProcess, clock: ManualClock, tmp_path: Path
) -> None:
    db = unique_db()
    settings = _settings(
        "memory://", url=influxd.url, database=db, outbox_path=tmp_path / "outbox.sqlite3"
    )
    async with Csms(settings, clock=clock, store=await _store()) as csms:
        assert csms.telemetry is not None and csms.telemetry.backend == "v1"
        tx_id = await _one_session(csms)
        await _flush(csms)
        telemetry = csms.telemetry
        series = await telemetry.aquery(_current_query())
    assert csms.telemetry is None  # closed with the server
    payload = influxql(
        influxd.url, db, "SELECT value, transaction_id FROM meter WHERE station='CP16' GROUP BY *"
    )
    got = {
        (
            s["tags"]["measurand"],
            s["tags"]["unit"],
            s["tags"]["phase"],
            s["tags"]["evse"],
            s["tags"]["connector"],
        ): [row[1:] for row in s["values"]]
        for s in payload["results"][0]["series"]
    }
    assert got == {
        ("Energy.Active.Import.Register", "Wh", "", "1", "1"): [[1500, tx_id], [2100, tx_id]],
        ("Power.Active.Import", "W", "", "1", "1"): [[7400, tx_id], [7300, tx_id]],
        ("Current.Import", "A", "L1", "1", "1"): [[32.1, tx_id], [31.7, tx_id]],
    }
    started = influxql(influxd.url, db, 'SELECT meter_wh FROM "transaction" GROUP BY event')
    by_event = {s["tags"]["event"]: s["values"][0][1] for s in started["results"][0]["series"]}
    assert by_event == {"started": 1000, "ended": 2500}
    assert [(s.tags, [v for _, v in s.points]) for s in series] == [
        ({"station": "CP16", "measurand": "Current.Import", "phase": "L1"}, [32.1, 31.7])
    ]
    assert not telemetry.stats.input_rejected and not telemetry.stats.dropped


async def test_without_influxdb_telemetry_goes_to_the_embedded_store_beside_the_database(
    clock: ManualClock, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    settings = _settings(f"sqlite+aiosqlite:///{data / 'csms.sqlite3'}")
    async with Csms(settings, clock=clock, store=await _store()) as csms:
        assert csms.telemetry is not None and csms.telemetry.backend == "embedded"
        await _one_session(csms)
        await _flush(csms)
        series = await csms.telemetry.aquery(_current_query())
    assert [(s.tags, [v for _, v in s.points]) for s in series] == [
        ({"station": "CP16", "measurand": "Current.Import", "phase": "L1"}, [32.1, 31.7])
    ]
    assert _files(tmp_path) == [
        "data/telemetry-outbox.sqlite3",
        "data/telemetry.sqlite3",
    ]


def _files(root: Path) -> list[str]:
    """Files under ``root`` (SQLite's -wal/-shm companions left out)."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "-" not in p.suffix
    )


async def test_every_station_side_measurement_is_written_by_the_running_csms(
    clock: ManualClock, tmp_path: Path
) -> None:
    """Status and errors, connection events (connected, booted, heartbeat, disconnected),
    transactions, meter samples and limits sent, each as the schema says, from one station."""
    settings = _settings(
        "memory://",
        embedded_path=tmp_path / "telemetry.sqlite3",
        outbox_path=tmp_path / "outbox.sqlite3",
    )
    async with Csms(settings, clock=clock, store=await _store()) as csms:
        telemetry = csms.telemetry
        assert telemetry is not None
        async with connect_station(csms.url, "CP16", password=PASSWORD) as cp:
            await cp.call(
                call.BootNotification(charge_point_vendor="Acme", charge_point_model="AC22")
            )
            await cp.call(call.Heartbeat())
            await cp.call(
                call.StatusNotification(
                    connector_id=1,
                    error_code="GroundFailure",
                    status="Faulted",
                    info="RCD tripped",
                    timestamp=_ts(0.5),
                )
            )
            await csms.commands.set_charging_profile(
                ChargingLimit(
                    station_id="CP16",
                    evse_id=1,
                    unit=ChargingRateUnit.AMPERE,
                    schedule=((0, 16.0, 3), (600, 10.0, 3)),
                    purpose="TxDefaultProfile",
                    start_at=START,
                )
            )
        await _one_session(csms)  # a second connection: transaction and meter values
        await _flush(csms)
        lines = {
            measurement: await telemetry.aquery(
                TelemetryQuery(
                    measurement=measurement,
                    field=field,
                    start=START - timedelta(days=1),
                    stop=clock.now() + timedelta(days=1),
                    aggregation=Aggregation.COUNT,
                    group_by=group_by,
                )
            )
            for measurement, field, group_by in (
                ("status", "status", ("station", "evse", "connector")),
                ("connection", "value", ("event",)),
                ("transaction", "transaction_id", ("event",)),
                ("meter", "value", ("measurand",)),
                ("charging_limit", "limit", ("purpose", "unit", "evse")),
            )
        }
        faulted = await telemetry.aquery(
            TelemetryQuery(
                measurement="status",
                field="error_code",
                start=START,
                stop=START + timedelta(minutes=1),
                aggregation=Aggregation.COUNT,
                group_by=("connector",),
            )
        )
        limits = await telemetry.aquery(
            TelemetryQuery(
                measurement="charging_limit",
                field="limit",
                start=START,
                stop=START + timedelta(hours=1),
                aggregation=Aggregation.MAX,
                window_s=600,
            )
        )

    def counts(measurement: str) -> dict[tuple[str, ...], float]:
        return {tuple(s.tags.values()): s.points[0][1] for s in lines[measurement]}

    assert counts("status") == {("CP16", "1", "1"): 1.0}
    assert [(s.tags, s.points[0][1]) for s in faulted] == [({"connector": "1"}, 1.0)]
    assert counts("connection") == {
        ("booted",): 1.0,
        # two connections at the same (manual) clock time: the same point, written twice
        ("connected",): 1.0,
        ("disconnected",): 1.0,
        ("heartbeat",): 1.0,
    }
    assert counts("transaction") == {("ended",): 1.0, ("started",): 1.0}
    assert counts("meter") == {
        ("Current.Import",): 2.0,
        ("Energy.Active.Import.Register",): 2.0,
        ("Power.Active.Import",): 2.0,
    }
    assert counts("charging_limit") == {("TxDefaultProfile", "A", "1"): 2.0}
    assert [v for _, v in limits[0].points] == [16.0, 10.0]
