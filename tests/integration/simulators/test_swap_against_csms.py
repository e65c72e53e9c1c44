"""A simulated swap station against chargegrid's own central system, in process on one
virtual clock: a driver's swap and one the central system asked for become completed,
billable swap sessions; a swap refused for want of a ready pack is answered with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.core.passwords import hash_password
from csms.domain import IdToken
from csms.exceptions import CommandRejected
from csms.store import MemoryStore
from csms.store.base import StationRecord
from csms.swaps import BatteryPack, SwapFilter, SwapState
from simulators.swap import PackSpec, SwapArrival, SwapStation, SwapStationSpec
from simulators.swap_ocpp import SwapOcppStation
from simulators.swap_runner import SwapRunner
from tests.integration.simulators.helpers import running
from tests.integration.simulators.test_against_csms import _settings
from tests.waiting import wait_until

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
STATION = "SWAP-0001"
CAPACITY = 60_000.0


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    s = MemoryStore()
    await s.open()
    await s.put_station(StationRecord(STATION, password_hash=hash_password("secret", n=2**10)))
    for token in ("TOK1", "APP7", "APP8"):
        await s.put_id_token(IdToken(token))
    yield s
    await s.close()


async def test_swaps_become_billable_sessions_in_the_central_system(store: MemoryStore) -> None:
    clock = VirtualClock(start=START, speed=120)
    spec = SwapStationSpec(
        station_id=STATION,
        slots=2,
        packs=(PackSpec("P1", CAPACITY, 0.95), PackSpec("P2", CAPACITY, 0.95)),
        max_rack_power_w=50_000.0,
        max_pack_power_w=25_000.0,
        swap_time_s=60.0,
    )
    rack = SwapStation(spec, start=clock.now())
    async with Csms(_settings(), clock=clock, store=store) as csms:
        swaps = csms.central.swaps.repo
        for serial in ("P1", "P2", "V1-pack", f"{STATION}-R777"):
            await swaps.put_pack(BatteryPack(serial, capacity_wh=CAPACITY))
        runner = SwapRunner(SwapOcppStation(rack), url=csms.url, clock=clock, password="secret")
        async with running(runner):
            await wait_until(lambda: csms.commands.is_online(STATION), 30, "the swap station")
            arrival = clock.now() + timedelta(minutes=1)
            rack.add_arrivals(
                [SwapArrival("V1", arrival, PackSpec("V1-pack", CAPACITY, 0.1), "TOK1")]
            )
            runner.poke()

            async def completed() -> int:
                done = await swaps.list_swaps(SwapFilter(station_id=STATION))
                return sum(s.state is SwapState.COMPLETED for s in done)

            async def one() -> bool:
                return await completed() >= 1

            async def two() -> bool:
                return await completed() >= 2

            await wait_until(one, 60, "the driver's swap")
            _, request_id = await csms.commands.request_battery_swap(
                STATION, id_token="APP7", request_id=777
            )
            assert request_id == 777
            await wait_until(two, 60, "the requested swap")
            # both packs left with drivers; the two brought in are far from ready
            with pytest.raises(CommandRejected, match="NoReadyPack"):
                await csms.commands.request_battery_swap(STATION, id_token="APP8", request_id=778)
    sessions = sorted(
        await swaps.list_swaps(SwapFilter(station_id=STATION)), key=lambda s: s.request_id
    )
    done = [s for s in sessions if s.state is SwapState.COMPLETED]
    assert [s.id_token for s in done] == ["TOK1", "APP7"]
    assert [s.requested for s in done] == [False, True]
    assert done[0].energy_wh == pytest.approx(CAPACITY * (0.95 - 0.1), rel=1e-3)
    assert done[1].energy_wh == pytest.approx(CAPACITY * (0.95 - 0.2), rel=1e-3)
    assert runner.stats.call_errors == 0
