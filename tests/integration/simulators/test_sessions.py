from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chargegrid.clock import VirtualClock
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import ev_at, parse_time, running, station_runner

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)


def energy(meter_value: dict) -> float:  # type: ignore[type-arg]
    for sv in meter_value["sampledValue"]:
        if sv["measurand"] == "Energy.Active.Import.Register":
            return float(sv["value"])
    raise AssertionError("no energy register")


async def test_full_session_ocpp16(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=1200)
    runner = station_runner(url, clock, version="1.6", sessions=[(1, ev_at(START, 1, 16))])
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("StopTransaction")), 15)
        await central.wait_for(
            lambda: central.of("StatusNotification")[-1]["status"] == "Available"
        )
    actions = [r.action for r in central.received]
    assert actions[:6] == [
        "BootNotification",
        "StatusNotification",
        "StatusNotification",
        "Authorize",
        "StartTransaction",
        "StatusNotification",
    ]
    statuses = [p["status"] for p in central.of("StatusNotification")]
    assert statuses == ["Available", "Preparing", "Charging", "Finishing", "Available"]
    (start,) = central.of("StartTransaction")
    assert start["idTag"] == "TAG1" and start["meterStart"] == 0
    (stop,) = central.of("StopTransaction")
    assert stop["transactionId"] == 1 and stop["reason"] == "EVDisconnected"
    values = central.of("MeterValues")
    assert 13 <= len(values) <= 15  # one a minute from 18:02 to 18:15
    stamps = [parse_time(v["meterValue"][0]["timestamp"]) for v in values]
    assert stamps == sorted(stamps)
    assert START + timedelta(minutes=1) <= stamps[0] and stamps[-1] <= START + timedelta(minutes=16)
    registers = [energy(v["meterValue"][0]) for v in values]
    assert registers == sorted(registers)
    # 11 kW (the EV's maximum) for 15 minutes is 2750 Wh.
    assert stop["meterStop"] == pytest.approx(2750, abs=40)
    assert parse_time(stop["timestamp"]) - START == pytest.approx(
        timedelta(minutes=16), abs=timedelta(seconds=20)
    )
    assert runner.stats.call_errors == 0


async def test_full_session_ocpp201(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=1200)
    runner = station_runner(url, clock, version="2.0.1", sessions=[(1, ev_at(START, 1, 16))])
    async with running(runner):
        await central.wait_for(
            lambda: any(p["eventType"] == "Ended" for p in central.of("TransactionEvent")), 15
        )
        await central.wait_for(
            lambda: central.of("StatusNotification")[-1]["connectorStatus"] == "Available"
        )
    actions = [r.action for r in central.received]
    assert actions[:5] == [
        "BootNotification",
        "StatusNotification",
        "StatusNotification",
        "Authorize",
        "TransactionEvent",
    ]
    assert [p["connectorStatus"] for p in central.of("StatusNotification")] == [
        "Available",
        "Occupied",
        "Available",
    ]
    events = central.of("TransactionEvent")
    assert events[0]["eventType"] == "Started" and events[-1]["eventType"] == "Ended"
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert {e["transactionInfo"]["transactionId"] for e in events} == {"SIM-0001-00001"}
    assert all("offline" not in e for e in events)
    assert events[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    (needs,) = central.of("NotifyEVChargingNeeds")
    # 60 kWh battery from 20 % to 80 %.
    assert needs["chargingNeeds"]["acChargingParameters"]["energyAmount"] == 36000
    last = events[-1]["meterValue"][0]
    assert energy(last) == pytest.approx(2750, abs=40)
    assert runner.stats.call_errors == 0


async def test_wrong_password_never_boots(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version="1.6", password="wrong")
    async with running(runner):
        await clock.sleep(120)
    assert central.received == []
    assert runner.stats.connects == 0
    assert "401" in runner.stats.last_error
