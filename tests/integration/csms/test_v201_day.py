"""A working day of an OCPP 2.0.1 station against the real server (every store), and the
same day of a 2.1 station: 2.1 keeps these messages (its schemas check every frame)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import ocpp.v21.call
import ocpp.v201.call
import pytest

from csms.app import Csms
from csms.domain import (
    AuthorizationStatus,
    ChargingLimit,
    ChargingRateUnit,
    ConnectorStatus,
    IdToken,
)
from csms.events import DomainEvent, EVChargingNeedsReceived, TransactionEnded, TransactionUpdated
from csms.exceptions import CommandError
from csms.store import Store
from tests.integration.csms.conftest import PASSWORD, START
from tests.integration.csms.stations import StationScript, connect_station

call: Any = ocpp.v201.call  # the version's message classes, set per test by ``version``


@pytest.fixture(params=["2.0.1", "2.1"], autouse=True)
def version(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(
        globals(), "call", ocpp.v21.call if request.param == "2.1" else ocpp.v201.call
    )
    return str(request.param)


def ts(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def boot(cp: Any) -> None:
    result = await cp.call(
        call.BootNotification(
            charging_station={"model": "DC150", "vendor_name": "Acme", "firmware_version": "2.0"},
            reason="PowerUp",
        )
    )
    assert result.status == "Accepted"


def energy(minutes: float, kwh: float, **extra: Any) -> dict[str, Any]:
    return {
        "timestamp": ts(minutes),
        "sampled_value": [
            {
                "value": kwh,
                "measurand": "Energy.Active.Import.Register",
                "unit_of_measure": {"unit": "kWh"},
                **extra,
            },
        ],
    }


def event(kind: str, seq: int, minutes: float, tx: str = "TX-1", **kw: Any) -> Any:
    info = {"transaction_id": tx, **kw.pop("info", {})}
    return call.TransactionEvent(
        event_type=kind,
        timestamp=ts(minutes),
        trigger_reason=kw.pop("trigger", "Authorized"),
        seq_no=seq,
        transaction_info=info,
        **kw,
    )


async def test_boot_status_authorize(csms: Csms, store: Store, version: str) -> None:
    await store.put_id_token(IdToken("CARD", group_id="G1"))
    await store.put_id_token(IdToken("STOLEN", status=AuthorizationStatus.BLOCKED))
    await store.put_id_token(IdToken("OLD", expires_at=START - timedelta(hours=1)))
    async with connect_station(csms.url, "CP201", version=version, password=PASSWORD) as cp:
        await boot(cp)
        record = await store.get_station("CP201")
        assert record is not None and record.ocpp_version == version and record.model == "DC150"
        await cp.call(call.Heartbeat())
        for i, (evse, status) in enumerate(
            [
                (1, "Available"),
                (2, "Available"),
                (1, "Occupied"),
                (2, "Faulted"),
                (2, "Unavailable"),
                (1, "Reserved"),
            ]
        ):
            await cp.call(
                call.StatusNotification(
                    timestamp=ts(i), connector_status=status, evse_id=evse, connector_id=1
                )
            )
        latest = await store.connector_statuses("CP201")
        assert [(s.evse_id, s.status) for s in latest] == [
            (1, ConnectorStatus.RESERVED),
            (2, ConnectorStatus.UNAVAILABLE),
        ]
        assert len(await store.status_history("CP201")) == 6
        got = {}
        for tag in ("CARD", "STOLEN", "OLD", "NOBODY"):
            answer = await cp.call(call.Authorize(id_token={"id_token": tag, "type": "ISO14443"}))
            got[tag] = answer.id_token_info
        assert got["CARD"] == {
            "status": "Accepted",
            "group_id_token": {"id_token": "G1", "type": "Central"},
        }
        assert got["STOLEN"] == {"status": "Blocked"}
        assert got["OLD"]["status"] == "Expired"
        assert got["NOBODY"] == {"status": "Unknown"}


async def test_transaction_events_ordered_and_deduplicated(
    csms: Csms, store: Store, version: str
) -> None:
    await store.put_id_token(IdToken("CARD"))
    events: list[DomainEvent] = []
    csms.bus.subscribe(events.append)
    async with connect_station(csms.url, "CP201", version=version, password=PASSWORD) as cp:
        await boot(cp)
        started = await cp.call(
            event(
                "Started",
                0,
                0,
                evse={"id": 1, "connector_id": 1},
                id_token={"id_token": "CARD", "type": "ISO14443"},
                info={"charging_state": "EVConnected"},
                meter_value=[energy(0, 10.0)],
            )
        )
        assert started.id_token_info == {"status": "Accepted"}
        await cp.call(
            event(
                "Updated",
                1,
                5,
                info={"charging_state": "Charging"},
                trigger="ChargingStateChanged",
                meter_value=[
                    {
                        "timestamp": ts(5),
                        "sampled_value": [
                            {
                                "value": 22.1,
                                "measurand": "Power.Active.Import",
                                "unit_of_measure": {"unit": "kW"},
                            },
                            {
                                "value": 11,
                                "measurand": "Energy.Active.Import.Register",
                                "unit_of_measure": {"unit": "Wh", "multiplier": 3},
                            },
                        ],
                    }
                ],
            )
        )
        # seqNo 1 again (the station retried after a lost answer): nothing new.
        await cp.call(
            event(
                "Updated",
                1,
                5,
                info={"charging_state": "Charging"},
                trigger="ChargingStateChanged",
                meter_value=[energy(5, 11.0)],
            )
        )
        # seqNo 3 before 2 (queued offline): the later state wins.
        await cp.call(
            event(
                "Updated",
                3,
                20,
                info={"charging_state": "SuspendedEV"},
                trigger="ChargingStateChanged",
                offline=True,
                meter_value=[energy(20, 14.0)],
            )
        )
        await cp.call(
            event(
                "Updated",
                2,
                10,
                info={"charging_state": "Charging"},
                trigger="MeterValuePeriodic",
                offline=True,
                meter_value=[energy(10, 12.5)],
            )
        )
        tx = await store.find_transaction("CP201", "TX-1")
        assert tx is not None
        assert (tx.charging_state, tx.last_seq_no, tx.offline) == ("SuspendedEV", 3, True)
        await cp.call(
            event(
                "Ended",
                4,
                30,
                info={"stopped_reason": "EVDisconnected", "charging_state": "Idle"},
                trigger="EVCommunicationLost",
                meter_value=[energy(30, 15.25)],
            )
        )
        await cp.call(
            event(
                "Ended",
                4,
                30,
                info={"stopped_reason": "EVDisconnected"},
                trigger="EVCommunicationLost",
                meter_value=[energy(30, 15.25)],
            )
        )
    tx = await store.find_transaction("CP201", "TX-1")
    assert tx is not None
    assert (tx.evse_id, tx.connector_id, tx.id_token) == (1, 1, "CARD")
    assert (tx.meter_start_wh, tx.meter_stop_wh) == (10000.0, 15250.0)
    assert tx.stop_reason == "EVDisconnected" and tx.stopped_at == START + timedelta(minutes=30)
    samples = await store.samples_for_transaction(tx.id)
    got = sorted(
        (s.sample.timestamp, s.sample.measurand, s.sample.value, s.sample.unit) for s in samples
    )
    register = "Energy.Active.Import.Register"
    assert got == sorted(
        [
            (START, register, 10000.0, "Wh"),
            (START + timedelta(minutes=5), "Power.Active.Import", 22100.0, "W"),
            (START + timedelta(minutes=5), register, 11000.0, "Wh"),
            (START + timedelta(minutes=10), register, 12500.0, "Wh"),
            (START + timedelta(minutes=20), register, 14000.0, "Wh"),
            (START + timedelta(minutes=30), register, 15250.0, "Wh"),
        ]
    )
    assert len(await store.list_transactions()) == 1
    assert sum(isinstance(e, TransactionEnded) for e in events) == 1
    # seqNo 1 and 3 changed the state; the late seqNo 2 only added meter values.
    assert sum(isinstance(e, TransactionUpdated) for e in events) == 2


async def test_needs_reports_and_notifications(csms: Csms, store: Store, version: str) -> None:
    async with connect_station(csms.url, "CP201", version=version, password=PASSWORD) as cp:
        await boot(cp)
        events: list[DomainEvent] = []
        csms.bus.subscribe(events.append)
        idle = await cp.call(
            call.NotifyEVChargingNeeds(
                evse_id=2, charging_needs={"requested_energy_transfer": "AC_three_phase"}
            )
        )
        assert idle.status == "Rejected"
        await cp.call(
            event(
                "Started",
                0,
                0,
                tx="TX-9",
                evse={"id": 2, "connector_id": 1},
                trigger="CablePluggedIn",
            )
        )
        needs = await cp.call(
            call.NotifyEVChargingNeeds(
                evse_id=2,
                charging_needs={
                    "requested_energy_transfer": "AC_three_phase",
                    "departure_time": ts(240),
                    "ac_charging_parameters": {
                        "energy_amount": 30000,
                        "ev_min_current": 6,
                        "ev_max_current": 32,
                        "ev_max_voltage": 400,
                    },
                },
            )
        )
        assert needs.status == "Accepted"
        tx = await store.find_transaction("CP201", "TX-9")
        assert tx is not None and tx.needs is not None
        assert tx.needs.energy_requested_wh == 30000.0
        assert tx.needs.departure_at == START + timedelta(hours=4)
        assert (tx.needs.min_current_a, tx.needs.max_current_a) == (6.0, 32.0)
        assert [
            e.needs.energy_requested_wh for e in events if isinstance(e, EVChargingNeedsReceived)
        ] == [30000.0]
        # A DC EV tells its battery: kept for the planner's taper.
        await cp.call(
            event(
                "Started", 1, 0, tx="TX-DC", evse={"id": 1, "connector_id": 1}, trigger="Authorized"
            )
        )
        dc = await cp.call(
            call.NotifyEVChargingNeeds(
                evse_id=1,
                charging_needs={
                    "requested_energy_transfer": "DC",
                    "dc_charging_parameters": {
                        "ev_max_current": 125,
                        "ev_max_voltage": 400,
                        "ev_max_power": 50000,
                        "energy_amount": 40000,
                        "state_of_charge": 35,
                        "ev_energy_capacity": 77000,
                        "bulk_soc": 80,
                        "full_soc": 90,
                    },
                },
            )
        )
        assert dc.status == "Accepted"
        tx = await store.find_transaction("CP201", "TX-DC")
        assert tx is not None and tx.needs is not None
        assert (tx.needs.soc_pct, tx.needs.capacity_wh) == (35.0, 77000.0)
        assert (tx.needs.bulk_soc_pct, tx.needs.full_soc_pct) == (80.0, 90.0)
        assert tx.needs.max_power_w == 50000.0
        if version == "2.1":  # ISO 15118-20 parameters: what the EV asks for, in V2X terms
            await cp.call(event("Started", 0, 1, tx="TX-V2X", evse={"id": 3, "connector_id": 1}))
            v2x = await cp.call(
                call.NotifyEVChargingNeeds(
                    evse_id=3,
                    charging_needs={
                        "requested_energy_transfer": "DC_BPT",
                        "v2x_charging_parameters": {
                            "max_charge_power": 60000,
                            "max_charge_current": 150,
                            "ev_target_energy_request": 42000,
                        },
                    },
                )
            )
            assert v2x.status == "Accepted"
            tx = await store.find_transaction("CP201", "TX-V2X")
            assert tx is not None and tx.needs is not None
            assert (tx.needs.energy_requested_wh, tx.needs.max_power_w) == (42000.0, 60000.0)
            assert tx.needs.max_current_a == 150.0
        await cp.call(
            call.NotifyReport(
                request_id=1,
                generated_at=ts(1),
                seq_no=0,
                report_data=[
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                        "variable_attribute": [{"value": "300"}],
                    }
                ],
            )
        )
        await cp.call(
            call.NotifyEvent(
                generated_at=ts(2),
                seq_no=0,
                event_data=[
                    {
                        "event_id": 1,
                        "timestamp": ts(2),
                        "trigger": "Alerting",
                        "actual_value": "true",
                        "event_notification_type": "HardWiredNotification",
                        "component": {"name": "Connector"},
                        "variable": {"name": "Problem"},
                    }
                ],
            )
        )
        await cp.call(call.SecurityEventNotification(type="FirmwareUpdated", timestamp=ts(3)))
        await cp.call(call.FirmwareStatusNotification(status="Installed", request_id=4))
        dt = await cp.call(call.DataTransfer(vendor_id="com.example"))
        assert dt.status == "UnknownVendorId"
        await cp.call(call.MeterValues(evse_id=2, meter_value=[energy(7, 1.0)]))
    # Ordered by time: the station's own timestamps where the message has one.
    assert [e.kind for e in await store.station_events("CP201")] == [
        "FirmwareStatusNotification",
        "DataTransfer",
        "NotifyReport",
        "NotifyEvent",
        "SecurityEventNotification",
    ]
    report = (await store.station_events("CP201", "NotifyReport"))[0]
    assert report.data["report_data"][0]["variable"] == {"name": "HeartbeatInterval"}
    security = (await store.station_events("CP201", "SecurityEventNotification"))[0]
    assert security.at == START + timedelta(minutes=3)
    assert security.data["type"] == "FirmwareUpdated"
    tx = await store.find_transaction("CP201", "TX-9")
    assert tx is not None
    assert [s.sample.value for s in await store.samples_for_transaction(tx.id)] == [1000.0]


async def test_remote_start_and_commands(csms: Csms, store: Store, version: str) -> None:
    await store.put_id_token(IdToken("APP", kind="Central"))
    script = StationScript()
    holder: dict[str, Any] = {}

    def start_when_asked(kw: dict[str, Any]) -> None:
        holder["task"] = asyncio.ensure_future(
            holder["cp"].call(
                event(
                    "Started",
                    0,
                    1,
                    tx="REMOTE-1",
                    evse={"id": kw["evse_id"], "connector_id": 1},
                    id_token=kw["id_token"],
                    trigger="RemoteStart",
                    info={"remote_start_id": kw["remote_start_id"]},
                )
            )
        )

    script.on_remote_start = start_when_asked
    async with connect_station(
        csms.url, "CP201", version=version, password=PASSWORD, script=script
    ) as cp:
        holder["cp"] = cp
        await boot(cp)
        c = csms.commands
        limit = ChargingLimit("CP201", 1, ChargingRateUnit.WATT, ((0, 7400.0, 1),))
        tx = await c.remote_start("CP201", id_token="APP", evse_id=1, limit=limit)
        assert (tx.station_tx_id, tx.evse_id, tx.id_token) == ("REMOTE-1", 1, "APP")
        sent = script.received[0][1]
        assert sent["id_token"] == {"id_token": "APP", "type": "Central"}
        assert sent["remote_start_id"] == tx.remote_start_id
        assert sent["charging_profile"]["charging_profile_purpose"] == "TxProfile"
        assert (await c.remote_stop("CP201", transaction_id=tx.id)).status == "Accepted"
        assert script.received[-1] == ("RequestStopTransaction", {"transaction_id": "REMOTE-1"})
        assert (await c.reset("CP201", hard=True)).status == "Accepted"
        assert script.received[-1] == ("Reset", {"type": "Immediate"})
        assert (
            await c.change_availability("CP201", evse_id=2, operative=False)
        ).status == "Accepted"
        assert script.received[-1][1] == {"operational_status": "Inoperative", "evse": {"id": 2}}
        assert (await c.unlock_connector("CP201", evse_id=1)).status == "Unlocked"
        assert (
            await c.trigger_message("CP201", message="MeterValues", evse_id=1)
        ).status == "Accepted"
        assert (await c.clear_cache("CP201")).status == "Accepted"
        tx_limit = ChargingLimit(
            "CP201",
            1,
            ChargingRateUnit.AMPERE,
            ((0, 10.5, None),),
            transaction_id=tx.id,
            profile_id=3,
        )
        assert (await c.set_charging_profile(tx_limit)).status == "Accepted"
        profile = script.received[-1][1]["charging_profile"]
        assert profile["transaction_id"] == "REMOTE-1"
        assert profile["charging_schedule"][0]["charging_schedule_period"] == [
            {"start_period": 0, "limit": 10.5}
        ]
        assert (await c.clear_charging_profile("CP201", profile_id=3)).status == "Accepted"
        script.answers["GetCompositeSchedule"] = {
            "status": "Accepted",
            "schedule": {
                "evse_id": 1,
                "duration": 600,
                "schedule_start": ts(0),
                "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": 0, "limit": 10.5}],
            },
        }
        sched = await c.get_composite_schedule("CP201", evse_id=1, duration_s=600)
        assert sched is not None and sched.periods == ((0, 10.5, None),)
        assert sched.start_at == START
        got = await c.get_variables("CP201", [("OCPPCommCtrlr", "HeartbeatInterval")])
        assert [(v.component, v.variable, v.value, v.status) for v in got] == [
            ("OCPPCommCtrlr", "HeartbeatInterval", "300", "Accepted")
        ]
        put = await c.set_variables("CP201", [("OCPPCommCtrlr", "HeartbeatInterval", "60")])
        assert [v.status for v in put] == ["Accepted"]
        assert (await c.get_base_report("CP201")).status == "Accepted"
        with pytest.raises(CommandError, match=r"not available in OCPP 2\.0\.1"):
            await c.get_configuration("CP201")
        raw = await c.send_raw("CP201", "ClearCache", {})
        assert raw == {"status": "Accepted"}
