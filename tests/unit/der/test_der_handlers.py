"""DER control through the real 2.1 adapter: the station's reports, alarms and starts/stops
answered schema-valid, recorded and published; SetDERControl / GetDERControl /
ClearDERControl through the core's Commands, a refusal recorded as nothing."""

from __future__ import annotations

import pytest

from csms.core.commands import Commands
from csms.der import DerControl, DerControlType, InvalidDerControl
from csms.events import (
    DerAlarmRaised,
    DerControlsCleared,
    DerControlSet,
    DerControlsReported,
    DerStartStopped,
)
from csms.exceptions import CommandError, CommandRejected
from tests.unit.der.station import Rig

VOLT_VAR = DerControl(
    control_id="vv-1",
    control_type=DerControlType.VOLT_VAR,
    is_default=False,
    setting={
        "priority": 1,
        "y_unit": "PctMaxVar",
        "curve_data": [{"x": 92.0, "y": 30.0}, {"x": 108.0, "y": -30.0}],
    },
)
LIMIT = DerControl(
    control_id="lmd-1",
    control_type=DerControlType.LIMIT_MAX_DISCHARGE,
    is_default=False,
    setting={"priority": 2, "pct_max_discharge_power": 50.0},
)


async def test_set_der_control_sends_the_setting_under_its_field_and_records_it() -> None:
    rig = await Rig().setup()
    rig.fake.answers["SetDERControl"] = {"status": "Accepted"}
    result = await rig.commands.set_der_control("CS21", VOLT_VAR)
    assert result.status == "Accepted"
    assert rig.fake.calls("SetDERControl") == [
        {
            "isDefault": False,
            "controlId": "vv-1",
            "controlType": "VoltVar",
            "curve": {
                "priority": 1,
                "yUnit": "PctMaxVar",
                "curveData": [{"x": 92.0, "y": 30.0}, {"x": 108.0, "y": -30.0}],
            },
        }
    ]
    [record] = await rig.central.der.repo.list_controls("CS21")
    assert record.control == VOLT_VAR and record.source == "set" and record.in_force
    assert [e.control for e in rig.of_type(DerControlSet)] == [VOLT_VAR]


async def test_superseded_controls_leave_force() -> None:
    rig = await Rig().setup()
    rig.fake.answers["SetDERControl"] = {"status": "Accepted"}
    await rig.commands.set_der_control("CS21", LIMIT)
    newer = DerControl(
        "lmd-2", LIMIT.control_type, False, {"priority": 1, "pct_max_discharge_power": 20.0}
    )
    rig.fake.answers["SetDERControl"] = {"status": "Accepted", "supersededIds": ["lmd-1"]}
    await rig.commands.set_der_control("CS21", newer)
    assert [r.control.control_id for r in await rig.central.der.repo.list_controls("CS21")] == [
        "lmd-2"
    ]
    everything = await rig.central.der.repo.list_controls("CS21", in_force=False)
    assert {r.control.control_id: r.control.superseded for r in everything} == {
        "lmd-1": True,
        "lmd-2": False,
    }


@pytest.mark.parametrize("status", ["Rejected", "NotSupported"])
async def test_a_rejected_control_is_reported_and_not_recorded(status: str) -> None:
    rig = await Rig().setup()
    rig.fake.answers["SetDERControl"] = {"status": status}
    with pytest.raises(CommandRejected, match=f"SetDERControl to CS21: station answered {status}"):
        await rig.commands.set_der_control("CS21", VOLT_VAR)
    assert await rig.central.der.repo.list_controls("CS21", in_force=False) == []
    assert rig.of_type(DerControlSet) == []


async def test_a_control_unfit_to_send_is_refused_before_the_station_sees_it() -> None:
    rig = await Rig().setup()
    bad = DerControl(
        "x",
        DerControlType.FIXED_VAR,
        False,
        {"priority": 1, "setpoint": float("nan"), "unit": "PctMaxVar"},
    )
    with pytest.raises(InvalidDerControl, match=r"fixed_var\.setpoint: must be a finite number"):
        await rig.commands.set_der_control("CS21", bad)
    missing = DerControl("x", DerControlType.FIXED_VAR, False, {"priority": 1, "unit": "PctMaxVar"})
    with pytest.raises(InvalidDerControl, match=r"fixed_var\.setpoint: field required"):
        await rig.commands.set_der_control("CS21", missing)
    assert rig.fake.sent == []


async def test_clear_der_control_clears_the_matching_controls_once_accepted() -> None:
    rig = await Rig().setup()
    rig.fake.answers["SetDERControl"] = {"status": "Accepted"}
    await rig.commands.set_der_control("CS21", VOLT_VAR)
    await rig.commands.set_der_control("CS21", LIMIT)
    rig.fake.answers["ClearDERControl"] = {"status": "NotFound"}
    with pytest.raises(CommandRejected):
        await rig.commands.clear_der_control("CS21", is_default=False, control_id="vv-1")
    assert len(await rig.central.der.repo.list_controls("CS21")) == 2
    rig.fake.answers["ClearDERControl"] = {"status": "Accepted"}
    await rig.commands.clear_der_control(
        "CS21", is_default=False, control_type=DerControlType.VOLT_VAR
    )
    assert rig.fake.calls("ClearDERControl")[-1] == {"isDefault": False, "controlType": "VoltVar"}
    assert [r.control.control_id for r in await rig.central.der.repo.list_controls("CS21")] == [
        "lmd-1"
    ]
    assert rig.of_type(DerControlsCleared)[-1].control_ids == ("vv-1",)


async def test_get_der_control_then_the_report_is_recorded() -> None:
    rig = await Rig().setup()
    rig.fake.answers["GetDERControl"] = {"status": "Accepted"}
    await rig.commands.get_der_control("CS21", request_id=7, is_default=True)
    assert rig.fake.calls("GetDERControl") == [{"requestId": 7, "isDefault": True}]
    answer = await rig.call(
        "ReportDERControl",
        {
            "requestId": 7,
            "fixedPFInject": [
                {
                    "id": "pf-1",
                    "isDefault": True,
                    "isSuperseded": False,
                    "fixedPF": {"priority": 0, "displacement": 0.95, "excitation": True},
                }
            ],
            "gradient": [
                {"id": "g-1", "gradient": {"priority": 3, "gradient": 10, "softGradient": 5}}
            ],
        },
    )
    assert answer[0] == 3 and answer[2] == {}
    records = {r.control.control_id: r for r in await rig.central.der.repo.list_controls("CS21")}
    assert records["pf-1"].control.control_type is DerControlType.FIXED_PF_INJECT
    assert records["pf-1"].control.setting == {
        "priority": 0,
        "displacement": 0.95,
        "excitation": True,
    }
    assert records["pf-1"].control.is_default and records["pf-1"].source == "reported"
    assert records["g-1"].control.control_type is DerControlType.GRADIENTS
    [reported] = rig.of_type(DerControlsReported)
    assert reported.request_id == 7 and len(reported.controls) == 2


async def test_a_report_with_a_number_that_is_not_finite_is_refused_and_stores_nothing() -> None:
    rig = await Rig().setup()
    frame = (
        '[2,"r1","ReportDERControl",{"requestId":1,"fixedVar":[{"id":"v","isDefault":false,'
        '"isSuperseded":false,"fixedVar":{"priority":1,"setpoint":NaN,"unit":"PctMaxVar"}}]}]'
    )
    await rig.conn.route_message(frame)
    [answer] = rig.fake.results()
    assert answer[:3] == [4, "r1", "PropertyConstraintViolation"]
    assert "fixed_var.setpoint" in answer[3]
    assert await rig.central.der.repo.list_controls("CS21", in_force=False) == []
    assert rig.of_type(DerControlsReported) == []


async def test_alarm_and_start_stop_are_recorded_and_published() -> None:
    rig = await Rig().setup()
    rig.fake.answers["SetDERControl"] = {"status": "Accepted"}
    await rig.commands.set_der_control("CS21", LIMIT)
    answer = await rig.call(
        "NotifyDERAlarm",
        {
            "controlType": "HVMustTrip",
            "gridEventFault": "OverVoltage",
            "timestamp": "2026-12-07T08:01:00Z",
            "extraInfo": "253 V",
        },
    )
    assert answer[0] == 3 and answer[2] == {}
    [alarm] = await rig.central.der.repo.list_alarms(station_id="CS21")
    assert alarm.control_type is DerControlType.HV_MUST_TRIP
    assert alarm.grid_event_fault == "OverVoltage" and not alarm.alarm_ended
    assert rig.of_type(DerAlarmRaised)[0].alarm == alarm
    answer = await rig.call(
        "NotifyDERStartStop",
        {"controlId": "lmd-1", "started": True, "timestamp": "2026-12-07T08:02:00Z"},
    )
    assert answer[0] == 3 and answer[2] == {}
    record = await rig.central.der.repo.get_control("CS21", "lmd-1")
    assert record is not None and record.started is True
    assert rig.of_type(DerStartStopped)[0].change.control_id == "lmd-1"


async def test_der_commands_need_a_2_1_station() -> None:
    from csms.ocpp.v201 import V201Connection

    rig = await Rig().setup()
    old = V201Connection("CS21", rig.fake, rig.central)
    commands = Commands(lambda sid: old, rig.central)
    with pytest.raises(CommandError, match=r"not available in OCPP 2\.0\.1"):
        await commands.set_der_control("CS21", VOLT_VAR)
    assert rig.fake.sent == []


async def test_a_rejection_says_the_stations_reason() -> None:
    rig = await Rig().setup()
    rig.fake.answers["SetDERControl"] = {
        "status": "Rejected",
        "statusInfo": {"reasonCode": "OutOfRange", "additionalInfo": "curve beyond rating"},
    }
    with pytest.raises(CommandRejected) as caught:
        await rig.commands.set_der_control("CS21", VOLT_VAR)
    assert caught.value.status == "Rejected"
    assert caught.value.reason == "OutOfRange: curve beyond rating"
    assert str(caught.value) == (
        "SetDERControl to CS21: station answered Rejected (OutOfRange: curve beyond rating)"
    )
