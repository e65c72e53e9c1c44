"""How a simulated station leaves: a stop is a normal close (1000), not an error (1011)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chargegrid.clock import VirtualClock
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import ev_at, running, station_runner
from tests.waiting import wait_until

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_stopping_station_closes_with_1000(central: FakeCentral, version: str) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version=version, sessions=[(1, ev_at(START, 1, None))])
    async with running(runner):
        await wait_until(lambda: runner.online, 30, "the station online")
        ws = central.connections["SIM-0001"]._connection
    await wait_until(lambda: ws.close_code is not None, 30, "the close")
    assert ws.close_code == 1000


async def test_refused_handshakes_and_unsent_messages_fail_the_run(
    central: FakeCentral, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import timedelta

    from simulators import Fleet, FleetConfig, generate, suggested_start
    from simulators.cli import _exit_code

    url = await central.start()
    start = suggested_start("depot", START)
    clock = VirtualClock(start=start, speed=3600)
    scenario = generate("depot", stations=2, connectors=1, seed=3, start=start)
    config = FleetConfig(url=url, stations=2, connectors=1, ocpp="mixed", password="wrong")
    fleet = Fleet(config, scenario, clock=clock)
    await fleet.run(until=start + timedelta(hours=4), progress_every_s=0.1)
    assert sorted(fleet.never_connected()) == ["SIM-0001", "SIM-0002"]
    assert sum(fleet.unsent().values()) > 0  # the sessions' messages, queued offline
    assert _exit_code(fleet) == 1
    out = capsys.readouterr().out
    assert "stations never connected 2" in out and "failure:" in out and "unsent:" in out

    good = Fleet(
        FleetConfig(url=url, stations=2, connectors=1, ocpp="mixed", password="secret"),
        scenario,
        clock=VirtualClock(start=start, speed=3600),
    )
    await good.run(until=start + timedelta(minutes=30), progress_every_s=0.1)
    assert good.never_connected() == []
