"""The EV limits that count on a storage unit's discharge must not outlast the unit's own
schedule: the central system stops (its planner and storage controller stop sending) while
the unit discharges for the EVs; by the end of the unit's last schedule (after which it is
Idle) the EV TxProfiles the stations hold must fit the cap without the unit.

Reproduces the failure runs of the site-day benchmark on a small depot; every wait is on a
condition (tests/waiting.py), never on time.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from csms.domain import ChargingLimit
from tests.integration.storage.test_storage_unit import (
    CAP_W,
    INTERVAL_S,
    Seen,
    _cap_drop,
    depot_with_unit,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def _tx_profiles(seen: Seen) -> list[ChargingLimit]:
    return [
        lim for series in seen.ev_limits.values() for _, lim in series if lim.purpose == "TxProfile"
    ]


async def test_ev_limits_fall_within_the_cap_by_the_units_lease_end() -> None:
    async with depot_with_unit() as depot:
        clock, seen, unit, loop = depot.clock, depot.seen, depot.unit, depot.loop
        await _cap_drop(depot.csms, clock)
        await wait_until(lambda: unit.battery.power_w < 0, 60, "the unit discharging")
        await wait_until(
            lambda: seen.ev_total_at(clock.now()) > CAP_W + 1_000.0,
            90,
            "the EVs given more than the cap, the unit discharging for them",
        )
        # While the unit keeps being dispatched its lease is renewed, and with it the EVs'.
        raised_at = clock.now()
        sends = len(_tx_profiles(seen))
        await wait_until(
            lambda: clock.now() > raised_at + timedelta(seconds=6 * INTERVAL_S), 60, "two leases"
        )
        assert unit.received[-1].valid_to > raised_at + timedelta(seconds=3 * INTERVAL_S)
        assert seen.ev_total_at(clock.now()) > CAP_W + 1_000.0
        # bounded: each EV renewed at most once per two control intervals (and a re-plan)
        assert len(_tx_profiles(seen)) - sends <= 2 * (3 + 2)
        await loop.stop()  # the central system stops sending: planner and controller
        last = unit.received[-1]
        assert last.setpoint_w < 0  # the unit's last schedule: a discharge, then Idle
        total_w = seen.ev_total_at(last.valid_to)
        ends = [
            lim.valid_to or (lim.start_at or last.at) + timedelta(seconds=lim.duration_s or 0)
            for series in seen.ev_limits.values()
            for _, lim in series
            if lim.purpose == "TxProfile"
        ]  # the end of the last TxProfile sent
        over_s = (max(ends) - last.valid_to).total_seconds()
        assert total_w <= CAP_W + 1, (
            f"EV limits {total_w:.0f} W at the unit's lease end {last.valid_to} "
            f"(unit Idle from then) against a cap of {CAP_W:.0f} W; "
            f"the EV profiles last {over_s:.0f} s more"
        )
