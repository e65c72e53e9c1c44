"""Grid-operator constraints through the API: stored, combined to the strictest, warned
about, announced on the event stream, acknowledged, cancelled; bad ones are 422s."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from csms.domain import ChargingLimit, ChargingRateUnit
from csms.events import ChargingLimitSent
from tests.integration.api.conftest import START, Api, start_api
from tests.integration.api.test_events import opened, read_events

P = "/api/v1"


def cap(
    node: str, watts: float, *, start: str = "06:00", end: str = "08:00", **extra: Any
) -> dict[str, Any]:
    return {
        "node_id": node,
        "kind": "cap",
        "start": f"2026-03-02T{start}:00Z",
        "end": f"2026-03-02T{end}:00Z",
        "max_import_w": watts,
        "source": "dso-east",
        **extra,
    }


async def test_caps_combine_to_the_strictest_and_fire_an_event(api: Api) -> None:
    async with (
        api.client("grid_operator") as c,
        c.stream("GET", f"{P}/events", params={"type": "constraint.*"}) as stream,
    ):
        lines = await opened(stream)
        first = await c.post(f"{P}/sites/depot/constraints", json=cap("grid", 80_000, priority=5))
        second = await c.post(f"{P}/sites/depot/constraints", json=cap("grid", 60_000))
        later = await c.post(
            f"{P}/sites/depot/constraints", json=cap("grid", 20_000, start="09:00", end="10:00")
        )
        events = await asyncio.wait_for(read_events(lines, 3), 5)
        limits = {n["node_id"]: n for n in (await c.get(f"{P}/sites/depot/limits")).json()}
        listed = (await c.get(f"{P}/sites/depot/constraints")).json()
    assert (first.status_code, second.status_code, later.status_code) == (201, 201, 201)
    body = second.json()
    assert body["delivery_bound_s"] == 5.0
    assert body["warnings"] == []
    assert body["constraint"]["source"] == "dso-east"
    grid_now = {n["node_id"]: n for n in body["limits"]}["grid"]
    assert grid_now["max_import_w"] == 60_000.0
    assert grid_now["binding"] == [body["constraint"]["id"]]
    assert limits["grid"]["max_import_w"] == 60_000.0
    assert limits["feeder-a"]["max_import_w"] == 50_000.0  # its own limit, no constraint
    assert [e["event"] for e in events] == ["constraint.created"] * 3
    assert [e["data"]["constraint_id"] for e in events] == [
        first.json()["constraint"]["id"],
        body["constraint"]["id"],
        later.json()["constraint"]["id"],
    ]
    assert {e["site_id"] for e in events} == {"depot"}
    assert len(listed) == 3


async def test_a_cap_below_the_evse_minimum_is_accepted_with_a_warning(api: Api) -> None:
    async with api.client("grid_operator") as c:
        r = await c.post(f"{P}/sites/depot/constraints", json=cap("feeder-a", 3_000))
    assert r.status_code == 201
    assert r.json()["warnings"], r.json()
    assert any("feeder-a" in w or "minimum" in w for w in r.json()["warnings"])


async def test_a_phase_current_cap_below_the_evse_minimum_is_accepted_with_a_warning(
    api: Api,
) -> None:
    body = cap("feeder-a", 50_000)
    del body["max_import_w"]
    async with api.client("grid_operator") as c:
        none = await c.post(f"{P}/sites/depot/constraints", json={**body, "max_phase_current_a": 5})
        some = await c.post(
            f"{P}/sites/depot/constraints", json={**body, "max_phase_current_a": 20}
        )
        fine = await c.post(
            f"{P}/sites/depot/constraints", json={**body, "max_phase_current_a": 24}
        )
    assert (none.status_code, some.status_code, fine.status_code) == (201, 201, 201)
    # four 3-phase EVSEs of 6 A minimum under feeder-a: 24 A on each phase
    assert none.json()["warnings"] == [
        "the phase current limit 5 A is below the minimum charging current of every EVSE "
        "under 'feeder-a' (6 A): none of them can charge"
    ]
    assert some.json()["warnings"] == [
        "the phase current limit 20 A is below the sum of the minimum charging currents on L1 "
        "of the EVSEs under 'feeder-a' (24 A): not all of them can charge at once"
    ]
    assert fine.json()["warnings"] == []
    feeder = {n["node_id"]: n for n in none.json()["limits"]}["feeder-a"]
    assert feeder["max_phase_current_a"] == 5.0


async def test_a_tree_limit_below_the_evse_minimum_is_accepted_with_a_warning(api: Api) -> None:
    node = {"id": "feeder-a", "kind": "feeder", "parent": "grid", "max_phase_current_a": 4}
    async with api.client("grid_operator") as c:
        r = await c.put(f"{P}/sites/depot/nodes/feeder-a", json=node)
        limits = {n["node_id"]: n for n in (await c.get(f"{P}/sites/depot/limits")).json()}
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == [
        "nodes[1].max_phase_current_a: the phase current limit 4 A is below the minimum "
        "charging current of every EVSE under 'feeder-a' (6 A): none of them can charge"
    ]
    assert limits["feeder-a"]["max_phase_current_a"] == 4.0


async def test_reduce_by_percent_of_a_node_without_an_import_limit_is_422(api: Api) -> None:
    async with api.client("grid_operator") as c:
        await c.put(
            f"{P}/sites/depot/nodes/panel-x",
            json={"id": "panel-x", "parent": "feeder-a"},
        )
        r = await c.post(
            f"{P}/sites/depot/constraints",
            json={
                "node_id": "panel-x",
                "kind": "reduce",
                "start": "2026-03-02T06:00:00Z",
                "end": "2026-03-02T07:00:00Z",
                "reduce_by_pct": 25,
            },
        )
        listed = (await c.get(f"{P}/sites/depot/constraints")).json()
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "reduce_by_pct"]
    assert "no import limit" in r.json()["detail"][0]["msg"]
    assert listed == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (cap("grid", 50_000, start="08:00", end="07:00"), ["body", "end"]),
        (cap("grid", 50_000, reduce_to_w=1000), ["body", "reduce_to_w"]),
        (cap("grid", -5), ["body", "max_import_w"]),
        (cap("no-such-node", 50_000), ["body", "node_id"]),
        ({**cap("grid", 50_000), "start": "2026-03-02T06:00:00"}, ["body", "start"]),
    ],
)
async def test_bad_constraints_are_422_naming_the_field(
    api: Api, body: dict[str, Any], loc: list[str]
) -> None:
    async with api.client("grid_operator") as c:
        r = await c.post(f"{P}/sites/depot/constraints", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][: len(loc)] == loc


async def test_cap_on_an_unknown_site_is_404(api: Api) -> None:
    async with api.client("admin") as c:
        r = await c.post(f"{P}/sites/nowhere/constraints", json=cap("grid", 1000))
    assert r.status_code == 404
    assert r.json() == {"detail": "no site 'nowhere'"}


async def test_cancel_and_acknowledgements(api: Api) -> None:
    async with api.client("grid_operator") as c:
        created = (await c.post(f"{P}/sites/depot/constraints", json=cap("grid", 30_000))).json()
        cid = created["constraint"]["id"]
        api.clock.advance(1)
        limit = ChargingLimit("CP1", 1, ChargingRateUnit.WATT, ((0, 7_000.0, None),))
        api.csms.bus.publish(ChargingLimitSent(limit, True, api.clock.now()))
        other = ChargingLimit("FAR", 1, ChargingRateUnit.WATT, ((0, 9_000.0, None),))
        api.csms.bus.publish(ChargingLimitSent(other, True, api.clock.now()))
        status = (await c.get(f"{P}/sites/depot/constraints/{cid}")).json()
        cancelled = await c.delete(f"{P}/sites/depot/constraints/{cid}")
        again = await c.delete(f"{P}/sites/depot/constraints/{cid}")
        active = (await c.get(f"{P}/sites/depot/constraints")).json()
        everything = (
            await c.get(f"{P}/sites/depot/constraints", params={"include_cancelled": True})
        ).json()
        wrong_site = await c.get(f"{P}/sites/other/constraints/{cid}")
    assert status["acknowledged"] == [
        {
            "station_id": "CP1",
            "evse_id": 1,
            "accepted": True,
            "at": "2026-03-02T06:00:01Z",
            "unit": "W",
            "limit": 7000.0,
        }
    ]
    assert cancelled.status_code == 200
    assert cancelled.json()["constraint"]["cancelled_at"] == "2026-03-02T06:00:01Z"
    assert again.json()["constraint"]["cancelled_at"] == "2026-03-02T06:00:01Z"
    assert active == []
    assert [c["id"] for c in everything] == [cid]
    assert wrong_site.status_code == 403  # grid_operator is granted depot only


async def test_limit_tree_edit_and_tariff(api: Api) -> None:
    async with api.client("grid_operator") as g, api.client("admin") as a:
        node = await g.put(
            f"{P}/sites/depot/nodes/feeder-b",
            json={"id": "feeder-b", "kind": "feeder", "parent": "grid", "max_import_w": 20000},
        )
        mismatch = await g.put(
            f"{P}/sites/depot/nodes/feeder-c", json={"id": "feeder-x", "parent": "grid"}
        )
        orphan = await g.put(
            f"{P}/sites/depot/nodes/feeder-d", json={"id": "feeder-d", "parent": "nowhere"}
        )
        tariff = await a.put(
            f"{P}/sites/depot/tariff",
            json={
                "currency": "EUR",
                "periods": [
                    {"start": "00:00:00", "import_price_per_kwh": 0.1},
                    {"start": "07:00:00", "import_price_per_kwh": 0.3},
                ],
            },
        )
        got = (await g.get(f"{P}/sites/depot/tariff")).json()
    assert node.status_code == 200
    assert node.json()["changes"] == ["+ node feeder-b"]
    assert mismatch.status_code == 422 and mismatch.json()["detail"][0]["loc"] == ["body", "id"]
    assert orphan.status_code == 422, orphan.text
    assert tariff.status_code == 200
    assert [p["import_price_per_kwh"] for p in got["periods"]] == [0.1, 0.3]


async def test_plan_without_the_planner_shows_dispatched_limits(store: Any, clock: Any) -> None:
    from csms.events import PlanUpdated

    csms, api = await start_api(store, clock, planning={"enabled": False})
    try:
        api.csms.bus.publish(
            PlanUpdated("depot", START, "optimal", (("CP1", 1, 11_000.0), ("CP2", 2, 7_400.0)))
        )
        limit = ChargingLimit("CP1", 1, ChargingRateUnit.WATT, ((0, 11_000.0, None),))
        api.csms.bus.publish(ChargingLimitSent(limit, True, START))
        async with api.client("viewer") as c:
            plan = (await c.get(f"{P}/sites/depot/plan")).json()
    finally:
        await api.server.stop()
        await csms.stop()
    assert plan["status"] == "optimal"
    assert [(e["station_id"], e["evse_id"], e["planned_w"], e["ack"]) for e in plan["evses"]] == [
        ("CP1", 1, 11000.0, "accepted"),
        ("CP2", 2, 7400.0, None),
    ]
    assert {n["node_id"] for n in plan["limits"]} == {"grid", "feeder-a"}


@pytest.mark.parametrize("planning", [{"enabled": False}, {"optimize": False}])
async def test_no_delivery_bound_is_stated_when_no_planner_sends_limits(
    store: Any, clock: Any, planning: dict[str, object]
) -> None:
    csms, api = await start_api(store, clock, planning=planning)
    try:
        async with api.client("grid_operator") as c:
            created = await c.post(f"{P}/sites/depot/constraints", json=cap("grid", 30_000))
            cid = created.json()["constraint"]["id"]
            status = await c.get(f"{P}/sites/depot/constraints/{cid}")
            cancelled = await c.delete(f"{P}/sites/depot/constraints/{cid}")
    finally:
        await api.server.stop()
        await csms.stop()
    assert created.status_code == 201, created.text
    bounds = [r.json()["delivery_bound_s"] for r in (created, status, cancelled)]
    assert bounds == [None, None, None]


async def test_demand_response_reduce_by_percent(api: Api) -> None:
    async with api.client("grid_operator") as c:
        r = await c.post(
            f"{P}/sites/depot/constraints",
            json={
                "node_id": "grid",
                "kind": "reduce",
                "start": "2026-03-02T05:00:00Z",
                "end": "2026-03-02T07:00:00Z",
                "reduce_by_pct": 25,
                "source": "dr-program",
            },
        )
        both = await c.post(
            f"{P}/sites/depot/constraints",
            json={
                "node_id": "grid",
                "kind": "reduce",
                "start": "2026-03-02T05:00:00Z",
                "end": "2026-03-02T07:00:00Z",
                "reduce_by_pct": 25,
                "reduce_to_w": 1000,
            },
        )
    assert r.status_code == 201, r.text
    grid = {n["node_id"]: n for n in r.json()["limits"]}["grid"]
    assert grid["max_import_w"] == 75_000.0
    assert both.status_code == 422


async def test_negative_storage_capacity_is_422_naming_the_field(api: Api) -> None:
    async with api.client("admin") as a:
        site = (await a.get(f"{P}/sites/depot")).json()
        site["storage"] = [
            {
                "id": "bess",
                "node": "grid",
                "capacity_wh": -5,
                "max_charge_w": 1,
                "max_discharge_w": 1,
            }
        ]
        r = await a.put(f"{P}/sites/depot", json=site)
        wrong_id = await a.put(f"{P}/sites/depot", json={**site, "id": "elsewhere", "storage": []})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "storage", 0, "capacity_wh"]
    assert wrong_id.status_code == 422 and wrong_id.json()["detail"][0]["loc"] == ["body", "id"]


async def test_site_power_sums_the_latest_readings_per_node(api: Api) -> None:
    from datetime import timedelta

    from csms.domain import MeterSample
    from csms.store.base import StoredSample

    def power(station: str, evse: int, minute: int, watts: float) -> StoredSample:
        at = START + timedelta(minutes=minute)
        return StoredSample(
            station, evse, 1, None, MeterSample(at, "Power.Active.Import", watts, "W")
        )

    await api.csms.store.add_samples(
        [
            power("CP1", 1, 0, 5_000.0),
            power("CP1", 1, 1, 7_000.0),  # the latest counts
            power("CP2", 2, 1, 11_000.0),
            power("FAR", 1, 1, 3_000.0),  # another site
        ]
    )
    async with api.client("grid_operator") as g:
        await g.post(f"{P}/sites/depot/constraints", json=cap("feeder-a", 15_000))
        body = (await g.get(f"{P}/sites/depot/power")).json()
    nodes = {n["node_id"]: (n["power_w"], n["max_import_w"]) for n in body["nodes"]}
    assert nodes == {"grid": (18_000.0, 100_000.0), "feeder-a": (18_000.0, 15_000.0)}
    evses = {(e["station_id"], e["evse_id"]): e["power_w"] for e in body["evses"]}
    assert evses == {("CP1", 1): 7_000.0, ("CP1", 2): None, ("CP2", 1): None, ("CP2", 2): 11_000.0}


async def test_an_evse_node_is_edited_and_capped_like_any_node(api: Api) -> None:
    async with api.client("admin") as a:
        site = (await a.get(f"{P}/sites/depot")).json()
        site["nodes"].append({"id": "CP1-1", "kind": "evse", "parent": "feeder-a"})
        cp1 = next(s for s in site["stations"] if s["id"] == "CP1")
        cp1["evses"][0]["node"] = "CP1-1"
        assert (await a.put(f"{P}/sites/depot", json=site)).status_code == 200
    async with api.client("grid_operator") as g:
        edited = await g.put(
            f"{P}/sites/depot/nodes/CP1-1",
            json={"id": "CP1-1", "kind": "evse", "parent": "feeder-a", "max_import_w": 11_000},
        )
        capped = await g.post(f"{P}/sites/depot/constraints", json=cap("CP1-1", 7_000))
        below = await g.put(f"{P}/sites/depot/nodes/sub", json={"id": "sub", "parent": "CP1-1"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["changes"] == ["~ node CP1-1: max_import_w: None -> 11000.0"]
    assert capped.status_code == 201, capped.text
    assert capped.json()["warnings"] == []
    limit = {n["node_id"]: n for n in capped.json()["limits"]}["CP1-1"]
    assert (limit["max_import_w"], limit["binding"]) == (
        7_000.0,
        [capped.json()["constraint"]["id"]],
    )
    assert below.status_code == 422
    assert below.json()["detail"][0]["msg"] == "evse node 'CP1-1' has nodes below it: 'sub'"
