"""Boot retries at the returned interval, heartbeats at the accepted interval, and reconnects
with exponential backoff and jitter, timed on the central system's (virtual) clock."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargegrid.clock import VirtualClock
from simulators.connector import ConnectorSpec
from simulators.fleet import build_runner
from simulators.station import StationSpec
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import running, station_runner

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)


def _gaps_s(stamps: list[datetime | None]) -> list[float]:
    assert all(t is not None for t in stamps)
    return [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]  # type: ignore[operator]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_boot_retries_at_the_returned_interval_then_heartbeats_at_the_accepted_one(
    version: str,
) -> None:
    clock = VirtualClock(start=START, speed=120)
    central = FakeCentral(
        password="secret",
        clock=clock,
        boot_statuses=["Pending", "Rejected", "Accepted"],
        retry_interval_s=120,
        boot_interval_s=30,
    )
    url = await central.start()
    runner = station_runner(url, clock, version=version)
    try:
        async with running(runner):
            await central.wait_for(lambda: len(central.of("Heartbeat")) >= 4, 15)
    finally:
        await central.stop()
    boots = [r.at for r in central.received if r.action == "BootNotification"]
    assert len(boots) == 3
    # The station waits the 120 s the central system asked for, not its own backoff.
    assert all(120 <= g < 135 for g in _gaps_s(boots)), _gaps_s(boots)
    beats = [r.at for r in central.received if r.action == "Heartbeat"]
    statuses = [r.at for r in central.received if r.action == "StatusNotification"]
    # Idle, it heartbeats every 30 s (the accepted interval, not its configured 300 s).
    assert all(30 <= g < 38 for g in _gaps_s([statuses[-1], *beats])), _gaps_s(beats)
    assert runner.station.config["HeartbeatInterval"] == "30"
    assert (runner.stats.boots_pending, runner.stats.boots_rejected) == (1, 1)


async def test_reconnects_back_off_exponentially_with_jitter() -> None:
    speed = 10.0
    clock = VirtualClock(start=START, speed=speed)
    central = FakeCentral(clock=clock, refusing=True)
    url = await central.start()
    runner = build_runner(
        StationSpec(station_id="SIM-0001", connectors=(ConnectorSpec(),)),
        url=url,
        clock=clock,
        rng=random.Random(7),
    )
    runner.reconnect_min_s, runner.reconnect_max_s = 1.0, 8.0
    try:
        async with running(runner):
            await central.wait_for(lambda: len(central.handshakes) >= 7, 15)
    finally:
        await central.stop()
    # The same draws the station makes: 1, 2, 4, 8, 8, 8 s (doubling, capped at 8 s), each
    # scaled by a random factor in [0.5, 1] -- never faster than every 50 ms of real time.
    draws = random.Random(7)
    expected = [max(min(8.0, 2.0**k) * draws.uniform(0.5, 1.0), 0.05 * speed) for k in range(6)]
    gaps = _gaps_s(list(central.handshakes[:7]))
    for gap, want in zip(gaps, expected, strict=True):
        assert want - 0.05 <= gap <= want + 1.0, (gaps, expected)
    assert max(gaps) <= 8.0 + 1.0
    assert runner.stats.connects == 0 and "503" in runner.stats.last_error


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_changed_heartbeat_interval_takes_effect_at_once(version: str) -> None:
    clock = VirtualClock(start=START, speed=120)
    central = FakeCentral(password="secret", clock=clock, boot_interval_s=600)
    url = await central.start()
    runner = station_runner(url, clock, version=version)
    try:
        async with running(runner):
            await central.wait_for(lambda: bool(central.of("StatusNotification")), 10)
            await clock.sleep(5)  # the station is idle, waiting for its next heartbeat
            if version == "1.6":
                answer = await central.call(
                    "SIM-0001", call16.ChangeConfiguration(key="HeartbeatInterval", value="20")
                )
                assert answer.status == "Accepted"
            else:
                answer = await central.call(
                    "SIM-0001",
                    call201.SetVariables(
                        set_variable_data=[
                            {
                                "attribute_value": "20",
                                "component": {"name": "OCPPCommCtrlr"},
                                "variable": {"name": "HeartbeatInterval"},
                            }
                        ]
                    ),
                )
                assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
            await central.wait_for(lambda: len(central.of("Heartbeat")) >= 3, 10)
    finally:
        await central.stop()
    beats = [r.at for r in central.received if r.action == "Heartbeat"]
    (status,) = [r.at for r in central.received if r.action == "StatusNotification"]
    # 20 s after the last message (not the 600 s of the boot), then every 20 s.
    assert all(20 <= g < 27 for g in _gaps_s([status, *beats[:3]])), _gaps_s([status, *beats])
