"""A swap station's rack through the API: its readings reach the planner, a swap that found no
ready pack is an event, a counter and a field of the plan, and the plan schedules the rack."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest

from chargegrid.clock import ManualClock
from csms.events import DomainEvent, PlanComputed, SiteReadingsReceived, SwapWithoutReadyPack
from tests.integration.api.conftest import SITES, START, Api
from tests.unit.sites.conftest import swap_station
from tests.waiting import wait_until

P = "/api/v1"

SWAP = swap_station(swap_times=(time(6, 30), time(7, 0)))


async def _with_rack(api: Api) -> None:
    await api.csms.sites.apply(SITES[0].model_copy(update={"swap": (SWAP,)}))
    planning = api.csms.planning
    assert planning is not None

    def tried() -> str | None:
        rack = planning.loops["depot"].state.racks.get("rack")
        return None if rack is None else rack.sent_state

    await wait_until(tried, 10.0, "the first re-plan with the rack tried its limit")


async def test_a_swap_without_a_ready_pack_is_reported_and_an_offline_rack_reserved(
    api: Api,
) -> None:
    await _with_rack(api)
    seen: list[DomainEvent] = []
    api.csms.bus.subscribe(seen.append)
    at = START - timedelta(minutes=1)
    body = {
        "swap": [
            {
                "swap_id": "rack",
                "pack_soc_pct": [70, 20],
                "pack_ids": ["P7", "P9"],
                "at": START.isoformat(),
                "swaps": [{"at": at.isoformat(), "pack_out_soc_pct": 64.5}],
            }
        ]
    }
    async with api.client("grid_operator") as c:
        r = await c.post(f"{P}/sites/depot/readings", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["swap"] == 1
    (event,) = [e for e in seen if isinstance(e, SiteReadingsReceived)]
    assert event.swap[0].pack_ids == ("P7", "P9")
    assert [e for e in seen if isinstance(e, SwapWithoutReadyPack)] == [
        SwapWithoutReadyPack("depot", "rack", "SW1", 64.5, 90.0, at)
    ]

    n_seen = len(seen)

    clock = api.clock
    assert isinstance(clock, ManualClock)

    def replanned() -> list[PlanComputed]:
        clock.advance(5)  # past the gap the loop keeps after the failed limit's re-plan
        return [e for e in seen[n_seen:] if isinstance(e, PlanComputed)]

    await wait_until(replanned, 10.0, "a re-plan after the swap")
    # SW1 is not connected: its rack limit failed, so the plan cannot count on the rack and
    # takes its 30 kW rating off the grid connection instead of scheduling it
    racks = api.csms.planning.loops["depot"].state.racks
    assert racks["rack"].sent_state == "failed"
    problem = replanned()[0].problem
    assert problem.swap_racks == ()
    assert {n.node_id: n.max_import_w for n in problem.nodes}["grid"] == 70_000.0
    async with api.client("viewer") as c:
        plan = (await c.get(f"{P}/sites/depot/plan")).json()
    (rack,) = plan["swap_racks"]
    assert (rack["swap_id"], rack["station_id"], rack["ack"]) == ("rack", "SW1", "failed")
    assert (rack["no_ready_pack_count"], rack["swaps_seen"], rack["packs_ready"]) == (1, 1, 0)
    assert rack["last_no_ready_pack_at"] == at.isoformat().replace("+00:00", "Z")
    assert rack["power_w"] == [] and rack["planned_w"] is None


@pytest.mark.parametrize(
    ("reading", "loc"),
    [
        ({"swap_id": "nope", "pack_soc_pct": [50]}, ["body", "swap", 0, "swap_id"]),
        ({"swap_id": "rack", "pack_soc_pct": [101]}, ["body", "swap", 0, "pack_soc_pct", 0]),
        (
            {"swap_id": "rack", "pack_soc_pct": [50], "pack_ids": ["a", "b"]},
            ["body", "swap", 0],
        ),
        (
            {"swap_id": "rack", "pack_soc_pct": [50],
             "swaps": [{"at": START.isoformat(), "pack_out_soc_pct": -1}]},
            ["body", "swap", 0, "swaps", 0, "pack_out_soc_pct"],
        ),
    ],
)  # fmt: skip
async def test_bad_rack_readings_are_422s_naming_the_field(
    api: Api, reading: dict[str, Any], loc: list[Any]
) -> None:
    await _with_rack(api)
    seen: list[DomainEvent] = []
    api.csms.bus.subscribe(seen.append)
    async with api.client("admin") as c:
        r = await c.post(f"{P}/sites/depot/readings", json={"swap": [reading]})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    assert not any(isinstance(e, SiteReadingsReceived) for e in seen)
