"""V2G vehicles at simulated OCPP 2.1 stations over a real connection: the needs carry V2X
parameters, a negative CentralSetpoint discharges the vehicle (negative power and the export
register in TransactionEvent), a plain vehicle refuses, a 2.0.1 station never discharges."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp.v21 import call as call21

from chargegrid.clock import VirtualClock
from simulators.v2x import V2XSpec
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import chargegrid_sim, ev_at, running, station_runner

START = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)


def tx_setpoint(transaction_id: str, setpoint_w: float) -> dict[str, Any]:
    return {
        "id": 9,
        "stack_level": 1,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "transaction_id": transaction_id,
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "W",
                "charging_schedule_period": [
                    {"start_period": 0, "operation_mode": "CentralSetpoint", "setpoint": setpoint_w}
                ],
            }
        ],
    }


def meter(payload: dict[str, Any], name: str) -> float | None:
    for mv in payload.get("meterValue", []):
        for value in mv["sampledValue"]:
            if value.get("measurand") == name:
                return float(value["value"])
    return None


async def test_a_v2g_vehicle_discharges_on_a_negative_central_setpoint(
    central: FakeCentral,
) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=120)
    v2x = V2XSpec(max_discharge_w=7_000.0)
    sessions = [
        (1, ev_at(START, 0, 600, initial_soc=0.6, v2x=v2x)),
        (2, ev_at(START, 0, 600, ev_id="EV-2", id_tag="TAG2", initial_soc=0.6)),
    ]
    runner = station_runner(url, clock, version="2.1", sessions=sessions, connectors=2)
    async with running(runner):
        await central.wait_for(lambda: len(central.of("NotifyEVChargingNeeds")) == 2, 20)
        needs = {p["evseId"]: p["chargingNeeds"] for p in central.of("NotifyEVChargingNeeds")}
        assert needs[1]["requestedEnergyTransfer"] == "AC_BPT"
        assert needs[1]["v2xChargingParameters"]["maxDischargePower"] == 7_000.0
        assert "v2xChargingParameters" not in needs[2]
        ids = {
            p["evse"]["id"]: p["transactionInfo"]["transactionId"]
            for p in central.of("TransactionEvent")
            if p["eventType"] == "Started"
        }
        answer = await central.call(
            "SIM-0001",
            call21.SetChargingProfile(evse_id=1, charging_profile=tx_setpoint(ids[1], -5_000)),
        )
        assert answer.status == "Accepted"
        refused = await central.call(
            "SIM-0001",
            call21.SetChargingProfile(evse_id=2, charging_profile=tx_setpoint(ids[2], -5_000)),
        )
        assert refused.status == "Rejected"

        def exported() -> list[dict[str, Any]]:
            return [
                p
                for p in central.of("TransactionEvent")
                if p["transactionInfo"]["transactionId"] == ids[1]
                and (meter(p, "Energy.Active.Export.Register") or 0) > 0
            ]

        await central.wait_for(lambda: len(exported()) >= 2, 30)
        last = exported()[-1]
        assert meter(last, "Power.Active.Import") == -5_000.0
        assert meter(last, "Power.Active.Export") == 5_000.0
    assert runner.stats.call_errors == 0
    assert runner.stats.profiles_rejected == 1


async def test_a_2_0_1_station_never_discharges(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=120)
    sessions = [(1, ev_at(START, 0, 600, initial_soc=0.6, v2x=V2XSpec()))]
    runner = station_runner(url, clock, version="2.0.1", sessions=sessions)
    async with running(runner):
        await central.wait_for(lambda: bool(central.of("NotifyEVChargingNeeds")), 20)
        (needs,) = central.of("NotifyEVChargingNeeds")
        assert "v2xChargingParameters" not in needs["chargingNeeds"]
        await central.wait_for(
            lambda: any(meter(p, "Power.Active.Import") for p in central.of("TransactionEvent")),
            20,
        )
    powers = [meter(p, "Power.Active.Import") for p in central.of("TransactionEvent")]
    assert all(p is None or p >= 0 for p in powers)
    assert all(
        meter(p, "Energy.Active.Export.Register") is None for p in central.of("TransactionEvent")
    )


async def test_chargegrid_sim_refuses_a_v2g_share_outside_0_to_1() -> None:
    code, _, err = await chargegrid_sim("--v2g-share", "1.5")
    assert code == 2 and "--v2g-share" in err
