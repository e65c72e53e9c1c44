"""The grid meter's readings through the API (decision 0917): taken by the site's meter and
published once; a site without ``[meter]``, or a number out of range, is a 422 naming the
field and nothing is published."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from csms.events import DomainEvent, SiteReadingsReceived
from csms.sites import GridMeter
from tests.integration.api.conftest import START, Api
from tests.waiting import wait_until

P = "/api/v1"


async def _metered_depot(api: Api) -> None:
    loop = api.csms.planning.loops["depot"]
    assert api.csms.sites is not None
    await api.csms.sites.apply(loop.state.site.model_copy(update={"meter": GridMeter()}))
    await wait_until(lambda: loop.state.meter.spec is not None, 10, "the depot's meter")


async def test_a_posted_meter_reading_is_the_sites_import(api: Api) -> None:
    await _metered_depot(api)
    seen: list[DomainEvent] = []
    api.csms.bus.subscribe(seen.append)
    body = {"meter": {"import_w": 52_000, "export_w": 0, "at": START.isoformat()}}
    async with api.client("grid_operator") as c:
        r = await c.post(f"{P}/sites/depot/readings", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["meter"] == 1
    (event,) = [e for e in seen if isinstance(e, SiteReadingsReceived)]
    assert event.meter is not None and event.meter.import_w == 52_000.0
    meter = api.csms.planning.loops["depot"].state.meter
    assert (meter.import_w, meter.measured_at) == (52_000.0, START)
    assert meter.site_import(START, 10_000.0).source == "meter"


@pytest.mark.parametrize(
    ("site", "body", "loc"),
    [
        ("other", {"meter": {"import_w": 1}}, ["body", "meter"]),
        ("depot", {"meter": {"import_w": -1}}, ["body", "meter", "import_w"]),
        ("depot", '{"meter": {"import_w": 1e400}}', ["body", "meter", "import_w"]),
        ("depot", {"meter": {"import_w": 1, "export_w": 2e9}}, ["body", "meter", "export_w"]),
        (
            "depot",
            {"meter": {"import_w": 1, "at": (START + timedelta(minutes=10)).isoformat()}},
            ["body", "meter", "at"],
        ),
    ],
)
async def test_a_bad_meter_reading_is_a_422_naming_the_field(
    api: Api, site: str, body: dict[str, Any] | str, loc: list[Any]
) -> None:
    await _metered_depot(api)
    seen: list[DomainEvent] = []
    api.csms.bus.subscribe(seen.append)
    async with api.client("admin") as c:
        if isinstance(body, str):  # a number JSON cannot hold, as a client may still send it
            headers = {"content-type": "application/json"}
            r = await c.post(f"{P}/sites/{site}/readings", content=body, headers=headers)
        else:
            r = await c.post(f"{P}/sites/{site}/readings", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    assert not any(isinstance(e, SiteReadingsReceived) for e in seen)
    assert api.csms.planning.loops["depot"].state.meter.import_w is None
