"""A simulated battery-swap station over a real OCPP 2.1 connection: it boots, reports its
slots and its rack, sends a served swap as BatterySwap, a vehicle turned away as NotifyEvent,
serves the central system's RequestBatterySwap under its request id and keeps its rack under
a station profile; ``chargegrid sim --swap N`` runs swap stations beside charging stations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp.v21 import call as call21

from chargegrid.clock import VirtualClock
from simulators import Fleet, FleetConfig, generate
from simulators.fleet_devices import SWAP_SUMMARY_COLUMNS
from simulators.swap import PackSpec, SwapArrival, SwapStation, SwapStationSpec
from simulators.swap_ocpp import SwapOcppStation
from simulators.swap_runner import SwapRunner
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import chargegrid_sim, running

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def swap_spec(socs: list[float], station_id: str = "SWAP-0001") -> SwapStationSpec:
    return SwapStationSpec(
        station_id=station_id,
        slots=len(socs),
        packs=tuple(PackSpec(f"P{i}", 60_000.0, soc) for i, soc in enumerate(socs, 1)),
        max_rack_power_w=100_000.0,
        max_pack_power_w=50_000.0,
        swap_time_s=120.0,
    )


def rack_value(payload: dict[str, Any], name: str) -> float:
    for value in payload["meterValue"][0]["sampledValue"]:
        if value["measurand"] == name:
            return float(value["value"])
    raise AssertionError(f"no {name}")


def limit_profile(limit_w: float) -> dict[str, Any]:
    return {
        "id": 11,
        "stack_level": 0,
        "charging_profile_purpose": "ChargingStationMaxProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": limit_w}],
            }
        ],
    }


async def test_swap_station_swaps_reports_and_obeys_the_central_system(
    central: FakeCentral,
) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=300)
    station = SwapStation(swap_spec([0.95, 0.95, 0.3]), start=clock.now())
    depleted = PackSpec("V1-pack", 60_000.0, 0.1)
    station.add_arrivals([SwapArrival("V1", START + timedelta(minutes=2), depleted, "TOK1")])
    runner = SwapRunner(SwapOcppStation(station), url=url, clock=clock, password="secret")

    def rack() -> list[dict[str, Any]]:
        return [p for p in central.of("MeterValues") if p["evseId"] == 0]

    def swaps(request_id: int) -> list[dict[str, Any]]:
        return [p for p in central.of("BatterySwap") if p["requestId"] == request_id]

    async with running(runner):
        await central.wait_for(lambda: len(central.of("StatusNotification")) >= 3, 15)
        (boot,) = central.of("BootNotification")
        assert boot["chargingStation"]["model"] == "SimSwap"
        await central.wait_for(lambda: len(swaps(1)) == 2, 20)
        pack_in, pack_out = swaps(1)
        assert (pack_in["eventType"], pack_out["eventType"]) == ("BatteryIn", "BatteryOut")
        assert pack_in["batteryData"][0]["serialNumber"] == "V1-pack"
        assert pack_out["batteryData"][0]["soC"] >= 90.0
        assert pack_in["idToken"]["idToken"] == "TOK1"

        answer = await central.call(
            "SWAP-0001",
            call21.RequestBatterySwap(
                id_token={"id_token": "APP7", "type": "Central"}, request_id=777
            ),
        )
        assert answer.status == "Accepted"
        refused = await central.call(
            "SWAP-0001",
            call21.RequestBatterySwap(
                id_token={"id_token": "APP8", "type": "Central"}, request_id=778
            ),
        )
        assert refused.status == "Rejected"
        assert refused.status_info["reason_code"] == "NoReadyPack"
        await central.wait_for(lambda: len(swaps(777)) == 2, 20)
        assert swaps(777)[0]["idToken"]["idToken"] == "APP7"

        limited = await central.call(
            "SWAP-0001",
            call21.SetChargingProfile(evse_id=0, charging_profile=limit_profile(15_000)),
        )
        assert limited.status == "Accepted"
        await central.wait_for(
            lambda: bool(rack()) and rack_value(rack()[-1], "Power.Offered") == 15_000.0, 20
        )
        assert rack_value(rack()[-1], "Power.Active.Import") <= 15_000.0
        assert rack_value(rack()[-1], "Energy.Active.Import.Register") > 0

        runner.device.swap.add_arrivals(
            [SwapArrival("V2", clock.now(), PackSpec("V2-pack", 60_000.0, 0.1), "TOK2")]
        )
        runner.poke()

        def turned_away() -> list[dict[str, Any]]:
            return [
                data
                for payload in central.of("NotifyEvent")
                for data in payload["eventData"]
                if data["component"]["name"] == "BatterySwap"
            ]

        await central.wait_for(lambda: bool(turned_away()), 20)
        assert turned_away()[0]["actualValue"] == "NoReadyPack"
        assert "V2" in turned_away()[0]["techInfo"]
    assert runner.device.outcomes()["no_ready_pack"] == 1
    assert runner.stats.call_errors == 0


async def test_a_fleet_runs_swap_stations_beside_its_stations(central: FakeCentral) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=1200)
    config = FleetConfig(
        url=url,
        stations=1,
        ocpp="2.0.1",
        password="secret",
        swaps=(swap_spec([0.95, 0.95, 0.95, 0.5]),),
        swap_arrivals_per_hour=12.0,
    )
    fleet = Fleet(config, generate("depot", stations=1, seed=1, start=START), clock=clock)
    await fleet.run(until=START + timedelta(hours=1), progress_every_s=0.1)
    assert {r.station_id for r in central.received} == {"SIM-0001", "SWAP-0001"}
    [row] = fleet.swap_summary().to_dict("records")
    assert list(fleet.swap_summary().columns) == list(SWAP_SUMMARY_COLUMNS)
    served = len(central.of("BatterySwap", "SWAP-0001")) // 2
    assert row["swapped"] >= 1 and served >= 1
    assert row["rack_energy_wh"] > 0
    assert fleet.never_connected() == []


async def test_chargegrid_sim_runs_swap_stations(central: FakeCentral, tmp_path: Path) -> None:
    url = await central.start()
    args = ["--url", url, "--stations", "1", "--swap", "2", "--swap-slots", "4"]
    args += ["--swap-per-hour", "6", "--password", "secret", "--speed", "3600"]
    args += ["--duration-h", "0.5", "--summary-csv", str(tmp_path / "s.csv")]
    args += ["--progress-s", "0.5"]
    code, out, err = await chargegrid_sim(*args)
    assert code == 0, err
    assert {r.station_id for r in central.received} == {"SIM-0001", "SWAP-0001", "SWAP-0002"}
    assert "no_ready_pack" in out and "SWAP-0002" in out
    code, _, err = await chargegrid_sim("--swap-pack-soc", "1.5")
    assert code == 2 and "--swap-pack-soc" in err
