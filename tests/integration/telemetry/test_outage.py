"""Nothing acknowledged is lost: InfluxDB goes down mid-run and the CSMS restarts meanwhile."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from csms.events import EventBus
from csms.telemetry import Telemetry, TelemetrySettings, open_telemetry
from tests.fixtures.influx import ServerProcess
from tests.integration.telemetry.helpers import count_points, fleet_tick, influxql, recent_base
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.influx

STATIONS = 50


def _csms_telemetry(url: str, outbox: Path) -> tuple[Telemetry, EventBus]:
    """What a CSMS process does at start: build telemetry from settings, subscribe, start."""
    telemetry = open_telemetry(
        TelemetrySettings(
            url=url,
            database="fleet",
            outbox_path=outbox,
            batch_size_points=500,
            batch_interval_s=0.05,
            retry_initial_s=0.05,
            retry_max_s=0.2,
            close_timeout_s=0.3,
        )
    )
    bus = EventBus()
    telemetry.recorder.attach(bus)
    telemetry.start()
    return telemetry, bus


def _run_fleet(bus: EventBus, ticks: range, base: object) -> None:
    for tick in ticks:
        for event in fleet_tick(tick, stations=STATIONS, base=base):  # type: ignore[arg-type]
            bus.publish(event)
        time.sleep(0.005)  # the fleet's pace between ticks, not a wait


def test_outage_and_restart_lose_nothing_and_duplicate_nothing(
    own_influxd: ServerProcess, tmp_path: Path
) -> None:
    outbox = tmp_path / "telemetry-outbox.sqlite3"
    base = recent_base()
    first, bus = _csms_telemetry(own_influxd.url, outbox)
    assert first.backend == "v1"
    _run_fleet(bus, range(0, 10), base)
    assert first.pipeline.flush(timeout_s=10)
    assert count_points(own_influxd.url, "fleet") == 10 * STATIONS * 3

    own_influxd.stop()
    _run_fleet(bus, range(10, 30), base)  # the fleet keeps sending during the outage
    # the sender did meet the outage
    wait_until_sync(lambda: first.stats.points_retried > 0, 10.0, "a retried point")
    first.close()  # the CSMS restarts while InfluxDB is still down
    assert first.stats.points_written == 10 * STATIONS * 3

    second, bus = _csms_telemetry(own_influxd.url, outbox)
    assert second.backend == "v1"  # not detectable now: configured database -> v1
    assert second.stats.outbox_depth == 20 * STATIONS * 3
    _run_fleet(bus, range(30, 40), base)

    own_influxd.start()
    assert second.pipeline.flush(timeout_s=20)
    second.close()

    total = 40 * STATIONS * 3
    assert count_points(own_influxd.url, "fleet") == total
    per_station = influxql(
        own_influxd.url, "fleet", 'SELECT count("value") FROM "meter" GROUP BY "station"'
    )
    counts = {s["tags"]["station"]: s["values"][0][1] for s in per_station["results"][0]["series"]}
    assert counts == {f"CP{s:04d}": 40 * 3 for s in range(STATIONS)}
    energy = influxql(
        own_influxd.url,
        "fleet",
        'SELECT sum("value") FROM "meter" WHERE measurand=\'Energy.Active.Import.Register\'',
    )
    expected = sum(1000.0 * tick + s for tick in range(40) for s in range(STATIONS))
    assert energy["results"][0]["series"][0]["values"][0][1] == expected
    assert second.stats.points_written == 30 * STATIONS * 3


_CRASHING_CSMS = """
import os, signal, sys, time
from datetime import datetime
sys.path.insert(0, sys.argv[1])
from csms.events import EventBus
from csms.telemetry import TelemetrySettings, open_telemetry
from tests.integration.telemetry.helpers import fleet_tick

telemetry = open_telemetry(TelemetrySettings(
    url=sys.argv[2], api="v1", database="fleet", outbox_path=sys.argv[3],
    retry_initial_s=0.05, retry_max_s=0.1,
))
bus = EventBus()
telemetry.recorder.attach(bus)
telemetry.start()
base = datetime.fromisoformat(sys.argv[4])
for tick in range(20):
    for event in fleet_tick(tick, stations=10, base=base):
        bus.publish(event)
while telemetry.stats.outbox_depth < 600:  # the parent's timeout bounds this wait
    time.sleep(0.01)
os.kill(os.getpid(), signal.SIGKILL)  # no close(), no flush: a crash
"""


def test_points_in_the_outbox_survive_a_crash(own_influxd: ServerProcess, tmp_path: Path) -> None:
    outbox = tmp_path / "telemetry-outbox.sqlite3"
    base = recent_base()
    own_influxd.stop()
    script = tmp_path / "csms.py"
    script.write_text(_CRASHING_CSMS)
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run(
        [sys.executable, str(script), str(root), own_influxd.url, str(outbox), base.isoformat()],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    own_influxd.start()
    telemetry, _ = _csms_telemetry(own_influxd.url, outbox)
    assert telemetry.stats.outbox_depth == 600
    assert telemetry.pipeline.flush(timeout_s=20)
    telemetry.close()
    assert count_points(own_influxd.url, "fleet") == 600
