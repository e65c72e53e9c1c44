"""A re-plan of a large site leaves the event loop free: what runs on the loop between two
of its turns stays short (decision 0624).

The measure is the loop thread's CPU time between two turns of a ticker task that yields one
turn at a time (no period), not the wall gap: on a loaded machine the wall gap is mostly the
scheduler's (the other jobs, the solve in its worker thread), while the loop thread's own
CPU time is what the planning wing spends there in one stretch. The cyclic garbage collector
is off while it is measured: a full collection lands in whichever thread allocates at the
wrong moment and is the process's matter, not the planning wing's.

CPU time is not free of the machine either: in a virtual machine, a time slice the host
gives another guest while the thread runs counts as the thread's CPU time (once 0.338 s for
a stretch of about 0.11 s, in the full suite on a loaded 2-core machine). The blocking this
guards against is the same work in every re-plan of the same site; a stolen slice is not.
So up to ``TRIES`` fresh re-plans are measured, and the test passes on the first whose
longest stretch is within the bound (decision 0016).
"""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from chargegrid.clock import WallClock
from csms.domain import ChargingLimit, Transaction
from csms.events import EventBus
from csms.planning import PlanningSettings, SiteLoop, SiteState
from csms.planning.context import PlanningContext
from csms.sites import Site, SiteEvse, SiteNode, SiteStation, StationQuirks
from tests.waiting import next_turn

#: 400 two-EVSE stations, five to a feeder: 801 EVSEs' worth of nodes and sessions.
STATIONS = 400
PER_FEEDER = 5
#: The loop thread's longest stretch of CPU between two ticker turns. Measured on a loaded
#: 2-core machine: 0.34-0.40 s before decision 0624 (the node check walked every EVSE's
#: ancestors once per node), 0.10 s after; again with load average 8 (decision 0016):
#: 0.106-0.120 s, and 0.43-0.45 s with that node check put back.
BOUND_S = 0.25
#: Fresh re-plans measured at most (each about 5 s of wall time on a loaded machine).
TRIES = 3


def _site() -> Site:
    feeders = STATIONS // PER_FEEDER
    return Site(
        id="big",
        nodes=(
            SiteNode(id="grid", max_import_w=STATIONS * 2 * 4000.0),
            *(
                SiteNode(id=f"f{i}", parent="grid", max_import_w=PER_FEEDER * 2 * 7000.0)
                for i in range(feeders)
            ),
        ),
        stations=tuple(
            SiteStation(
                id=f"S{i:04d}",
                node=f"f{i % feeders}",
                model="sim",
                evses=(SiteEvse(id=1, min_current_a=0.0), SiteEvse(id=2, min_current_a=0.0)),
            )
            for i in range(STATIONS)
        ),
        quirks=(StationQuirks(model="sim", unit="W"),),
    )


def _state(now: datetime) -> SiteState:
    state = SiteState(_site())
    for st in state.stations.values():
        st.online = st.seen = st.defaults_sent = True
        st.quirks = StationQuirks(model="sim", unit="W")
    for k, ev in enumerate(state.evses.values(), start=1):
        tx = Transaction(
            id=k,
            station_id=ev.station.id,
            station_tx_id=str(k),
            evse_id=ev.evse.id,
            connector_id=1,
            id_token="T",
            started_at=now - timedelta(minutes=k % 60),
            meter_start_wh=0.0,
        )
        state.take_transaction(tx)
    return state


class _Commands:
    """Every station online; every profile accepted at the loop's next turn."""

    def __init__(self) -> None:
        self.sent = 0

    def is_online(self, station_id: str) -> bool:
        return True

    async def set_charging_profile(self, limit: ChargingLimit) -> None:
        # Not a wait: the fake station answers at the loop's next turn, as a send does.
        await next_turn()
        self.sent += 1

    async def get_configuration(self, *args: Any) -> list[Any]:
        return []

    async def get_variables(self, *args: Any) -> list[Any]:
        return []


def _context(commands: _Commands) -> PlanningContext:
    async def constraints(site_id: str) -> list[Any]:
        return []

    async def groups(state: SiteState) -> dict[str, str | None]:
        return {}

    async def transactions(**kw: Any) -> list[Transaction]:
        return []

    return PlanningContext(
        settings=PlanningSettings(),
        clock=WallClock(),
        commands=commands,  # type: ignore[arg-type]
        bus=EventBus(),
        sites=SimpleNamespace(list_constraints=constraints),  # type: ignore[arg-type]
        store=SimpleNamespace(list_transactions=transactions),
        supervisor=None,  # type: ignore[arg-type]
        spawn=lambda coro, what="": coro.close(),
        token_groups=groups,
    )


async def _longest_stretch() -> float:
    """One re-plan of a fresh site: the loop thread's longest CPU stretch between two turns
    of a ticker, once the re-plan has planned and sent every session its limit."""
    commands = _Commands()
    state = _state(datetime.now(UTC))
    loop = SiteLoop(_context(commands), state)
    stretches: list[float] = []
    turns = 0

    async def ticker() -> None:
        # It yields one turn at a time: between two of its turns the loop ran exactly one
        # pass of whatever else was ready, so no blocking stretch can hide inside a period.
        nonlocal turns
        last = time.thread_time()
        longest = 0.0
        while True:
            await next_turn()
            now = time.thread_time()
            if now - last > longest:
                longest = now - last
                stretches.append(longest)
            turns += 1
            last = now

    ticking = asyncio.create_task(ticker())
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        await loop.replan(["timer"])
    finally:
        if was_enabled:
            gc.enable()
        ticking.cancel()
    # The re-plan did the whole job: every session planned and sent its limit.
    assert loop.plans == 1
    assert sum(ev.sent is not None for ev in state.evses.values()) == 2 * STATIONS
    assert commands.sent >= 2 * STATIONS
    assert turns > 10
    return max(stretches)


async def test_a_large_sites_replan_leaves_the_event_loop_free() -> None:
    longest: list[float] = []
    while len(longest) < TRIES and (not longest or longest[-1] >= BOUND_S):
        longest.append(await _longest_stretch())
    assert min(longest) < BOUND_S, (
        f"the loop thread ran {', '.join(f'{s:.3f}' for s in longest)} s in one stretch "
        f"in {len(longest)} re-plans"
    )
