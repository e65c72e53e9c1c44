"""PV and storage readings through the API: taken by the planner's state, published once,
and bad ones are 422s naming the field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from csms.events import DomainEvent, SiteReadingsReceived
from tests.integration.api.conftest import START, Api

P = "/api/v1"


def _iso(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


async def test_readings_reach_the_planner_and_the_bus(api: Api) -> None:
    seen: list[DomainEvent] = []
    api.csms.bus.subscribe(seen.append)
    body = {
        "pv": [
            {
                "pv_id": "roof",
                "power_w": 12_000,
                "at": _iso(0),
                "forecast": [
                    {"start": _iso(15), "end": _iso(30), "power_w": 18_000},
                    {"start": _iso(0), "end": _iso(15), "power_w": 14_000},
                ],
            }
        ],
        "storage": [{"storage_id": "bess", "power_w": 7_500, "soc_pct": 42.5}],
    }
    async with api.client("grid_operator") as c:
        r = await c.post(f"{P}/sites/depot/readings", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["pv"] == 1 and r.json()["storage"] == 1
    (event,) = [e for e in seen if isinstance(e, SiteReadingsReceived)]
    (pv,) = event.pv
    assert (pv.pv_id, pv.power_w, pv.at) == ("roof", 12_000.0, START)
    assert [w for _, _, w in pv.forecast] == [14_000.0, 18_000.0]  # sorted by start
    assert pv.forecast_at(START + timedelta(minutes=20)) == 18_000.0
    (unit,) = event.storage
    assert (unit.storage_id, unit.power_w, unit.soc_pct, unit.at) == ("bess", 7_500.0, 42.5, START)
    assert api.csms.planning is not None
    state = api.csms.planning.loops["depot"].state
    assert state.pv["roof"].power_w == 12_000.0
    assert state.storage["bess"].power_w == 7_500.0


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"pv": [{"pv_id": "attic", "power_w": 1}]}, ["body", "pv", 0, "pv_id"]),
        ({"storage": [{"storage_id": "x", "power_w": 1}]}, ["body", "storage", 0, "storage_id"]),
        ({"pv": [{"pv_id": "roof", "power_w": -1}]}, ["body", "pv", 0, "power_w"]),
        # above the plant's 30 kW peak by more than 25 % (a wrong unit, a wrong plant)
        ({"pv": [{"pv_id": "roof", "power_w": 37_501}]}, ["body", "pv", 0, "power_w"]),
        ({"pv": [{"pv_id": "roof", "power_w": 1, "at": _iso(10)}]}, ["body", "pv", 0, "at"]),
        (
            {"storage": [{"storage_id": "bess", "power_w": 1, "soc_pct": 101}]},
            ["body", "storage", 0, "soc_pct"],
        ),
        (
            {"pv": [{"pv_id": "roof", "power_w": 1, "at": "2026-03-02T06:00:00"}]},
            ["body", "pv", 0],
        ),
        (
            {
                "pv": [
                    {
                        "pv_id": "roof",
                        "power_w": 1,
                        "forecast": [{"start": _iso(30), "end": _iso(15), "power_w": 1}],
                    }
                ]
            },
            ["body", "pv", 0, "forecast", 0],
        ),
        (
            {
                "pv": [
                    {
                        "pv_id": "roof",
                        "power_w": 1,
                        "forecast": [
                            {"start": _iso(0), "end": _iso(30), "power_w": 1},
                            {"start": _iso(15), "end": _iso(45), "power_w": 1},
                        ],
                    }
                ]
            },
            ["body", "pv", 0],
        ),
    ],
)
async def test_bad_readings_are_422s_naming_the_field(
    api: Api, body: dict[str, Any], loc: list[Any]
) -> None:
    seen: list[DomainEvent] = []
    api.csms.bus.subscribe(seen.append)
    async with api.client("admin") as c:
        r = await c.post(f"{P}/sites/depot/readings", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    assert not any(isinstance(e, SiteReadingsReceived) for e in seen)
    async with api.client("admin") as c:
        missing = await c.post(f"{P}/sites/nowhere/readings", json={})
    assert missing.status_code == 404
