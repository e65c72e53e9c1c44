"""Boot retries at the returned interval, heartbeats at the accepted interval, and reconnects
with exponential backoff and jitter, timed on the central system's clock. Where the timing is
the point, the clock is a manual one the test moves only while the station waits on it, so
the times are exactly the station's and no scheduling delay of a loaded machine is in them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargegrid.clock import ManualClock
from simulators.connector import ConnectorSpec
from simulators.fleet import build_runner
from simulators.station import StationSpec
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import run_to_next_wakeup, running, station_runner

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)


def _gaps_s(stamps: list[datetime | None]) -> list[float]:
    assert all(t is not None for t in stamps)
    return [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]  # type: ignore[operator]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_boot_retries_at_the_returned_interval_then_heartbeats_at_the_accepted_one(
    version: str,
) -> None:
    clock = ManualClock(START)
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
            while len(central.of("Heartbeat")) < 4:  # idle: its model's and its own wait
                await run_to_next_wakeup(clock, sleepers=2, what="the station")
    finally:
        await central.stop()
    boots = [r.at for r in central.received if r.action == "BootNotification"]
    assert len(boots) == 3
    # The station waits the 120 s the central system asked for, not its own backoff.
    assert _gaps_s(boots) == [120.0, 120.0]
    beats = [r.at for r in central.received if r.action == "Heartbeat"][:4]
    statuses = [r.at for r in central.received if r.action == "StatusNotification"]
    # Idle, it heartbeats every 30 s (the accepted interval, not its configured 300 s).
    assert _gaps_s([statuses[-1], *beats]) == [30.0] * 4
    assert runner.station.config["HeartbeatInterval"] == "30"
    assert (runner.stats.boots_pending, runner.stats.boots_rejected) == (1, 1)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_heartbeats_keep_their_interval_however_long_the_answers_take(version: str) -> None:
    clock = ManualClock(START)
    central = FakeCentral(password="secret", clock=clock, boot_interval_s=30, heartbeat_answer_s=4)
    url = await central.start()
    runner = station_runner(url, clock, version=version)
    try:
        async with running(runner):
            while len(central.of("Heartbeat")) < 4:  # idle: its model and a wait of either side
                await run_to_next_wakeup(clock, sleepers=2, what="the station")
    finally:
        await central.stop()
    beats = [r.at for r in central.received if r.action == "Heartbeat"][:4]
    # Each 30 s after the one before was sent, not 30 s after its answer came, 4 s later.
    assert _gaps_s(beats) == [30.0] * 3


async def test_reconnects_back_off_exponentially_with_jitter() -> None:
    clock = ManualClock(START)
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
            while len(central.handshakes) < 7:  # idle: its model's wait and its backoff
                await run_to_next_wakeup(clock, sleepers=2, what="the station")
    finally:
        await central.stop()
    # The same draws the station makes: 1, 2, 4, 8, 8, 8 s (doubling, capped at 8 s), each
    # scaled by a random factor in [0.5, 1].
    draws = random.Random(7)
    expected = [min(8.0, 2.0**k) * draws.uniform(0.5, 1.0) for k in range(6)]
    gaps = _gaps_s(list(central.handshakes[:7]))
    assert gaps == pytest.approx(expected, abs=1e-5), (gaps, expected)
    assert runner.stats.connects == 0 and "503" in runner.stats.last_error


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_changed_heartbeat_interval_takes_effect_at_once(version: str) -> None:
    clock = ManualClock(START)
    central = FakeCentral(password="secret", clock=clock, boot_interval_s=600)
    url = await central.start()
    runner = station_runner(url, clock, version=version)
    try:
        async with running(runner):
            await central.wait_for(lambda: bool(central.of("StatusNotification")), 10)
            # the station is idle, waiting for its next heartbeat; 5 s pass
            await run_to_next_wakeup(clock, sleepers=2, what="the station", by_s=5)
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
            while len(central.of("Heartbeat")) < 3:
                await run_to_next_wakeup(clock, sleepers=2, what="the station")
    finally:
        await central.stop()
    beats = [r.at for r in central.received if r.action == "Heartbeat"]
    (status,) = [r.at for r in central.received if r.action == "StatusNotification"]
    # 20 s after the last message (not the 600 s of the boot), then every 20 s.
    assert _gaps_s([status, *beats[:3]]) == [20.0] * 3, _gaps_s([status, *beats])


def _calls_running() -> list[asyncio.Task[Any]]:
    """The tasks still running an OCPP call (the ``ocpp`` library's ``ChargePoint.call``)."""
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and getattr(t.get_coro(), "__qualname__", "").endswith("ChargePoint.call")
    ]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_station_stopped_with_a_call_in_flight_ends_it_with_its_connection(
    version: str,
) -> None:
    """Stopped while its call waits for the answer (as at the end of a run on a loaded
    machine), the station ends the call with its connection: nothing of it is left running to
    fail later on the closed connection and be reported as an exception nobody retrieved."""
    clock = ManualClock(START)
    central = FakeCentral(password="secret", clock=clock, boot_interval_s=30,
                          heartbeat_answer_s=3600)  # fmt: skip
    url = await central.start()
    runner = station_runner(url, clock, version=version)
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    left: list[asyncio.Task[Any]] = []
    try:
        station = asyncio.create_task(runner.run())
        while not central.of("Heartbeat"):  # then the heartbeat waits for its answer
            await run_to_next_wakeup(clock, sleepers=2, what="the station")
        assert _calls_running()
        station.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await station
        left = _calls_running()
    finally:
        clock.advance(3600)  # the central system answers now, to a closed connection
        await central.stop()
        if left:  # a call left running fails (closed connection) or times out
            await asyncio.wait(left, timeout=10)
        gc.collect()  # an exception nobody retrieved is reported when its task goes
        loop.set_exception_handler(handler)
    assert left == [] and reported == []
