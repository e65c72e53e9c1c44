from __future__ import annotations

import itertools
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
    stamps = [parse_time(v["meterValue"][0]["timestamp"]) for v in values]
    # One a minute, clock-aligned, from the first minute after the start until 18:15.
    assert len(values) >= 10
    assert all((b - a).total_seconds() == 60.0 for a, b in itertools.pairwise(stamps))
    assert stamps[0].second == 0 and stamps[-1] == START + timedelta(minutes=15)
    registers = [energy(v["meterValue"][0]) for v in values]
    assert registers == sorted(registers)
    # 11 kW (the EV's maximum) from the start to the stop: 2750 Wh for 15 minutes.
    charged_h = (
        parse_time(stop["timestamp"]) - parse_time(start["timestamp"])
    ).total_seconds() / 3600
    assert stop["meterStop"] == pytest.approx(11_000 * charged_h, abs=2)
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
    charged_h = (
        parse_time(events[-1]["timestamp"]) - parse_time(events[0]["timestamp"])
    ).total_seconds() / 3600
    assert energy(last) == pytest.approx(11_000 * charged_h, abs=2)
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
