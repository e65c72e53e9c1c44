"""Commands from the central system: remote start/stop, configuration, trigger, reset, ..."""

from __future__ import annotations

from datetime import UTC, datetime

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargegrid.clock import VirtualClock
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import running, station_runner

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)


async def test_ocpp16_commands(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version="1.6", connectors=2)
    async with running(runner):
        await central.wait_for(lambda: len(central.of("StatusNotification")) >= 2, 10)
        call = central.call
        assert (
            await call("SIM-0001", call16.RemoteStartTransaction(id_tag="REMOTE", connector_id=2))
        ).status == "Accepted"
        await central.wait_for(lambda: bool(central.of("StartTransaction")), 10)
        (start,) = central.of("StartTransaction")
        assert (start["connectorId"], start["idTag"]) == (2, "REMOTE")
        assert (
            await call("SIM-0001", call16.RemoteStartTransaction(id_tag="X", connector_id=2))
        ).status == "Rejected"
        await central.wait_for(lambda: bool(central.of("MeterValues")), 10)
        assert (
            await call("SIM-0001", call16.RemoteStopTransaction(transaction_id=1))
        ).status == "Accepted"
        await central.wait_for(lambda: bool(central.of("StopTransaction")), 10)
        assert central.of("StopTransaction")[0]["reason"] == "Remote"
        assert (
            await call("SIM-0001", call16.RemoteStopTransaction(transaction_id=99))
        ).status == "Rejected"

        conf = await call(
            "SIM-0001", call16.GetConfiguration(key=["MeterValueSampleInterval", "Nope"])
        )
        assert conf.configuration_key == [
            {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"}
        ]
        assert conf.unknown_key == ["Nope"]
        assert (
            await call(
                "SIM-0001", call16.ChangeConfiguration(key="MeterValueSampleInterval", value="30")
            )
        ).status == "Accepted"
        assert runner.station.meter_interval_s == 30.0
        assert (
            await call("SIM-0001", call16.ChangeConfiguration(key="NumberOfConnectors", value="5"))
        ).status == "Rejected"

        assert (
            await call("SIM-0001", call16.TriggerMessage(requested_message="Heartbeat"))
        ).status == "Accepted"
        await central.wait_for(lambda: bool(central.of("Heartbeat")), 10)
        assert (
            await call(
                "SIM-0001", call16.TriggerMessage(requested_message="DiagnosticsStatusNotification")
            )
        ).status == "NotImplemented"

        assert (
            await call("SIM-0001", call16.ChangeAvailability(connector_id=1, type="Inoperative"))
        ).status == "Accepted"
        await central.wait_for(
            lambda: central.of("StatusNotification")[-1]["status"] == "Unavailable", 10
        )
        assert (await call("SIM-0001", call16.UnlockConnector(connector_id=1))).status == "Unlocked"
        assert (
            await call("SIM-0001", call16.UnlockConnector(connector_id=7))
        ).status == "NotSupported"

        assert (await call("SIM-0001", call16.Reset(type="Soft"))).status == "Accepted"
        await central.wait_for(lambda: len(central.of("BootNotification")) == 2, 10)


async def test_ocpp201_commands(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version="2.0.1")
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("StatusNotification")), 10)
        call = central.call
        started = await call(
            "SIM-0001",
            call201.RequestStartTransaction(
                id_token={"id_token": "REMOTE", "type": "ISO14443"}, remote_start_id=42, evse_id=1
            ),
        )
        assert started.status == "Accepted" and started.transaction_id == "SIM-0001-00001"
        await central.wait_for(lambda: bool(central.of("TransactionEvent")), 10)
        first = central.of("TransactionEvent")[0]
        assert first["eventType"] == "Started" and first["triggerReason"] == "RemoteStart"
        assert first["transactionInfo"]["remoteStartId"] == 42
        stopped = await call(
            "SIM-0001", call201.RequestStopTransaction(transaction_id="SIM-0001-00001")
        )
        assert stopped.status == "Accepted"
        await central.wait_for(
            lambda: central.of("TransactionEvent")[-1]["eventType"] == "Ended", 10
        )
        assert central.of("TransactionEvent")[-1]["transactionInfo"]["stoppedReason"] == "Remote"

        got = await call(
            "SIM-0001",
            call201.GetVariables(
                get_variable_data=[
                    {
                        "component": {"name": "SampledDataCtrlr"},
                        "variable": {"name": "TxUpdatedInterval"},
                    },
                    {"component": {"name": "Nowhere"}, "variable": {"name": "X"}},
                ]
            ),
        )
        assert [r["attribute_status"] for r in got.get_variable_result] == [
            "Accepted",
            "UnknownComponent",
        ]
        assert got.get_variable_result[0]["attribute_value"] == "60"
        put = await call(
            "SIM-0001",
            call201.SetVariables(
                set_variable_data=[
                    {
                        "attribute_value": "15",
                        "component": {"name": "SampledDataCtrlr"},
                        "variable": {"name": "TxUpdatedInterval"},
                    }
                ]
            ),
        )
        assert put.set_variable_result[0]["attribute_status"] == "Accepted"
        assert runner.station.meter_interval_s == 15.0

        assert (
            await call("SIM-0001", call201.TriggerMessage(requested_message="StatusNotification"))
        ).status == "Accepted"
        assert (
            await call("SIM-0001", call201.ChangeAvailability(operational_status="Inoperative"))
        ).status == "Accepted"
        await central.wait_for(
            lambda: central.of("StatusNotification")[-1]["connectorStatus"] == "Unavailable", 10
        )
        assert (
            await call("SIM-0001", call201.UnlockConnector(evse_id=1, connector_id=1))
        ).status == "Unlocked"
        assert (await call("SIM-0001", call201.Reset(type="Immediate"))).status == "Accepted"
        await central.wait_for(lambda: len(central.of("BootNotification")) == 2, 10)


async def test_ocpp201_reset_on_idle_waits_for_the_transaction(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version="2.0.1")
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("StatusNotification")), 10)
        call = central.call
        token = {"id_token": "REMOTE", "type": "ISO14443"}
        started = await call(
            "SIM-0001", call201.RequestStartTransaction(id_token=token, remote_start_id=1)
        )
        await central.wait_for(lambda: bool(central.of("TransactionEvent")), 10)
        assert (await call("SIM-0001", call201.Reset(type="OnIdle"))).status == "Scheduled"
        await clock.sleep(300)  # five minutes: still charging, no reboot
        assert len(central.of("BootNotification")) == 1
        assert central.of("TransactionEvent")[-1]["eventType"] == "Updated"
        await call(
            "SIM-0001", call201.RequestStopTransaction(transaction_id=started.transaction_id)
        )
        await central.wait_for(lambda: len(central.of("BootNotification")) == 2, 10)
    # The transaction ended (and was delivered) before the station went down.
    ended = [i for i, r in enumerate(central.received) if r.action == "TransactionEvent"][-1]
    reboot = [i for i, r in enumerate(central.received) if r.action == "BootNotification"][-1]
    assert central.received[ended].payload["eventType"] == "Ended" and ended < reboot
    assert central.received[ended].payload["transactionInfo"]["stoppedReason"] == "Remote"
