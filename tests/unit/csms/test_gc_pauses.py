from __future__ import annotations

import gc

from csms.gc_pauses import GcFreezer


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
