"""A real 2.1 station (the ``ocpp`` library's v21 ChargePoint on a WebSocket) against a
running central system on every store: DER control set, reported, started and alarmed; a
battery swap requested, swapped in and out; a refused swap event answered with a
CALLERROR; everything still there after a restart."""

from __future__ import annotations

import pytest
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.v21 import call

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.der import DerControl, DerControlType
from csms.domain import IdToken
from csms.events import BatterySwapUpdated, DerAlarmRaised, DerControlsReported
from csms.store import MemoryStore, Store
from csms.swaps import BatteryPack, SwapFilter, SwapState
from tests.integration.csms.conftest import PASSWORD, make_settings
from tests.integration.csms.stations import connect_station
from tests.waiting import wait_until

LIMIT = DerControl(
    "lmd-1",
    DerControlType.LIMIT_MAX_DISCHARGE,
    False,
    {"priority": 1, "pct_max_discharge_power": 40.0},
)


def _swap(event: str, request_id: int, serial: str, soc: float) -> object:
    return call.BatterySwap(
        event_type=event,
        request_id=request_id,
        id_token={"idToken": "DRIVER", "type": "ISO14443"},
        battery_data=[{"evseId": 1, "serialNumber": serial, "soC": soc, "soH": 99}],
    )


async def test_der_and_swap_day_over_a_real_socket(
    csms: Csms, store: Store, clock: ManualClock
) -> None:
    events: list[object] = []
    csms.bus.subscribe(events.append)
    await store.put_id_token(IdToken("DRIVER"))
    swaps = csms.central.swaps.repo
    for serial in ("IN-1", "OUT-1"):
        await swaps.put_pack(BatteryPack(serial, capacity_wh=70_000))
    async with connect_station(csms.url, "OTHER", version="2.1", password=PASSWORD) as cp:
        boot = await cp.call(
            call.BootNotification(
                charging_station={"model": "Swap", "vendor_name": "Acme"}, reason="PowerUp"
            )
        )
        assert boot.status == "Accepted"
        await wait_until(lambda: csms.commands.is_online("OTHER"), 10, "OTHER online")
        # DER: set, report, start, alarm
        await csms.commands.set_der_control("OTHER", LIMIT)
        await csms.commands.get_der_control("OTHER", request_id=3)
        await cp.call(
            call.ReportDERControl(
                request_id=3,
                limit_max_discharge=[
                    {
                        "id": "lmd-1",
                        "isDefault": False,
                        "isSuperseded": False,
                        "limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 40.0},
                    }
                ],
            )
        )
        await cp.call(
            call.NotifyDERStartStop(
                control_id="lmd-1", started=True, timestamp="2026-03-02T06:00:05Z"
            )
        )
        await cp.call(
            call.NotifyDERAlarm(
                control_type="LVMustTrip",
                timestamp="2026-03-02T06:00:07Z",
                grid_event_fault="UnderVoltage",
            )
        )
        # a swap asked for, then done
        _, request_id = await csms.commands.request_battery_swap("OTHER", id_token="DRIVER")
        await cp.call(_swap("BatteryIn", request_id, "IN-1", 10))
        clock.advance(90)
        await cp.call(_swap("BatteryOut", request_id, "OUT-1", 90))
        with pytest.raises(PropertyConstraintViolationError):
            await cp.call(_swap("BatteryIn", 5, "STRANGER-PACK", 50), suppress=False)
        assert await cp.call(call.Heartbeat())
    [record] = await csms.central.der.repo.list_controls("OTHER")
    assert record.control.setting == LIMIT.setting and record.started is True
    assert record.source == "reported"
    [session] = await swaps.list_swaps(SwapFilter(station_id="OTHER"))
    assert session.state is SwapState.COMPLETED and session.requested
    assert session.energy_wh == pytest.approx(56_000)
    assert [type(e) for e in events if isinstance(e, DerControlsReported | DerAlarmRaised)] == [
        DerControlsReported,
        DerAlarmRaised,
    ]
    assert [e.swap.state for e in events if isinstance(e, BatterySwapUpdated)] == [
        SwapState.REQUESTED,
        SwapState.OPEN,
        SwapState.COMPLETED,
    ]
    if isinstance(store, MemoryStore):
        return
    # a new central system on the same database finds it all
    async with Csms(make_settings(), clock=clock, store=store) as again:
        assert [
            r.control.control_id for r in await again.central.der.repo.list_controls("OTHER")
        ] == ["lmd-1"]
        assert len(await again.central.der.repo.list_alarms(station_id="OTHER")) == 1
        assert await again.central.swaps.repo.get_swap(session.id or 0) == session
