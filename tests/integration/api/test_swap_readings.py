"""A swap station's rack through the API: its readings reach the planner, a swap that found no
ready pack is an event, a counter and a field of the plan, and the plan schedules the rack."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest

from csms.events import DomainEvent, PlanComputed, SiteReadingsReceived, SwapWithoutReadyPack
from tests.integration.api.conftest import SITES, START, Api
from tests.unit.sites.conftest import swap_station
from tests.waiting import wait_until

P = "/api/v1"

SWAP = swap_station(swap_times=(time(6, 30), time(7, 0)))


async def _with_rack(api: Api) -> None:
    await api.csms.sites.apply(SITES[0].model_copy(update={"swap": (SWAP,)}))
    assert api.csms.planning is not None
    await wait_until(
        lambda: "rack" in api.csms.planning.loops["depot"].state.racks,
        10.0,
        "the planner took the site with the rack",
    )


async def test_a_swap_without_a_ready_pack_is_reported_and_the_rack_planned(api: Api) -> None:
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

    def rack_planned() -> bool:
        return any(
            isinstance(e, PlanComputed)
            and e.problem.swap_racks
            and e.problem.swap_racks[0].pack_soc_pct == (70.0, 20.0)
            for e in seen
        )

    await wait_until(rack_planned, 10.0, "a plan with the rack as reported after the swap")
    racks = api.csms.planning.loops["depot"].state.racks
    await wait_until(lambda: racks["rack"].sent_state, 10.0, "the rack limit's answer")
    async with api.client("viewer") as c:
        plan = (await c.get(f"{P}/sites/depot/plan")).json()
    (rack,) = plan["swap_racks"]
    assert (rack["swap_id"], rack["station_id"]) == ("rack", "SW1")
    assert (rack["no_ready_pack_count"], rack["swaps_seen"], rack["packs_ready"]) == (1, 1, 0)
    assert len(rack["power_w"]) == len(plan["steps"])
    # 8 kWh for the 70 % pack by 06:30 at 20 kW per pack: the first two steps give it
    assert rack["power_w"][0] + rack["power_w"][1] >= 32_000.0 - 1e-6
    # SW1 is not connected: the rack limit was tried and failed, never taken as sent
    assert rack["ack"] == "failed"


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
