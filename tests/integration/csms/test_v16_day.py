"""A working day of an OCPP 1.6J station against the real server (every store)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from ocpp.v16 import call

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.domain import (
    AuthorizationStatus,
    ChargingLimit,
    ChargingRateUnit,
    ConnectorStatus,
    IdToken,
)
from csms.events import DomainEvent, TransactionEnded, TransactionStarted
from csms.exceptions import CommandError, CommandRejected, CommandTimeout, StationOffline
from csms.store import Store
from tests.integration.csms.conftest import PASSWORD, START
from tests.integration.csms.stations import StationScript, connect_station
from tests.waiting import wait_until


def ts(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def boot(cp: object) -> None:
    result = await cp.call(  # type: ignore[attr-defined]
        call.BootNotification(
            charge_point_vendor="Acme", charge_point_model="AC22", firmware_version="1.2.3"
        )
    )
    assert result.status == "Accepted"
    assert result.interval == 300


async def test_boot_heartbeat_and_status(csms: Csms, store: Store) -> None:
    async with connect_station(csms.url, "CP16", password=PASSWORD) as cp:
        await boot(cp)
        hb = await cp.call(call.Heartbeat())
        assert hb.current_time == "2026-03-02T06:00:00.000Z"
        reports = [
            (0, "Available", "NoError"),
            (1, "Available", "NoError"),
            (2, "Preparing", "NoError"),
            (2, "Faulted", "GroundFailure"),
            (1, "Charging", "NoError"),
            (1, "SuspendedEV", "NoError"),
            (2, "Unavailable", "OtherError"),
        ]
        for i, (connector, status, error) in enumerate(reports):
            await cp.call(
                call.StatusNotification(
                    connector_id=connector,
                    error_code=error,
                    status=status,
                    timestamp=ts(i),
                    info="info" if error == "OtherError" else None,
                    vendor_error_code="E42" if error == "OtherError" else None,
                )
            )
        record = await store.get_station("CP16")
        assert record is not None
        assert (record.vendor, record.model, record.firmware_version) == ("Acme", "AC22", "1.2.3")
        assert record.ocpp_version == "1.6"
        assert record.connected
        latest = await store.connector_statuses("CP16")
        assert [(s.evse_id, s.connector_id, s.status, s.error_code) for s in latest] == [
            (0, 0, ConnectorStatus.AVAILABLE, "NoError"),
            (1, 1, ConnectorStatus.SUSPENDED_EV, "NoError"),
            (2, 1, ConnectorStatus.UNAVAILABLE, "OtherError"),
        ]
        assert latest[2].info == "info" and latest[2].vendor_error_code == "E42"
        history = await store.status_history("CP16", evse_id=2)
        assert [(s.status.value, s.error_code) for s in history] == [
            ("Preparing", "NoError"),
            ("Faulted", "GroundFailure"),
            ("Unavailable", "OtherError"),
        ]

    async def disconnected() -> bool:
        record = await store.get_station("CP16")
        return record is not None and not record.connected

    await wait_until(disconnected, 30, "the disconnection recorded")


async def test_authorize_statuses(csms: Csms, store: Store, clock: ManualClock) -> None:
    await store.put_id_token(IdToken("GOOD", group_id="FLEET"))
    await store.put_id_token(IdToken("BLOCKED", status=AuthorizationStatus.BLOCKED))
    await store.put_id_token(IdToken("OLD", expires_at=START - timedelta(days=1)))
    await store.put_id_token(IdToken("SOON", expires_at=START + timedelta(hours=1)))
    async with connect_station(csms.url, "CP16", password=PASSWORD) as cp:
        await boot(cp)
        got = {}
        for tag in ("GOOD", "BLOCKED", "OLD", "UNKNOWN", "SOON"):
            got[tag] = (await cp.call(call.Authorize(id_tag=tag))).id_tag_info
        assert got["GOOD"] == {"status": "Accepted", "parent_id_tag": "FLEET"}
        assert got["BLOCKED"] == {"status": "Blocked"}
        assert got["OLD"] == {"status": "Expired", "expiry_date": "2026-03-01T06:00:00.000Z"}
        assert got["UNKNOWN"] == {"status": "Invalid"}
        assert got["SOON"] == {"status": "Accepted", "expiry_date": "2026-03-02T07:00:00.000Z"}
        clock.advance(2 * 3600)
        late = await cp.call(call.Authorize(id_tag="SOON"))
        assert late.id_tag_info["status"] == "Expired"


async def test_transactions_on_two_connectors(csms: Csms, store: Store) -> None:
    await store.put_id_token(IdToken("ALICE"))
    await store.put_id_token(IdToken("BOB"))
    events: list[DomainEvent] = []
    csms.bus.subscribe(events.append)
    async with connect_station(csms.url, "CP16", password=PASSWORD) as cp:
        await boot(cp)
        a = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="ALICE", meter_start=1000, timestamp=ts(0))
        )
        b = await cp.call(
            call.StartTransaction(connector_id=2, id_tag="BOB", meter_start=5000, timestamp=ts(1))
        )
        assert a.id_tag_info == {"status": "Accepted"}
        assert a.transaction_id != b.transaction_id
        # A retried StartTransaction (same connector, tag, meter, timestamp) is the same one.
        again = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="ALICE", meter_start=1000, timestamp=ts(0))
        )
        assert again.transaction_id == a.transaction_id
        assert len(await store.list_transactions()) == 2
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=a.transaction_id,
                meter_value=[
                    {
                        "timestamp": ts(5),
                        "sampled_value": [
                            {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
                            {"value": "1.5", "unit": "kWh", "context": "Sample.Periodic"},
                            {
                                "value": "16.1",
                                "measurand": "Current.Import",
                                "unit": "A",
                                "phase": "L1",
                            },
                            {
                                "value": "231.5",
                                "measurand": "Voltage",
                                "unit": "V",
                                "phase": "L1-N",
                            },
                            {
                                "value": "40",
                                "measurand": "SoC",
                                "unit": "Percent",
                                "location": "EV",
                            },
                            {
                                "value": "31",
                                "measurand": "Temperature",
                                "unit": "Celsius",
                                "location": "Body",
                            },
                        ],
                    }
                ],
            )
        )
        stop = await cp.call(
            call.StopTransaction(
                meter_stop=3200,
                timestamp=ts(60),
                transaction_id=a.transaction_id,
                reason="EVDisconnected",
                id_tag="ALICE",
                transaction_data=[
                    {"timestamp": ts(30), "sampled_value": [{"value": "2100", "unit": "Wh"}]}
                ],
            )
        )
        assert stop.id_tag_info == {"status": "Accepted"}
        # The same StopTransaction again (station retry) changes nothing and stores nothing twice.
        await cp.call(
            call.StopTransaction(
                meter_stop=3200,
                timestamp=ts(60),
                transaction_id=a.transaction_id,
                reason="EVDisconnected",
                transaction_data=[
                    {"timestamp": ts(30), "sampled_value": [{"value": "2100", "unit": "Wh"}]}
                ],
            )
        )
        tx = await store.get_transaction(a.transaction_id)
        assert tx is not None
        assert (tx.evse_id, tx.connector_id, tx.id_token) == (1, 1, "ALICE")
        assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (1000.0, 3200.0, 2200.0)
        assert tx.stop_reason == "EVDisconnected"
        assert tx.stopped_at == START + timedelta(minutes=60)
        samples = await store.samples_for_transaction(a.transaction_id)
        got = sorted(
            (s.sample.measurand, s.sample.value, s.sample.unit, s.sample.phase, s.sample.location)
            for s in samples
        )
        assert got == sorted(
            [
                ("Power.Active.Import", 7400.0, "W", None, None),
                ("Energy.Active.Import.Register", 1500.0, "Wh", None, None),
                ("Current.Import", 16.1, "A", "L1", None),
                ("Voltage", 231.5, "V", "L1-N", None),
                ("SoC", 40.0, "%", None, "EV"),
                ("Temperature", 31.0, "Celsius", None, "Body"),
                ("Energy.Active.Import.Register", 2100.0, "Wh", None, None),
            ]
        )
        other = await store.get_transaction(b.transaction_id)
        assert other is not None and other.active
    started = [e.transaction.id for e in events if isinstance(e, TransactionStarted)]
    ended = [e.transaction.id for e in events if isinstance(e, TransactionEnded)]
    assert started == [a.transaction_id, b.transaction_id]
    assert ended == [a.transaction_id]


async def test_data_transfer_and_notifications(csms: Csms, store: Store) -> None:
    async with connect_station(csms.url, "CP16", password=PASSWORD) as cp:
        await boot(cp)
        dt = await cp.call(call.DataTransfer(vendor_id="com.example", message_id="x", data="1"))
        assert dt.status == "UnknownVendorId"
        await cp.call(call.FirmwareStatusNotification(status="Downloading"))
        await cp.call(call.FirmwareStatusNotification(status="Installed"))
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    fw = await store.station_events("CP16", "FirmwareStatusNotification")
    assert [e.data["status"] for e in fw] == ["Downloading", "Installed"]
    diag = await store.station_events("CP16", "DiagnosticsStatusNotification")
    assert [e.data["status"] for e in diag] == ["Uploaded"]
    transfers = await store.station_events("CP16", "DataTransfer")
    assert transfers[0].data == {"vendor_id": "com.example", "message_id": "x", "data": "1"}


async def test_remote_start_returns_the_transaction(csms: Csms, store: Store) -> None:
    await store.put_id_token(IdToken("APP-7", kind="Central"))
    script = StationScript()
    holder: dict[str, object] = {}

    def start_when_asked(kw: dict[str, object]) -> None:
        cp = holder["cp"]

        async def go() -> None:
            await cp.call(
                call.StartTransaction(  # type: ignore[attr-defined]
                    connector_id=kw["connector_id"],
                    id_tag=kw["id_tag"],
                    meter_start=0,
                    timestamp=ts(10),
                )
            )

        holder["task"] = asyncio.ensure_future(go())

    script.on_remote_start = start_when_asked
    async with connect_station(csms.url, "CP16", password=PASSWORD, script=script) as cp:
        holder["cp"] = cp
        await boot(cp)
        limit = ChargingLimit("CP16", 2, ChargingRateUnit.AMPERE, ((0, 16.0, None),))
        tx = await csms.commands.remote_start("CP16", id_token="APP-7", evse_id=2, limit=limit)
        assert (tx.station_id, tx.evse_id, tx.id_token) == ("CP16", 2, "APP-7")
        assert (await store.get_transaction(tx.id)) is not None
        action, sent = script.received[0]
        assert action == "RemoteStartTransaction"
        assert sent["connector_id"] == 2 and sent["id_tag"] == "APP-7"
        assert sent["charging_profile"]["charging_schedule"]["charging_schedule_period"] == [
            {"start_period": 0, "limit": 16.0}
        ]
        result = await csms.commands.remote_stop("CP16", transaction_id=tx.id)
        assert result.status == "Accepted"
        assert script.received[-1] == ("RemoteStopTransaction", {"transaction_id": tx.id})
        # A refused remote start raises CommandRejected.
        script.answers["RemoteStartTransaction"] = {"status": "Rejected"}
        with pytest.raises(CommandRejected, match="Rejected"):
            await csms.commands.remote_start("CP16", id_token="APP-7", evse_id=1)
        assert len(csms.central.remote_starts) == 0


async def test_commands(csms: Csms) -> None:
    script = StationScript()
    async with connect_station(csms.url, "CP16", password=PASSWORD, script=script) as cp:
        await boot(cp)
        c = csms.commands
        assert (await c.reset("CP16", hard=True)).status == "Accepted"
        assert (
            await c.change_availability("CP16", evse_id=1, operative=False)
        ).status == "Accepted"
        assert (await c.unlock_connector("CP16", evse_id=2)).status == "Unlocked"
        assert (
            await c.trigger_message("CP16", message="StatusNotification", evse_id=1)
        ).status == "Accepted"
        assert (await c.clear_cache("CP16")).status == "Accepted"
        limit = ChargingLimit(
            "CP16",
            1,
            ChargingRateUnit.WATT,
            ((0, 11000.04, 3), (1800, 7400.0, None)),
            purpose="TxDefaultProfile",
            stack_level=1,
            profile_id=9,
        )
        assert (await c.set_charging_profile(limit)).status == "Accepted"
        assert (await c.clear_charging_profile("CP16", profile_id=9)).status == "Accepted"
        script.answers["GetCompositeSchedule"] = {
            "status": "Accepted",
            "connector_id": 1,
            "schedule_start": ts(0),
            "charging_schedule": {
                "charging_rate_unit": "W",
                "duration": 3600,
                "charging_schedule_period": [{"start_period": 0, "limit": 11000.0}],
            },
        }
        sched = await c.get_composite_schedule("CP16", evse_id=1, duration_s=3600)
        assert sched is not None
        assert (sched.unit, sched.duration_s, sched.periods) == (
            ChargingRateUnit.WATT,
            3600,
            ((0, 11000.0, None),),
        )
        config = await c.get_configuration("CP16", ["HeartbeatInterval", "Nope"])
        assert [(v.variable, v.value, v.status) for v in config] == [
            ("HeartbeatInterval", "300", "Accepted"),
            ("Nope", None, "UnknownKey"),
        ]
        assert (
            await c.change_configuration("CP16", "HeartbeatInterval", "60")
        ).status == "Accepted"
        with pytest.raises(CommandError, match=r"not available in OCPP 1\.6"):
            await c.get_variables("CP16", [("OCPPCommCtrlr", "HeartbeatInterval")])
        names = [a for a, _ in script.received]
        assert names == [
            "Reset",
            "ChangeAvailability",
            "UnlockConnector",
            "TriggerMessage",
            "ClearCache",
            "SetChargingProfile",
            "ClearChargingProfile",
            "GetCompositeSchedule",
            "GetConfiguration",
            "ChangeConfiguration",
        ]
        profile = script.received[5][1]
        assert profile["connector_id"] == 1
        cs = profile["cs_charging_profiles"]
        assert cs["charging_profile_purpose"] == "TxDefaultProfile"
        assert cs["charging_schedule"]["charging_schedule_period"] == [
            {"start_period": 0, "limit": 11000.0, "number_phases": 3},
            {"start_period": 1800, "limit": 7400.0},
        ]
        script.answers["Reset"] = {"status": "Rejected"}
        with pytest.raises(CommandRejected):
            await c.reset("CP16")


async def test_offline_and_silent_stations(csms: Csms, store: Store) -> None:
    with pytest.raises(StationOffline):
        await csms.commands.reset("CP16")
    # A station that never answers times out without blocking commands to another station.
    async with connect_station(csms.url, "OTHER", password=PASSWORD) as other:
        await boot(other)
        from tests.integration.csms.stations import raw_connect

        async with raw_connect(csms.url, "CP16", password=PASSWORD):
            link = await wait_until(lambda: csms.server.link("CP16"), 30, "CP16's link")
            link.call_timeout_s = 1.5
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            silent = asyncio.create_task(csms.commands.reset("CP16"))
            ok = await csms.commands.clear_cache("OTHER")
            assert ok.status == "Accepted"
            assert loop.time() - t0 < 1.0
            with pytest.raises(CommandTimeout, match=r"no answer within 1\.5 s"):
                await silent


async def test_every_status_and_error_code_is_kept(csms: Csms, store: Store) -> None:
    from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus

    statuses = [s.value for s in ChargePointStatus]
    errors = [e.value for e in ChargePointErrorCode]
    sent = [(statuses[i % len(statuses)], code) for i, code in enumerate(errors)]
    sent += [(status, "NoError") for status in statuses]
    async with connect_station(csms.url, "CP16", password=PASSWORD) as cp:
        await boot(cp)
        for i, (status, code) in enumerate(sent):
            await cp.call(
                call.StatusNotification(
                    connector_id=i % 3, error_code=code, status=status, timestamp=ts(i)
                )
            )
    history = await store.status_history("CP16")
    assert [(h.connector_id and h.evse_id, h.status.value, h.error_code) for h in history] == [
        (i % 3, status, code) for i, (status, code) in enumerate(sent)
    ]


async def test_library_style_call_and_invalid_requests(csms: Csms) -> None:
    from ocpp.v16 import call as cs_call

    from csms.exceptions import CommandFailed

    async with connect_station(csms.url, "CP16", password=PASSWORD) as cp:
        await boot(cp)
        link = csms.server.link("CP16")
        assert link is not None
        result = await link.call(cs_call.ClearCache())
        assert result.status == "Accepted"
        with pytest.raises(CommandFailed, match="invalid request"):
            await csms.commands.send_raw("CP16", "Reset", {"type": "Sideways"})
        with pytest.raises(CommandFailed, match="CALLERROR NotImplemented"):
            # The test station has no handler for this action: its library answers
            # NotImplemented, which arrives as CommandFailed.
            await csms.commands.send_raw("CP16", "GetLocalListVersion", {})
