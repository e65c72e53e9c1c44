"""A simulated storage unit over a real OCPP 2.1 connection: it boots, reports SoC, power and
energy in MeterValues, obeys a CentralSetpoint profile, refuses one it cannot follow, reports
its over-temperature alarm, and keeps its reports through an outage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp.v21 import call as call21

from chargegrid.clock import VirtualClock
from simulators import Fleet, FleetConfig, generate
from simulators.fleet_devices import STORAGE_SUMMARY_COLUMNS
from simulators.storage import StorageSpec, StorageUnit
from simulators.storage_runner import StorageRunner
from simulators.storage_station import StorageStation
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import chargegrid_sim, running

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def storage_runner(url: str, clock: VirtualClock, **spec: Any) -> StorageRunner:
    values: dict[str, Any] = {
        "unit_id": "STOR-0001",
        "capacity_wh": 200_000.0,
        "max_charge_w": 50_000.0,
        "max_discharge_w": 50_000.0,
        "temperature_rise_at_rated_c": 5.0,
    }
    values.update(spec)
    unit = StorageUnit(StorageSpec(**values), start=clock.now())
    return StorageRunner(
        StorageStation(unit, meter_interval_s=60.0), url=url, clock=clock, password="secret"
    )


def measurand(payload: dict[str, Any], name: str) -> float:
    for value in payload["meterValue"][0]["sampledValue"]:
        if value["measurand"] == name:
            return float(value["value"])
    raise AssertionError(f"no {name}")


def setpoint_profile(setpoint_w: float, *, purpose: str = "TxDefaultProfile") -> dict[str, Any]:
    return {
        "id": 3,
        "stack_level": 0,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Relative",
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "W",
                "duration": 3600,
                "charging_schedule_period": [
                    {"start_period": 0, "operation_mode": "CentralSetpoint", "setpoint": setpoint_w}
                ],
            }
        ],
    }


async def test_storage_unit_reports_and_obeys_a_central_setpoint(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = storage_runner(url, clock)
    async with running(runner):
        await central.wait_for(lambda: len(central.of("MeterValues")) >= 2, 15)
        (boot,) = central.of("BootNotification")
        assert boot["chargingStation"]["model"] == "SimStorage"
        status = central.of("StatusNotification")[0]
        assert (status["evseId"], status["connectorStatus"]) == (1, "Available")
        idle = central.of("MeterValues")[-1]
        assert measurand(idle, "SoC") == 50.0 and measurand(idle, "Power.Active.Export") == 0.0

        answer = await central.call(
            "STOR-0001",
            call21.SetChargingProfile(evse_id=1, charging_profile=setpoint_profile(-30_000)),
        )
        assert answer.status == "Accepted"
        await central.wait_for(
            lambda: measurand(central.of("MeterValues")[-1], "Power.Active.Export") == 30_000.0, 15
        )
        before = len(central.of("MeterValues"))
        await central.wait_for(lambda: len(central.of("MeterValues")) >= before + 2, 15)
        last = central.of("MeterValues")[-1]
        assert measurand(last, "Energy.Active.Export.Register") > 0
        assert measurand(last, "SoC") < 50.0

        refused = await central.call(
            "STOR-0001",
            call21.SetChargingProfile(
                evse_id=1,
                charging_profile=setpoint_profile(10_000, purpose="TxProfile")
                | {"transaction_id": "T"},
            ),
        )
        assert refused.status == "Rejected"
        assert refused.status_info["reason_code"] == "TxNotFound"
        assert runner.stats.profiles_rejected == 1

        cleared = await central.call(
            "STOR-0001", call21.ClearChargingProfile(charging_profile_id=3)
        )
        assert cleared.status == "Accepted"
        await central.wait_for(
            lambda: measurand(central.of("MeterValues")[-1], "Power.Active.Export") == 0.0, 15
        )
        triggered = await central.call(
            "STOR-0001", call21.TriggerMessage(requested_message="StatusNotification")
        )
        assert triggered.status == "Accepted"
        start = await central.call(
            "STOR-0001",
            call21.RequestStartTransaction(
                id_token={"id_token": "X", "type": "Central"}, remote_start_id=1
            ),
        )
        assert start.status == "Rejected"
    assert runner.stats.call_errors == 0


async def test_over_temperature_alarm_reaches_the_central_system(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=1200)
    runner = storage_runner(
        url, clock, temperature_rise_at_rated_c=30.0, thermal_time_constant_s=300.0
    )
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("BootNotification")), 15)
        await central.call(
            "STOR-0001",
            call21.SetChargingProfile(evse_id=1, charging_profile=setpoint_profile(50_000)),
        )

        def alarms() -> list[dict[str, Any]]:
            return [
                data
                for payload in central.of("NotifyEvent")
                for data in payload["eventData"]
                if data["trigger"] == "Alerting"
            ]

        await central.wait_for(lambda: len(alarms()) >= 2, 20)
    raised, cleared = alarms()[:2]
    assert raised["cleared"] is False and cleared["cleared"] is True
    assert raised["component"] == {"name": "TemperatureSensor", "evse": {"id": 1}}
    statuses = [p["connectorStatus"] for p in central.of("StatusNotification")]
    assert "Faulted" in statuses
    assert runner.stats.call_errors == 0


async def test_reports_made_offline_are_delivered_after_the_reconnect(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    runner = storage_runner(url, clock)
    async with running(runner):
        await central.wait_for(lambda: len(central.of("MeterValues")) >= 1, 15)
        central.refusing = True
        await central.drop()
        await central.wait_for(lambda: not runner.online, 15)
        await central.wait_for(lambda: runner.stats.offline_queued >= 3, 30)
        central.refusing = False
        await central.wait_for(lambda: runner.online and not runner.outbox, 60)
    stamps = [p["meterValue"][0]["timestamp"] for p in central.of("MeterValues")]
    # in order; at least once (one in flight when the socket dropped may come twice)
    assert stamps == sorted(stamps)
    minutes = [datetime.fromisoformat(s.replace("Z", "+00:00")).minute for s in sorted(set(stamps))]
    assert minutes == list(range(minutes[0], minutes[0] + len(minutes)))  # none lost
    assert len(minutes) >= 4


async def test_a_fleet_runs_storage_units_beside_its_stations(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=600)
    spec = StorageSpec(
        unit_id="STOR-0001", capacity_wh=100_000.0, max_charge_w=40_000.0, max_discharge_w=40_000.0
    )
    config = FleetConfig(url=url, stations=1, ocpp="2.0.1", password="secret", storage=(spec,))
    fleet = Fleet(config, generate("depot", stations=1, seed=1, start=START), clock=clock)
    assert [r.station_id for r in fleet.storage_runners] == ["STOR-0001"]

    async def dispatch() -> None:
        await central.wait_for(lambda: "STOR-0001" in central.connections, 15)
        await central.wait_for(lambda: bool(central.of("StatusNotification", "STOR-0001")), 15)
        answer = await central.call(
            "STOR-0001",
            call21.SetChargingProfile(evse_id=1, charging_profile=setpoint_profile(20_000)),
        )
        assert answer.status == "Accepted"

    task = asyncio.create_task(dispatch())
    await fleet.run(until=START + timedelta(minutes=30), progress_every_s=0.1)
    await task
    assert {r.station_id for r in central.received} == {"SIM-0001", "STOR-0001"}
    [row] = fleet.storage_summary().to_dict("records")
    assert row["unit_id"] == "STOR-0001"
    assert row["energy_in_wh"] > 0 and row["soc_end_pct"] > 50.0
    assert list(fleet.storage_summary().columns) == list(STORAGE_SUMMARY_COLUMNS)
    assert fleet.never_connected() == []


async def test_chargegrid_sim_runs_storage_units(central: FakeCentral, tmp_path: Path) -> None:
    url = await central.start()
    args = ["--url", url, "--stations", "1", "--storage", "2", "--storage-power-w", "50000"]
    args += ["--password", "secret", "--speed", "3600", "--duration-h", "0.5"]
    args += ["--summary-csv", str(tmp_path / "s.csv"), "--progress-s", "0.5"]
    code, out, err = await chargegrid_sim(*args)
    assert code == 0, err
    assert {r.station_id for r in central.received} == {"SIM-0001", "STOR-0001", "STOR-0002"}
    text = out
    assert "unit_id" in text and "STOR-0002" in text
    code, _, err = await chargegrid_sim("--storage", "-1")
    assert code == 2 and "--storage must not be negative" in err
