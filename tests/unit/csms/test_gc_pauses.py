from __future__ import annotations

import gc

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
