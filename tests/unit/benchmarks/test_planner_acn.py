"""The ACN benchmark's own parts: the offline bound over sessions that cross midnight."""

from __future__ import annotations

import pytest

from benchmarks.acn_sessions import DAY_PERIODS, Ev
from benchmarks.planner_acn import Scenario, bound_periods, offline_bound


def test_the_offline_bound_plans_past_midnight() -> None:
    # 22:00 to 02:00 the next day, 20 kWh: 4 h at 32 A x 208 V (26.6 kWh) can deliver it
    # all; a bound cut at midnight could give only 13.3 kWh (66.6 %).
    evs = [Ev("late", "CA-303", 22 * 12, (24 + 2) * 12, 20.0)]
    assert bound_periods(evs) == 26 * 12 > DAY_PERIODS
    bound = offline_bound(Scenario("night", cap_kw=150.0), evs)
    assert bound["status"] == "optimal"
    assert bound["energy_pct"] == pytest.approx(100.0, abs=0.01)
