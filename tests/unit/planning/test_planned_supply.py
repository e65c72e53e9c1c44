"""The supply the plan gives the EVs on top of a node's limit (PV, storage discharge, less
the racks' draw) is counted alike by the first sends and by the renewal into the next
window (decision 0914)."""

from __future__ import annotations

from datetime import time, timedelta
from types import SimpleNamespace
from typing import Any

from chargegrid.clock import ManualClock
from csms.domain import ChargingLimit
from csms.planning import PlanningSettings
from csms.planning.sending import ProfileSender
from csms.planning.state import Sent
from csms.planning.swap import with_planned_racks
from csms.planning.windows import supply_at
from csms.sites import NodeKind, Site, SiteNode, SwapStation
from optimizer import TimeGrid
from tests.unit.planning.test_periods import END, T0, _state

STEP_S = 900.0


class Commands:
    def __init__(self) -> None:
        self.sent: list[ChargingLimit] = []

    async def set_charging_profile(self, limit: ChargingLimit) -> None:
        self.sent.append(limit)


def _grid(n: int) -> TimeGrid:
    return TimeGrid.uniform(start=T0, step_s=STEP_S, n_steps=n)


def test_supply_at_is_the_plans_step_and_nothing_outside_it() -> None:
    supply = supply_at({"feeder": (1000.0, 2000.0, 3000.0)}, _grid(3))
    assert supply("feeder", T0) == 1000.0
    assert supply("feeder", T0 + timedelta(seconds=899)) == 1000.0
    assert supply("feeder", T0 + timedelta(seconds=900)) == 2000.0
    assert supply("feeder", T0 + timedelta(seconds=2699)) == 3000.0
    assert supply("feeder", T0 + timedelta(seconds=2700)) == 0.0  # past the plan
    assert supply("feeder", T0 - timedelta(seconds=1)) == 0.0
    assert supply("grid", T0) == 0.0  # no supply under that node


async def _renew(supply: dict[str, tuple[float, ...]] | None) -> list[str]:
    """Two EVs on a 12 kW feeder, each raised to 9 kW (6 kW defaults) for the window ending
    at ``END``: which of them the renewal into the next window carries."""
    state, a, b = _state()
    for ev, tx in ((a, 1), (b, 2)):
        ev.default_w = 6000.0
        ev.sent = Sent(9000.0, "TxProfile", T0, "accepted", END, tx)
    commands = Commands()
    ctx: Any = SimpleNamespace(
        settings=PlanningSettings(),
        commands=commands,
        clock=ManualClock(END - timedelta(minutes=2)),
    )
    sender = ProfileSender(ctx, state, refused=lambda _: None, v2x_refused=lambda *_: None)
    await sender.carry_over(
        (a, b),
        [],
        {},
        valid_from=END,
        valid_to=END + timedelta(minutes=15),
        supply=None if supply is None else supply_at(supply, _grid(4)),
    )
    return sorted(limit.station_id for limit in commands.sent)


async def test_a_renewal_counts_the_supply_the_plan_gave_the_evs() -> None:
    # Without it, 9 + 6 kW does not fit 12 kW: both fall back to 6 kW at the window's end,
    # and the re-plan after it raises them again (the import dips, then jumps).
    assert await _renew(None) == []
    # With 6 kW of planned storage discharge (or PV) under the feeder, 9 + 9 kW fits 18 kW.
    assert await _renew({"feeder": (6000.0,) * 4}) == ["A", "B"]
    # With 3 kW, one raise fits (9 + 6 = 15), the second does not (18 > 15).
    assert len(await _renew({"feeder": (3000.0,) * 4})) == 1


def test_the_racks_planned_draw_comes_off_the_evs_supply() -> None:
    site = Site(
        id="s",
        nodes=(
            SiteNode(id="grid", kind=NodeKind.GRID_CONNECTION, max_import_w=50_000.0),
            SiteNode(id="feeder", parent="grid", max_import_w=30_000.0),
        ),
        swap=(
            SwapStation(
                id="rack",
                station="SW",
                node="feeder",
                rack_size=2,
                pack_capacity_wh=50_000.0,
                max_pack_power_w=10_000.0,
                max_rack_power_w=20_000.0,
                swap_times=(time(12),),
            ),
        ),
    )
    rack = SimpleNamespace(power_w=(15_000.0, 5_000.0))
    plan: Any = SimpleNamespace(grid=_grid(2), swap_racks={"rack": rack})
    out = with_planned_racks({"grid": (4000.0, 4000.0)}, plan, site)
    assert out == {"grid": (-11_000.0, -1_000.0), "feeder": (-15_000.0, -5_000.0)}
    plan.swap_racks = {}
    assert with_planned_racks({"grid": (4000.0, 4000.0)}, plan, site) == {"grid": (4000.0, 4000.0)}
