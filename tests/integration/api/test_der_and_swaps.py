"""DER control and battery swaps over HTTP with a real 2.1 station (the ``ocpp`` library's
v21 ChargePoint on a WebSocket): roles, audit, the controls in force, alarms, swap sessions
with filters, and bad input refused with a 422 (or a CALLERROR to the station) storing
nothing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.v21 import call

from csms.domain import IdToken
from csms.store import MemoryStore
from csms.store.base import StationRecord
from tests.integration.api.conftest import Api
from tests.integration.csms.stations import Station21, connect_station

P = "/api/v1"
VOLT_VAR = {
    "control_type": "VoltVar",
    "setting": {
        "priority": 1,
        "y_unit": "PctMaxVar",
        "curve_data": [{"x": 92.0, "y": 30.0}, {"x": 108.0, "y": -30.0}],
    },
}


@contextlib.asynccontextmanager
async def station(api: Api, station_id: str = "SW21") -> AsyncIterator[Station21]:
    async with connect_station(api.csms.url, station_id, version="2.1") as cp:
        result = await cp.call(
            call.BootNotification(
                charging_station={"model": "Swap", "vendor_name": "Acme"}, reason="PowerUp"
            )
        )
        assert result.status == "Accepted"
        yield cp


@pytest.fixture
async def store(store: MemoryStore) -> MemoryStore:
    await store.put_station(StationRecord("SW21", site_id="depot"))
    await store.put_id_token(IdToken("DRIVER"))
    return store


def swap(event: str, request_id: int, serial: str, soc: float, slot: int = 1) -> Any:
    return call.BatterySwap(
        event_type=event,
        request_id=request_id,
        id_token={"idToken": "DRIVER", "type": "ISO14443"},
        battery_data=[{"evseId": slot, "serialNumber": serial, "soC": soc, "soH": 98}],
    )


async def audit_actions(api: Api, action: str) -> list[str]:
    async with api.client("admin") as a:
        entries = (await a.get(f"{P}/audit", params={"action": action})).json()
    return [e["result"] for e in entries]


async def test_grid_operator_sets_and_clears_a_der_control(api: Api) -> None:
    async with station(api) as cp, api.client("grid_operator") as g:
        r = await g.put(f"{P}/stations/SW21/der-controls/vv-1", json=VOLT_VAR)
        assert r.status_code == 200, r.text
        assert r.json()["in_force"] and r.json()["source"] == "set"
        [(action, sent)] = cp.script.received
        assert action == "SetDERControl" and sent["control_id"] == "vv-1"
        assert sent["curve"]["curve_data"] == VOLT_VAR["setting"]["curve_data"]  # type: ignore[index]
        listed = (await g.get(f"{P}/stations/SW21/der-controls")).json()
        assert [c["control_id"] for c in listed] == ["vv-1"]
        r = await g.delete(f"{P}/stations/SW21/der-controls/vv-1")
        assert r.status_code == 200 and r.json() == ["vv-1"]
        assert (await g.get(f"{P}/stations/SW21/der-controls")).json() == []
        everything = (await g.get(f"{P}/stations/SW21/der-controls", params={"all": "true"})).json()
        assert everything[0]["cleared_at"] is not None
    assert await audit_actions(api, "der.control.set") == ["ok"]
    assert await audit_actions(api, "der.control.clear") == ["ok"]
    async with api.client("grid_operator") as g:  # their own DER entries, as for constraints
        entries = (await g.get(f"{P}/audit", params={"action": "der.control.set"})).json()
    assert [(e["actor"], e["target"]) for e in entries] == [("grid_operator", "vv-1")]


async def test_a_rejected_control_is_a_409_recorded_as_nothing(api: Api) -> None:
    async with station(api) as cp, api.client("grid_operator") as g:
        cp.script.answers["SetDERControl"] = {"status": "Rejected"}
        r = await g.put(f"{P}/stations/SW21/der-controls/vv-1", json=VOLT_VAR)
        assert r.status_code == 409
        assert "SetDERControl to SW21: station answered Rejected" in r.json()["detail"]
        listed = await g.get(f"{P}/stations/SW21/der-controls", params={"all": "true"})
        assert listed.json() == []
    assert await audit_actions(api, "der.control.set") == ["rejected"]


async def test_der_roles(api: Api) -> None:
    async with station(api):
        async with api.client("fleet_manager") as f:
            r = await f.put(f"{P}/stations/SW21/der-controls/vv-1", json=VOLT_VAR)
            assert r.status_code == 403
            assert (await f.get(f"{P}/stations/SW21/der-controls")).status_code == 200
        async with api.client("viewer") as v:
            assert (await v.get(f"{P}/stations/SW21/der-alarms")).status_code == 200
        async with api.client("grid_operator_other") as o:
            r = await o.put(f"{P}/stations/SW21/der-controls/vv-1", json=VOLT_VAR)
            assert r.status_code == 403


@pytest.mark.parametrize(
    ("setting", "loc"),
    [
        ({"priority": 1, "y_unit": "PctMaxVar"}, ["body", "setting", "curve", "curve_data"]),
        ({"priority": -1, "y_unit": "PctMaxVar", "curve_data": [{"x": 1, "y": 2}]}, None),
        ({"priority": 1, "y_unit": "PctMaxVar", "curve_data": [], "bogus": 1}, None),
    ],
)
async def test_a_control_unfit_to_send_is_a_422_and_audited_refused(
    api: Api, setting: dict[str, Any], loc: list[str] | None
) -> None:
    async with station(api) as cp, api.client("grid_operator") as g:
        body = {"control_type": "VoltVar", "setting": setting}
        r = await g.put(f"{P}/stations/SW21/der-controls/vv-1", json=body)
        assert r.status_code == 422, r.text
        if loc is not None:
            assert r.json()["detail"][0]["loc"] == loc
        assert cp.script.received == []
    assert await audit_actions(api, "der.control.set") == ["refused"]


async def test_a_non_finite_setting_is_refused_at_the_boundary(api: Api) -> None:
    async with station(api) as cp, api.client("grid_operator") as g:
        text = (
            '{"control_type":"FixedVar","setting":{"priority":1,"setpoint":NaN,"unit":"PctMaxVar"}}'
        )
        r = await g.put(
            f"{P}/stations/SW21/der-controls/v-1",
            content=text,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 422
        assert cp.script.received == []


async def test_alarms_are_listed_newest_first(api: Api) -> None:
    async with station(api) as cp:
        for ts, ended in (("2026-03-02T06:01:00Z", False), ("2026-03-02T06:05:00Z", True)):
            await cp.call(
                call.NotifyDERAlarm(
                    control_type="HVMustTrip",
                    timestamp=ts,
                    grid_event_fault="OverVoltage",
                    alarm_ended=ended,
                )
            )
        async with api.client("viewer") as v:
            alarms = (await v.get(f"{P}/stations/SW21/der-alarms")).json()
    assert [a["alarm_ended"] for a in alarms] == [True, False]
    assert alarms[0]["grid_event_fault"] == "OverVoltage"


async def register_packs(api: Api, *serials: str) -> None:
    async with api.client("admin") as a:
        for serial in serials:
            r = await a.put(f"{P}/battery-packs/{serial}", json={"capacity_wh": 40_000})
            assert r.status_code == 200, r.text


async def test_a_swap_is_a_billable_session_read_like_transactions(api: Api) -> None:
    await register_packs(api, "PK-1", "PK-2")
    async with station(api) as cp:
        await cp.call(swap("BatteryIn", 31, "PK-1", 25))
        await cp.call(swap("BatteryOut", 31, "PK-2", 100, slot=2))
    async with api.client("fleet_manager") as f:
        [session] = (await f.get(f"{P}/battery-swaps", params={"station_id": "SW21"})).json()
        assert session["state"] == "completed" and session["auth_status"] == "Accepted"
        assert session["energy_in_wh"] == 10_000 and session["energy_out_wh"] == 40_000
        assert session["energy_wh"] == 30_000 and session["site_id"] == "depot"
        # 30 kWh at the site's default tariff (0.25 EUR/kWh) when the packs came out
        assert (session["cost"], session["currency"]) == (7.5, "EUR")
        assert session["packs_out"] == [
            {"serial_number": "PK-2", "slot": 2, "soc_pct": 100.0, "soh_pct": 98.0}
        ]
        one = await f.get(f"{P}/battery-swaps/{session['id']}")
        assert one.json() == session
        assert (await f.get(f"{P}/battery-swaps", params={"state": "open"})).json() == []
        assert (await f.get(f"{P}/battery-swaps", params={"id_token": "NOBODY"})).json() == []
        bad = await f.get(f"{P}/battery-swaps", params={"since": "2026-03-02T06:00:00"})
        assert bad.status_code == 422
    async with api.client("fleet_manager_other") as o:
        assert (await o.get(f"{P}/battery-swaps")).json() == []
        assert (await o.get(f"{P}/battery-swaps/{session['id']}")).status_code == 403
    async with api.client("grid_operator") as g:
        assert (await g.get(f"{P}/battery-swaps")).status_code == 403
    async with api.client("admin") as a:
        packs = {p["serial_number"]: p for p in (await a.get(f"{P}/battery-packs")).json()}
    assert packs["PK-1"]["station_id"] == "SW21" and packs["PK-2"]["station_id"] is None


async def test_swaps_of_an_unknown_station_are_422_but_a_removed_ones_stay(api: Api) -> None:
    await register_packs(api, "PK-1")
    async with station(api) as cp:
        await cp.call(swap("BatteryIn", 32, "PK-1", 25))
    async with api.client("admin") as a:
        assert (await a.delete(f"{P}/stations/SW21")).status_code == 204
        removed = await a.get(f"{P}/battery-swaps", params={"station_id": "SW21"})
        unknown = await a.get(f"{P}/battery-swaps", params={"station_id": "SW-TYPO"})
        packs_removed = await a.get(f"{P}/battery-packs", params={"station_id": "SW21"})
    assert [s["request_id"] for s in removed.json()] == [32]
    for r in (unknown, packs_removed):
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["query", "station_id"]
    assert unknown.json()["detail"][0]["msg"] == "unknown station 'SW-TYPO'"


async def test_bad_swap_events_get_a_callerror_and_store_nothing(api: Api) -> None:
    await register_packs(api, "PK-1")
    async with station(api) as cp:
        for bad in (swap("BatteryIn", 1, "UNKNOWN", 50), swap("BatteryOut", 77, "PK-1", 90)):
            with pytest.raises(PropertyConstraintViolationError):
                await cp.call(bad, suppress=False)
        assert await cp.call(call.Heartbeat())  # the station is still served
    async with api.client("admin") as a:
        assert (await a.get(f"{P}/battery-swaps")).json() == []


async def test_a_fleet_manager_requests_a_swap(api: Api) -> None:
    await register_packs(api, "PK-1")
    async with station(api) as cp:
        async with api.client("fleet_manager") as f:
            r = await f.post(f"{P}/stations/SW21/battery-swaps", json={"id_token": "DRIVER"})
            assert r.status_code == 201, r.text
            waiting = r.json()
            assert waiting["state"] == "requested" and waiting["requested"]
            [(action, sent)] = cp.script.received
            assert action == "RequestBatterySwap"
            assert sent["request_id"] == waiting["request_id"]
            await cp.call(swap("BatteryIn", waiting["request_id"], "PK-1", 10))
            opened = (await f.get(f"{P}/battery-swaps/{waiting['id']}")).json()
            assert opened["state"] == "open"
            cp.script.answers["RequestBatterySwap"] = {"status": "Rejected"}
            r = await f.post(f"{P}/stations/SW21/battery-swaps", json={"id_token": "DRIVER"})
            assert r.status_code == 409
        async with api.client("grid_operator") as g:
            r = await g.post(f"{P}/stations/SW21/battery-swaps", json={"id_token": "DRIVER"})
            assert r.status_code == 403
    assert await audit_actions(api, "command.request_battery_swap") == ["rejected", "ok"]


async def test_pack_registration_is_checked(api: Api) -> None:
    async with api.client("admin") as a:
        for capacity in (0, -5):
            r = await a.put(f"{P}/battery-packs/PK-9", json={"capacity_wh": capacity})
            assert r.status_code == 422
        r = await a.put(
            f"{P}/battery-packs/PK-9",
            content='{"capacity_wh": Infinity}',
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 422
        assert (await a.get(f"{P}/battery-packs")).json() == []
    async with api.client("fleet_manager") as f:
        r = await f.put(f"{P}/battery-packs/PK-9", json={"capacity_wh": 1000})
        assert r.status_code == 403


async def test_a_2_0_1_station_has_no_der_control(api: Api) -> None:
    async with connect_station(api.csms.url, "CP1", version="2.0.1") as cp:
        from ocpp.v201 import call as call201

        boot = await cp.call(
            call201.BootNotification(
                charging_station={"model": "AC", "vendor_name": "Acme"}, reason="PowerUp"
            )
        )
        assert boot.status == "Accepted"
        async with api.client("grid_operator") as g:
            r = await g.put(f"{P}/stations/CP1/der-controls/vv-1", json=VOLT_VAR)
        assert r.status_code == 409
        assert "not available in OCPP 2.0.1" in r.json()["detail"]
        assert not [action for action, _ in cp.script.received if "DER" in action]
    assert await audit_actions(api, "der.control.set") == ["unsupported"]
