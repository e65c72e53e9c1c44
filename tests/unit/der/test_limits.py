"""What the DER controls in force leave of a unit's rated discharge (decision 0918)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from csms.der import DerControl, DerControlType, InvalidDerControl, check_setting, discharge_share

T0 = datetime(2026, 6, 26, 15, 0, tzinfo=UTC)
LMD = DerControlType.LIMIT_MAX_DISCHARGE


def _limit(
    pct: float | None, *, priority: int = 1, default: bool = False, cid: str = "c", **timed: Any
) -> DerControl:
    setting: dict[str, Any] = {"priority": priority, **timed}
    if pct is not None:
        setting["pct_max_discharge_power"] = pct
    return check_setting(DerControl(cid, LMD, default, setting))


def test_no_control_leaves_the_whole_rating() -> None:
    assert discharge_share([], T0) == 1.0
    volt_watt = DerControl(
        "vw", DerControlType.VOLT_WATT, False,
        {"priority": 0, "y_unit": "PctMaxW", "curve_data": [{"x": 100.0, "y": 50.0}]},
    )  # fmt: skip
    assert discharge_share([(volt_watt, T0)], T0) == 1.0  # acts only when the grid strays
    assert discharge_share([(_limit(None), T0)], T0) == 1.0  # a trip curve only


def test_a_limit_acts_within_its_window_only() -> None:
    timed = _limit(50.0, start_time="2026-06-26T15:10:00Z", duration=600.0)
    at = [(timed, T0)]
    assert discharge_share(at, T0 + timedelta(minutes=9)) == 1.0
    assert discharge_share(at, T0 + timedelta(minutes=10)) == 0.5
    assert discharge_share(at, T0 + timedelta(minutes=19, seconds=59)) == 0.5
    assert discharge_share(at, T0 + timedelta(minutes=20)) == 1.0
    # no start time: from when it came into force
    since = [(_limit(25.0, duration=60.0), T0)]
    assert discharge_share(since, T0 + timedelta(seconds=59)) == 0.25
    assert discharge_share(since, T0 + timedelta(seconds=60)) == 1.0


def test_a_scheduled_limit_wins_over_the_default_then_the_highest_priority() -> None:
    default = (_limit(20.0, default=True, cid="d"), T0)
    assert discharge_share([default], T0) == 0.2
    scheduled = (_limit(80.0, priority=3, cid="s"), T0)
    assert discharge_share([default, scheduled], T0) == 0.8  # as the unit applies them
    urgent = (_limit(60.0, priority=0, cid="u"), T0)
    assert discharge_share([default, scheduled, urgent], T0) == 0.6
    tie = (_limit(40.0, priority=0, cid="t"), T0)
    assert discharge_share([default, scheduled, urgent, tie], T0) == 0.4  # the strictest


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ({"pct_max_discharge_power": 150.0}, "pct_max_discharge_power"),
        ({"pct_max_discharge_power": -1}, "pct_max_discharge_power"),
        ({"pct_max_discharge_power": True}, "pct_max_discharge_power"),
        ({"start_time": "2026-06-26T15:10:00"}, "start_time"),  # no offset
        ({"start_time": "soon"}, "start_time"),
        ({"duration": -5.0}, "duration"),
        ({"duration": "long"}, "duration"),
    ],
)
def test_a_limit_out_of_range_is_refused(setting: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidDerControl) as caught:
        check_setting(DerControl("c", LMD, False, {"priority": 1, **setting}))
    assert caught.value.field == f"limit_max_discharge.{field}"
