"""A central system that rejects boots, answers with CALLERRORs or sends bad profiles."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargegrid.clock import VirtualClock
from simulators import BootRejected
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import ev_at, running, station_runner

START = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_boot_rejected_then_pending_then_accepted(central: FakeCentral, version: str) -> None:
    central.boot_statuses = ["Rejected", "Pending", "Accepted"]
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version=version)
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("StatusNotification")), 10)
    actions = [r.action for r in central.received]
    assert actions[:4] == ["BootNotification"] * 3 + ["StatusNotification"]
    assert (runner.stats.boots_rejected, runner.stats.boots_pending) == (1, 1)
    assert runner.online is False  # stopped with the test


async def test_call_errors_are_reported_and_the_session_goes_on(central: FakeCentral) -> None:
    central.fail_actions = {"StatusNotification", "MeterValues"}
    url = await central.start()
    clock = VirtualClock(start=START, speed=1200)
    runner = station_runner(url, clock, version="1.6", sessions=[(1, ev_at(START, 1, 8))])
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("StopTransaction")), 15)
    assert runner.stats.call_errors >= 5
    assert "CALLERROR InternalError" in runner.stats.last_error
    (stop,) = central.of("StopTransaction")
    assert stop["transactionId"] == 1 and stop["meterStop"] > 0
    (record,) = runner.station.records
    assert record.outcome == "partly charged"  # seven minutes of a 36 kWh request
    assert record.delivered_wh > 0


async def test_start_transaction_call_error_drops_that_transaction_cleanly(
    central: FakeCentral,
) -> None:
    central.fail_actions = {"StartTransaction"}
    url = await central.start()
    clock = VirtualClock(start=START, speed=1200)
    runner = station_runner(url, clock, version="1.6", sessions=[(1, ev_at(START, 1, 6))])
    async with running(runner):
        await central.wait_for(
            lambda: (
                [p["status"] for p in central.of("StatusNotification")][-1:] == ["Available"]
                and len(central.of("StatusNotification")) > 2
            ),
            15,
        )
    # Meter values and the stop of a transaction the CSMS never accepted are not sent.
    assert central.of("MeterValues") == [] and central.of("StopTransaction") == []
    assert runner.stats.dropped >= 1


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_schema_invalid_and_contradictory_profiles(
    central: FakeCentral, version: str
) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version=version, sessions=[(1, ev_at(START, 1, 60))])
    begin = START.isoformat()
    decreasing = {
        "start_schedule": begin,
        "charging_rate_unit": "A",
        "charging_schedule_period": [
            {"start_period": 0, "limit": 16},
            {"start_period": 0, "limit": 8},
        ],
    }
    async with running(runner):
        await central.wait_for(
            lambda: bool(central.of("MeterValues") or central.of("TransactionEvent")), 10
        )
        if version == "1.6":
            broken = call16.SetChargingProfile(
                connector_id=1, cs_charging_profiles={"stack_level": "high"}
            )
            contradictory = call16.SetChargingProfile(
                connector_id=1,
                cs_charging_profiles={
                    "charging_profile_id": 3,
                    "stack_level": 0,
                    "charging_profile_purpose": "TxDefaultProfile",
                    "charging_profile_kind": "Absolute",
                    "charging_schedule": decreasing,
                },
            )
        else:
            broken = call201.SetChargingProfile(evse_id=1, charging_profile={"stack_level": "high"})
            contradictory = call201.SetChargingProfile(
                evse_id=1,
                charging_profile={
                    "id": 3,
                    "stack_level": 0,
                    "charging_profile_purpose": "TxDefaultProfile",
                    "charging_profile_kind": "Absolute",
                    "charging_schedule": [{"id": 1, **decreasing}],
                },
            )
        cp = central.connections["SIM-0001"]
        with pytest.raises(OCPPError) as err:
            await cp.call(broken, suppress=False, skip_schema_validation=True)
        assert err.value.code in (
            "FormationViolation",
            "FormatViolation",
            "TypeConstraintViolation",
            "PropertyConstraintViolation",
            "OccurenceConstraintViolation",
            "OccurrenceConstraintViolation",
            "ProtocolError",
        )
        assert runner.stats.calls_refused == 1
        assert runner.stats.last_error.startswith(
            f"SetChargingProfile from the central system refused with CALLERROR {err.value.code}"
        )
        answer = await central.call("SIM-0001", contradictory)
        assert answer.status == "Rejected"
        assert "startPeriod" in runner.stats.last_error
        # The station is still charging and talking.
        sent = runner.stats.calls_sent
        await clock.sleep(180)
    assert runner.stats.calls_sent > sent
    assert len(runner.station.profiles) == 0
    assert runner.station.connector(1).power_w == 11_000


async def test_malformed_frame_fault_does_not_stop_the_station(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version="1.6", sessions=[(1, ev_at(START, 1, 60))])
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("MeterValues")), 10)
        await runner.send_malformed()
        count = len(central.of("MeterValues"))
        await central.wait_for(lambda: len(central.of("MeterValues")) >= count + 2, 10)


async def test_boot_rejected_for_good_raises_when_asked_to_give_up(central: FakeCentral) -> None:
    central.boot_statuses = ["Rejected"]
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = station_runner(url, clock, version="1.6")
    runner.max_boot_rejections = 3
    with pytest.raises(BootRejected, match="after 3 attempts"):
        await asyncio.wait_for(runner.run(), 10)
    assert len(central.of("BootNotification")) == 3
    assert central.of("StatusNotification") == []


async def test_authorize_call_error_counts_as_not_authorized(central: FakeCentral) -> None:
    central.fail_actions = {"Authorize"}
    url = await central.start()
    clock = VirtualClock(start=START, speed=1200)
    runner = station_runner(url, clock, version="2.0.1", sessions=[(1, ev_at(START, 1, 5))])
    async with running(runner):
        await central.wait_for(lambda: len(central.of("StatusNotification")) >= 3, 10)
    assert central.of("TransactionEvent") == []
    (record,) = runner.station.records
    assert record.outcome == "rejected" and record.delivered_wh == 0
