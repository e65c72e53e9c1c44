"""SecurityEventNotification: stored, listed per station, on the event stream, and an
alert on the overview when critical."""

from __future__ import annotations

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.integration.api.conftest import START, Api
from tests.integration.csms.stations import connect_station

P = "/api/v1"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_security_events(api: Api, version: str, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[object] = []
    api.csms.bus.subscribe(seen.append)
    call = call16 if version == "1.6" else call201
    at = START.isoformat()
    async with connect_station(api.csms.url, "CP1", version=version) as cp:
        await cp.call(
            call.SecurityEventNotification(type="InvalidTLSVersion", timestamp=at, tech_info=None)
        )
        await cp.call(
            call.SecurityEventNotification(
                type="TamperDetectionActivated", timestamp=at, tech_info="lid opened"
            )
        )
    async with api.client("admin") as a, api.client("fleet_manager") as f:
        listed = (await f.get(f"{P}/stations/CP1/security-events")).json()
        assert {(e["type"], e["critical"]) for e in listed} == {
            ("InvalidTLSVersion", False),
            ("TamperDetectionActivated", True),
        }
        assert next(e for e in listed if e["critical"])["tech_info"] == "lid opened"
        overview = (await a.get(f"{P}/overview")).json()
        alerts = [al for s in overview["sites"] for al in s["alerts"]]
        security = [al for al in alerts if al["kind"] == "security_event"]
        assert len(security) == 1 and security[0]["severity"] == "critical"
        assert "TamperDetectionActivated: lid opened" in security[0]["message"]
    kinds = [type(e).__name__ for e in seen]
    assert kinds.count("SecurityEventReceived") == 2
    from csms.api.stream import api_event

    published = [e for e in seen if type(e).__name__ == "SecurityEventReceived"]
    wire = api_event(published[1], event_id=1, now=START, site_of=lambda s: "depot")
    assert wire is not None and wire.type == "station.security_event"
    assert wire.data["critical"] is True
    errors = [
        r
        for r in caplog.records
        if r.levelname == "ERROR" and "critical security" in r.getMessage()
    ]
    assert len(errors) == 1
