from __future__ import annotations

import gc

import pytest
from pydantic import ValidationError

from csms.config import ServerSettings
from csms.gc_pauses import GcFreezer
from tests.waiting import wait_until


def test_freezes_then_hands_everything_back() -> None:
    freezer = GcFreezer(interval_s=1.0, unfreeze_every=3)
    try:
        freezer.step()
        first = gc.get_freeze_count()
        assert first > 0
        junk = [[i] for i in range(1000)]
        freezer.step()
        assert gc.get_freeze_count() >= first + 1000
        del junk
        freezer.step()  # the third period unfreezes
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


async def test_stopping_hands_frozen_objects_back() -> None:
    freezer = GcFreezer(interval_s=0.01, unfreeze_every=1000)
    freezer.start()
    try:
        await wait_until(lambda: gc.get_freeze_count() > 0, 30.0, "a freeze")
    finally:
        await freezer.stop()
    assert gc.get_freeze_count() == 0  # a stopped server leaves no garbage frozen


async def test_the_young_threshold_holds_while_started_only() -> None:
    before = gc.get_threshold()
    freezer = GcFreezer(interval_s=None, young_threshold=12_345)
    freezer.start()
    try:
        assert gc.get_threshold() == (12_345, *before[1:])
        assert gc.get_freeze_count() == 0  # no freezing without an interval
    finally:
        await freezer.stop()
    assert gc.get_threshold() == before


def test_a_young_threshold_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="young_threshold"):
        GcFreezer(young_threshold=0)
    for bad in (0, 99, 1_000_001):
        with pytest.raises(ValidationError, match="gc_young_threshold"):
            ServerSettings(gc_young_threshold=bad)
    assert ServerSettings().gc_young_threshold == 10_000
