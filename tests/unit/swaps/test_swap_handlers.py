"""BatterySwap through the real 2.1 adapter: sessions stored and published, the driver's id
token authorized like a charging session, bad events answered with a CALLERROR and nothing
stored; RequestBatterySwap through the core's Commands."""

from __future__ import annotations

from typing import Any

import pytest

from csms.domain import AuthorizationStatus, IdToken
from csms.events import BatterySwapUpdated
from csms.exceptions import CommandRejected
from csms.swaps import BatteryPack, SwapFilter, SwapState
from tests.unit.der.station import Rig


def battery(serial: str, slot: int, soc: Any, soh: Any = 98) -> dict[str, Any]:
    return {"evseId": slot, "serialNumber": serial, "soC": soc, "soH": soh}


def swap(
    event: str, request_id: int, packs: list[dict[str, Any]], token: str = "DRV"
) -> dict[str, Any]:
    return {
        "eventType": event,
        "requestId": request_id,
        "idToken": {"idToken": token, "type": "ISO14443"},
        "batteryData": packs,
    }


async def rig_with_packs() -> Rig:
    rig = await Rig().setup()
    await rig.store.put_id_token(IdToken("DRV"))
    await rig.store.put_id_token(IdToken("BLOCKED", status=AuthorizationStatus.BLOCKED))
    for serial in ("A1", "B2", "C3"):
        await rig.central.swaps.repo.put_pack(BatteryPack(serial, capacity_wh=50_000))
    return rig


async def test_swap_in_and_out_make_one_billable_session() -> None:
    rig = await rig_with_packs()
    assert (await rig.call("BatterySwap", swap("BatteryIn", 11, [battery("A1", 3, 10)])))[2] == {}
    rig.clock.advance(120)
    assert (await rig.call("BatterySwap", swap("BatteryOut", 11, [battery("B2", 5, 96)])))[2] == {}
    [session] = await rig.central.swaps.repo.list_swaps(SwapFilter(station_id="CS21"))
    assert session.state is SwapState.COMPLETED and session.auth_status == "Accepted"
    assert session.energy_in_wh == pytest.approx(5_000)
    assert session.energy_out_wh == pytest.approx(48_000)
    assert session.energy_wh == pytest.approx(43_000)
    assert (session.ended_at - session.started_at).total_seconds() == 120  # type: ignore[operator]
    packs = {p.serial_number: p for p in await rig.central.swaps.repo.list_packs()}
    assert packs["A1"].station_id == "CS21" and packs["A1"].slot == 3
    assert packs["B2"].station_id is None
    assert [e.swap.state for e in rig.of_type(BatterySwapUpdated)] == [
        SwapState.OPEN,
        SwapState.COMPLETED,
    ]


async def test_the_id_token_is_authorized_like_a_charging_session() -> None:
    rig = await rig_with_packs()
    await rig.call("BatterySwap", swap("BatteryIn", 1, [battery("A1", 1, 10)], token="BLOCKED"))
    await rig.call("BatterySwap", swap("BatteryIn", 2, [battery("C3", 2, 10)], token="STRANGER"))
    sessions = await rig.central.swaps.repo.list_swaps(SwapFilter())
    assert [s.auth_status for s in sessions] == ["Blocked", "Unknown"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (swap("BatteryIn", 3, [battery("ZZ9", 1, 50)]), "batteryData[0].serialNumber"),
        (swap("BatteryOut", 99, [battery("B2", 1, 90)]), "requestId"),
        (swap("BatteryOutTimeout", 98, [battery("B2", 1, 90)]), "requestId"),
    ],
    ids=["unknown pack", "unknown swap", "timeout of an unknown swap"],
)
async def test_bad_events_are_refused_with_a_property_constraint_violation(
    payload: dict[str, Any], field: str
) -> None:
    rig = await rig_with_packs()
    answer = await rig.call("BatterySwap", payload)
    assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation"
    assert answer[3].startswith(field)
    assert await rig.central.swaps.repo.list_swaps(SwapFilter()) == []
    assert rig.of_type(BatterySwapUpdated) == []


@pytest.mark.parametrize("soc", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_a_state_of_charge_that_is_not_finite_is_refused(soc: str) -> None:
    rig = await rig_with_packs()
    frame = (
        '[2,"b1","BatterySwap",{"eventType":"BatteryIn","requestId":4,'
        '"idToken":{"idToken":"DRV","type":"ISO14443"},'
        f'"batteryData":[{{"evseId":1,"serialNumber":"A1","soC":{soc},"soH":90}}]}}]'
    )
    await rig.conn.route_message(frame)
    [answer] = rig.fake.results()
    assert answer[0] == 4 and answer[2] in ("PropertyConstraintViolation", "FormatViolation")
    assert await rig.central.swaps.repo.list_swaps(SwapFilter()) == []
    [pack] = [p for p in await rig.central.swaps.repo.list_packs() if p.serial_number == "A1"]
    assert pack.station_id is None and pack.soc_pct is None


async def test_a_state_of_charge_outside_0_100_fails_the_schema() -> None:
    rig = await rig_with_packs()
    answer = await rig.call("BatterySwap", swap("BatteryIn", 4, [battery("A1", 1, 101)]))
    assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation"
    assert await rig.central.swaps.repo.list_swaps(SwapFilter()) == []


async def test_request_battery_swap_then_the_station_swaps_under_its_request_id() -> None:
    rig = await rig_with_packs()
    rig.fake.answers["RequestBatterySwap"] = {"status": "Accepted"}
    result, request_id = await rig.commands.request_battery_swap("CS21", id_token="DRV")
    assert result.status == "Accepted"
    assert rig.fake.calls("RequestBatterySwap") == [
        {"idToken": {"idToken": "DRV", "type": "ISO14443"}, "requestId": request_id}
    ]
    [waiting] = await rig.central.swaps.repo.list_swaps(SwapFilter())
    assert waiting.state is SwapState.REQUESTED and waiting.requested
    await rig.call("BatterySwap", swap("BatteryIn", request_id, [battery("A1", 1, 30)]))
    [opened] = await rig.central.swaps.repo.list_swaps(SwapFilter())
    assert opened.id == waiting.id and opened.state is SwapState.OPEN


async def test_a_rejected_swap_request_records_nothing() -> None:
    rig = await rig_with_packs()
    rig.fake.answers["RequestBatterySwap"] = {"status": "Rejected"}
    with pytest.raises(
        CommandRejected, match="RequestBatterySwap to CS21: station answered Rejected"
    ):
        await rig.commands.request_battery_swap("CS21", id_token="DRV", request_id=3)
    assert await rig.central.swaps.repo.list_swaps(SwapFilter()) == []


async def test_text_with_a_nul_character_is_refused_naming_the_field() -> None:
    rig = await rig_with_packs()
    answer = await rig.call("BatterySwap", swap("BatteryIn", 4, [battery("A1\x00", 1, 50)]))
    assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation"
    assert answer[3].startswith("batteryData[0].serialNumber: a NUL character")
    answer = await rig.call(
        "NotifyDERAlarm",
        {"controlType": "HVMustTrip", "timestamp": "2026-12-07T08:00:00Z", "extraInfo": "x\x00"},
    )
    assert answer[0] == 4 and answer[3].startswith("extraInfo: a NUL character")
    assert await rig.central.swaps.repo.list_swaps(SwapFilter()) == []
    assert await rig.central.der.repo.list_alarms() == []
