"""Injected faults: connector fault, EV stops drawing, meter jump, late answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.v16 import call as call16

from chargegrid.clock import VirtualClock
from simulators import Fault
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import ev_at, running, station_runner

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)


def test_fault_specs_parse() -> None:
    assert Fault.parse("meter-jump,SIM-0002,1.5,2,5000") == Fault(
        kind="meter-jump", station_id="SIM-0002", after_s=5400.0, connector_id=2, value=5000.0
    )
    with pytest.raises(ValueError, match="unknown fault"):
        Fault.parse("explode,SIM-0001,1")
    with pytest.raises(ValueError, match="expected KIND"):
        Fault.parse("meter-jump")


async def test_connector_fault_stops_the_transaction(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version="1.6", sessions=[(1, ev_at(START, 1, 60))])
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("MeterValues")), 10)
        await runner.inject("connector-fault")
        await central.wait_for(lambda: bool(central.of("StopTransaction")), 10)
        await central.wait_for(
            lambda: central.of("StatusNotification")[-1]["status"] == "Faulted", 10
        )
        assert central.of("StatusNotification")[-1]["errorCode"] == "OtherError"
        assert central.of("StopTransaction")[0]["reason"] == "Other"
        await runner.inject("clear-fault")
        await central.wait_for(
            lambda: central.of("StatusNotification")[-1]["status"] == "Preparing", 10
        )


async def test_ev_stops_drawing_and_meter_jump(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version="1.6", sessions=[(1, ev_at(START, 1, 60))])
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("MeterValues")), 10)
        await runner.inject("meter-jump", value=50_000)
        await runner.inject("ev-stops-drawing")
        await central.wait_for(
            lambda: central.of("StatusNotification")[-1]["status"] == "SuspendedEV", 10
        )
        n = len(central.of("MeterValues"))
        await central.wait_for(lambda: len(central.of("MeterValues")) > n, 10)
    last = central.of("MeterValues")[-1]["meterValue"][0]["sampledValue"]
    values = {v["measurand"]: float(v["value"]) for v in last if "phase" not in v}
    assert values["Energy.Active.Import.Register"] > 50_000
    assert values["Power.Active.Import"] == 0.0


async def test_late_answers_time_out_at_the_central_system(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version="1.6")
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("StatusNotification")), 10)
        await runner.inject("late-answers", value=600)  # 1 s of real time at speed 600
        cp = central.connections["SIM-0001"]
        cp._response_timeout = 0.3
        with pytest.raises(TimeoutError):
            await cp.call(call16.GetConfiguration(), suppress=False)
        runner.answer_delay_s = 0
        cp._response_timeout = 5
        await clock.sleep(700)
        answer = await cp.call(call16.GetConfiguration(key=["HeartbeatInterval"]), suppress=False)
        assert answer.configuration_key[0]["value"] == "300"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_local_stop_by_the_driver(central: FakeCentral, version: str) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version=version, sessions=[(1, ev_at(START, 1, 60))])
    async with running(runner):
        await central.wait_for(
            lambda: bool(central.of("MeterValues") or len(central.of("TransactionEvent")) > 2), 10
        )
        await runner.inject("local-stop")
        if version == "1.6":
            await central.wait_for(lambda: bool(central.of("StopTransaction")), 10)
            await central.wait_for(
                lambda: central.of("StatusNotification")[-1]["status"] == "Finishing", 10
            )
            (stop,) = central.of("StopTransaction")
            assert stop["reason"] == "Local" and stop["meterStop"] > 0
        else:
            await central.wait_for(
                lambda: central.of("TransactionEvent")[-1]["eventType"] == "Ended", 10
            )
            ended = central.of("TransactionEvent")[-1]
            assert ended["transactionInfo"]["stoppedReason"] == "Local"
            assert ended["triggerReason"] == "StopAuthorized"
        assert runner.station.connector(1).ev is not None  # still plugged in


async def test_ocpp201_connector_fault_ev_stops_drawing_and_meter_jump(
    central: FakeCentral,
) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version="2.0.1", sessions=[(1, ev_at(START, 1, 60))])

    def events() -> list[dict[str, Any]]:
        return central.of("TransactionEvent")

    async with running(runner):
        await central.wait_for(lambda: len(events()) > 2, 10)
        await runner.inject("meter-jump", value=50_000)
        await runner.inject("ev-stops-drawing")
        await central.wait_for(
            lambda: events()[-1]["transactionInfo"]["chargingState"] == "SuspendedEV", 10
        )
        n = len(events())
        await central.wait_for(lambda: len(events()) > n, 10)
        last = events()[-1]["meterValue"][0]["sampledValue"]
        values = {v["measurand"]: v["value"] for v in last if "phase" not in v}
        assert values["Energy.Active.Import.Register"] > 50_000
        assert values["Power.Active.Import"] == 0.0
        await runner.inject("connector-fault")
        await central.wait_for(lambda: events()[-1]["eventType"] == "Ended", 10)
        await central.wait_for(
            lambda: central.of("StatusNotification")[-1]["connectorStatus"] == "Faulted", 10
        )
    assert events()[-1]["transactionInfo"]["stoppedReason"] == "Other"
    assert [e["seqNo"] for e in events()] == list(range(len(events())))
