"""Issue 6's outage test end to end: a simulated fleet sends meter values to the CSMS; InfluxDB
goes down, the CSMS restarts meanwhile (same outbox, same database), InfluxDB comes back, and
every sample the CSMS stored is in InfluxDB exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import Settings
from csms.domain import IdToken
from csms.events import MeterValuesReceived
from csms.store import SqlStore
from csms.store.base import StationRecord
from simulators.config import ConnectorSpec, StationSpec
from simulators.fleet import build_runner
from simulators.runner import StationRunner
from tests.fixtures.influx import ServerProcess
from tests.integration.csms.conftest import PASSWORD, PASSWORD_HASH
from tests.integration.simulators.helpers import ev_at, running
from tests.integration.telemetry.helpers import count_points, influxql
from tests.waiting import wait_until

pytestmark = [pytest.mark.influx, pytest.mark.slow]

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)
SPEED = 300.0  # one meter value per station every 0.2 s
STATIONS = [("FLEET-1", "1.6"), ("FLEET-2", "1.6"), ("FLEET-3", "2.0.1"), ("FLEET-4", "2.0.1")]
Key = tuple[str, str, str, int]


def _settings(
    tmp_path: Path, influx_url: str, *, port: int, close_timeout_s: float = 0.3
) -> Settings:
    return Settings(
        server={"host": "127.0.0.1", "port": port, "gc_freeze_interval_s": None},  # type: ignore[arg-type]
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'csms.sqlite3'}"},  # type: ignore[arg-type]
        telemetry={  # type: ignore[arg-type]
            "url": influx_url,
            "api": "v1",
            "database": "fleet",
            "outbox_path": tmp_path / "outbox.sqlite3",
            "batch_size_points": 200,
            "batch_interval_s": 0.05,
            "flush_interval_s": 0.01,
            "retry_initial_s": 0.05,
            "retry_max_s": 0.2,
            "close_timeout_s": close_timeout_s,
        },
    )


def _runners(url: str, clock: VirtualClock) -> list[StationRunner]:
    return [
        build_runner(
            StationSpec(
                station_id=sid,
                ocpp_version=version,
                connectors=(ConnectorSpec(max_current_a=32.0),),
            ),
            url=url,
            clock=clock,
            sessions=[(1, ev_at(START, 1, None, ev_id=f"EV-{sid}", id_tag=f"TAG-{sid}"))],
            password=PASSWORD,
            # Answers are not what this test is about: a loaded machine may take seconds.
            response_timeout_s=30.0,
        )
        for sid, version in STATIONS
    ]


class SampleTally:
    """Per station, the sample timestamps a CSMS published (what it stored), to wait on."""

    def __init__(self) -> None:
        self.stamps: dict[str, list[datetime]] = {sid: [] for sid, _ in STATIONS}

    def on_event(self, event: object) -> None:
        if isinstance(event, MeterValuesReceived):
            self.stamps[event.station_id].extend(s.timestamp for s in event.samples)

    def everyone_after(self, at: datetime, count: int) -> bool:
        """Every station has ``count`` samples stamped after ``at``."""
        return all(sum(1 for t in ts if t > at) >= count for ts in self.stamps.values())


async def _stored_samples(db_file: Path) -> dict[Key, float]:
    store = SqlStore(f"sqlite+aiosqlite:///{db_file}")
    await store.open()
    try:
        out: dict[Key, float] = {}
        for tx in await store.list_transactions():
            for s in await store.samples_for_transaction(tx.id):
                at_ms = int(s.sample.timestamp.timestamp() * 1000)
                key = (s.station_id, s.sample.measurand, s.sample.phase or "", at_ms)
                assert key not in out, key
                out[key] = s.sample.value
        return out
    finally:
        await store.close()


def _influx_samples(url: str) -> dict[Key, float]:
    payload = influxql(url, "fleet", "SELECT value FROM meter GROUP BY station, measurand, phase")
    out: dict[Key, float] = {}
    for series in payload["results"][0]["series"]:
        tags = series["tags"]
        for at_ms, value in series["values"]:
            key = (tags["station"], tags["measurand"], tags["phase"], at_ms)
            assert key not in out, key
            out[key] = value
    return out


async def test_influxdb_outage_and_csms_restart_lose_and_duplicate_nothing(
    own_influxd: ServerProcess, tmp_path: Path
) -> None:
    clock = VirtualClock(start=START, speed=SPEED)
    first = Csms(_settings(tmp_path, own_influxd.url, port=0), clock=clock)
    await first.start()
    for sid, _ in STATIONS:
        await first.store.put_station(StationRecord(sid, password_hash=PASSWORD_HASH))
        await first.store.put_id_token(IdToken(f"TAG-{sid}"))
    tally = SampleTally()
    first.bus.subscribe(tally.on_event)
    runners = _runners(first.url, clock)
    second: Csms | None = None
    try:
        async with running(*runners):
            t1 = first.telemetry
            assert t1 is not None and t1.backend == "v1"
            await wait_until(lambda: t1.stats.points_written >= 100, 60, "the first points")

            await asyncio.to_thread(own_influxd.stop)
            influx_down = clock.now()
            await wait_until(lambda: t1.stats.points_retried > 0, 30, "a failed write")
            # The fleet keeps sending during the outage: several rounds from every station.
            await wait_until(
                lambda: tally.everyone_after(influx_down, 16), 60, "samples during the outage"
            )
            written_first = t1.stats.points_written
            port = first.port
            await first.stop()  # the CSMS restarts while InfluxDB is still down
            assert t1.stats.points_written == written_first  # nothing got through meanwhile
            # The stations queue their transaction messages while the CSMS is away.
            await wait_until(
                lambda: all(r.stats.offline_queued > 0 for r in runners), 60, "offline queues"
            )

            # The last meter values may still be in flight when the fleet stops (after the
            # flush below): a graceful stop with InfluxDB up sends them before it returns.
            second = Csms(
                _settings(tmp_path, own_influxd.url, port=port, close_timeout_s=10.0),
                clock=clock,
            )
            second.bus.subscribe(tally.on_event)
            await second.start()
            restarted = clock.now()
            t2 = second.telemetry
            assert t2 is not None
            assert t2.stats.outbox_depth > 0  # what the first process could not send
            await wait_until(lambda: all(r.stats.connects >= 2 for r in runners), 60, "reconnects")
            await wait_until(
                lambda: tally.everyone_after(restarted, 16), 60, "samples after the restart"
            )
            assert t2.stats.points_written == 0  # InfluxDB is still down

            await asyncio.to_thread(own_influxd.start)
            # The replay runs while the fleet is still sending.
            await wait_until(lambda: t2.stats.points_written > 0, 60, "the replay")
        assert await asyncio.to_thread(t2.pipeline.flush, timeout_s=60)
        await second.stop()
        second = None
    finally:
        if second is not None:
            await second.stop()
        await first.stop()

    stored = await _stored_samples(tmp_path / "csms.sqlite3")
    # at least what the waits above saw: 16 samples a station during the outage, 16 after
    assert len(stored) >= 2 * 16 * len(STATIONS)
    assert {k[0] for k in stored} == {sid for sid, _ in STATIONS}
    in_influx = _influx_samples(own_influxd.url)
    assert count_points(own_influxd.url, "fleet") == len(stored)
    assert in_influx.keys() == stored.keys()
    assert all(in_influx[k] == pytest.approx(v) for k, v in stored.items())
    # Samples from before the outage, and from after the restart, are all there.
    stamps = [k[3] for k in stored]
    assert min(stamps) < influx_down.timestamp() * 1000
    assert max(stamps) > restarted.timestamp() * 1000
    outage = [
        t for t in stamps if influx_down.timestamp() * 1000 < t < restarted.timestamp() * 1000
    ]
    assert len(outage) >= 4 * 8  # several rounds from every station while InfluxDB was down
