from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from chargegrid.cli import add_clock_arguments
from chargegrid.clock import ManualClock, VirtualClock, WallClock, clock_from_settings
from tests.waiting import wait_until

START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def test_virtual_clock_runs_at_its_speed() -> None:
    clock = VirtualClock(start=START, speed=3600.0)
    first = clock.now()
    assert first >= START
    assert first - START < timedelta(minutes=10)
    assert first.tzinfo is UTC


def test_two_virtual_clocks_with_the_same_anchor_agree() -> None:
    anchor = datetime.now(UTC) - timedelta(seconds=10)
    a = VirtualClock(start=START, speed=60.0, anchor=anchor)
    b = VirtualClock(start=START, speed=60.0, anchor=anchor)
    # 10 wall seconds at speed 60 is 10 virtual minutes past the start.
    assert abs((a.now() - START).total_seconds() - 600) < 30
    assert abs((a.now() - b.now()).total_seconds()) < 1.0


@pytest.mark.parametrize("speed", [0.0, -1.0, float("inf"), float("nan")])
def test_virtual_clock_rejects_a_speed_that_is_not_positive_and_finite(speed: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        VirtualClock(start=START, speed=speed)


@pytest.mark.parametrize("text", ["0", "-2", "inf", "nan", "1e400", "fast"])
def test_clock_speed_option_refuses_what_is_not_a_positive_finite_number(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_clock_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--clock-speed", text])
    assert "--clock-speed" in capsys.readouterr().err
    assert parser.parse_args(["--clock-speed", "60"]).clock_speed == 60.0


async def test_virtual_sleep_is_scaled() -> None:
    clock = VirtualClock(start=START, speed=1000.0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await clock.sleep(50.0)  # 50 virtual seconds = 0.05 real seconds
    assert 0.04 <= loop.time() - t0 < 1.0


async def test_manual_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = ManualClock(START)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("late", 20)), asyncio.create_task(sleeper("early", 5))]
    await wait_until(lambda: clock.sleepers() == [5, 20], 5, "the sleepers at clock.sleep")
    clock.advance(10)
    await wait_until(lambda: woke, 5, "the woken sleeper")
    assert woke == ["early"] and clock.sleepers() == [20]
    clock.advance(10)
    await asyncio.gather(*tasks)
    assert woke == ["early", "late"]
    assert clock.now() == START + timedelta(seconds=20)


async def test_manual_clock_lists_the_sleepers_still_waiting() -> None:
    clock = ManualClock(START)
    tasks = [asyncio.create_task(clock.sleep(s)) for s in (30, 10, 20)]
    await wait_until(lambda: clock.sleepers() == [10, 20, 30], 5, "the sleepers")
    tasks[2].cancel()  # a cancelled sleep waits no more
    clock.advance(10)
    await wait_until(lambda: clock.sleepers() == [30], 5, "the woken and the cancelled gone")
    clock.advance(20)
    await tasks[0]


def test_default_settings_give_the_wall_clock() -> None:
    assert isinstance(clock_from_settings(), WallClock)
    assert isinstance(clock_from_settings(speed=60.0), VirtualClock)
