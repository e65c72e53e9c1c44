"""The v2 write path (influxdb-client, /api/v2/write) against a real VictoriaMetrics."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from csms.events import EventBus
from csms.telemetry import TelemetrySettings, detect_api, open_telemetry
from csms.telemetry.lineprotocol import to_epoch
from tests.fixtures.influx import ServerProcess
from tests.integration.telemetry.helpers import fleet_tick, recent_base

pytestmark = pytest.mark.influx


def _export(url: str, selector: str) -> list[dict[str, object]]:
    httpx.get(url + "/internal/force_flush").raise_for_status()
    response = httpx.post(url + "/api/v1/export", data={"match[]": selector})
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_points_written_through_the_v2_api_read_back(
    victoria_metrics: ServerProcess, tmp_path: Path
) -> None:
    url = victoria_metrics.url
    assert detect_api(url, has_bucket=True) == "v2"  # no version header: the bucket decides
    telemetry = open_telemetry(
        TelemetrySettings(
            url=url,
            api="auto",
            bucket="chargegrid",
            org="ops",
            token="secret",
            outbox_path=tmp_path / "outbox.sqlite3",
            batch_size_points=50,
            batch_interval_s=0.05,
        )
    )
    assert telemetry.backend == "v2"
    bus = EventBus()
    telemetry.recorder.attach(bus)
    telemetry.start()
    base = recent_base()
    for tick in range(10):
        for event in fleet_tick(tick, stations=5, base=base):
            bus.publish(event)
    assert telemetry.pipeline.flush(timeout_s=10)
    assert telemetry.stats.points_written == 150
    telemetry.close()

    series = _export(url, '{__name__="meter_value",measurand="Energy.Active.Import.Register"}')
    by_station = {s["metric"]["station"]: s for s in series}  # type: ignore[index]
    assert sorted(by_station) == [f"CP{s:04d}" for s in range(5)]
    cp2 = by_station["CP0002"]
    assert cp2["metric"] == {  # type: ignore[comparison-overlap]
        "__name__": "meter_value",
        "station": "CP0002",
        "evse": "1",
        "connector": "1",
        "measurand": "Energy.Active.Import.Register",
        "unit": "Wh",
    }
    assert cp2["values"] == [1000.0 * tick + 2 for tick in range(10)]
    assert cp2["timestamps"] == [to_epoch(base, "ms") + 1000 * tick for tick in range(10)]
    soc = _export(url, '{__name__="meter_value",measurand="SoC"}')
    assert sum(len(s["values"]) for s in soc) == 50  # type: ignore[arg-type,misc]
