"""PV plants and swap timeouts in a fleet over real OCPP 2.1 connections: a PV plant on a CSV
profile meters what it produces (``FleetConfig.pv``), a swap station whose rack has no ready
pack in time reports each swap as timed out (``swap_timeout_s``), and ``chargegrid sim``
runs both from its options. A run cut at its end still delivers what its stations had decided
to send before it: the central system gets every swap the summary counts as timed out."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chargegrid.clock import VirtualClock
from simulators import Fleet, FleetConfig, generate
from simulators.pv import CsvPV
from simulators.pv_station import PvSpec
from simulators.swap import PackSpec, SwapStationSpec
from tests.integration.simulators.central import FakeCentral
from tests.integration.simulators.helpers import chargegrid_sim, parse_time
from tests.waiting import wait_until

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RAMP_W = 60_000.0  # the profile: 0 W at START to 60 kW an hour later


def _samples(central: FakeCentral) -> list[tuple[datetime, dict[str, float]]]:
    out = []
    for payload in central.of("MeterValues", "PV-0001"):
        [meter] = payload["meterValue"]
        at = datetime.fromisoformat(meter["timestamp"].replace("Z", "+00:00"))
        out.append((at, {v["measurand"]: float(v["value"]) for v in meter["sampledValue"]}))
    return out


def _timeouts(central: FakeCentral) -> list[dict[str, Any]]:
    return [
        data
        for payload in central.of("NotifyEvent", "SWAP-0001")
        for data in payload["eventData"]
        if data["component"]["name"] == "BatterySwap" and data["actualValue"] == "Timeout"
    ]


#: A rack whose packs (20 %) are never ready in time: every vehicle's swap times out.
SWAP = SwapStationSpec(
    station_id="SWAP-0001",
    slots=2,
    packs=(PackSpec("P1", 60_000.0, 0.2), PackSpec("P2", 60_000.0, 0.2)),
    max_rack_power_w=20_000.0,
    max_pack_power_w=10_000.0,
    swap_time_s=120.0,
    swap_timeout_s=600.0,
)


def _fleet(url: str, clock: VirtualClock, **extra: Any) -> Fleet:
    """One 2.1 charging station and the swap station (``SWAP``), 12 vehicles an hour."""
    config = FleetConfig(
        url=url,
        stations=1,
        ocpp="2.1",
        password="secret",
        swaps=(SWAP,),
        swap_arrivals_per_hour=12.0,
        **extra,
    )
    return Fleet(config, generate("depot", stations=1, seed=1, start=START), clock=clock)


async def test_a_fleet_meters_a_csv_pv_plant_and_reports_swap_timeouts(
    central: FakeCentral,
) -> None:
    url = await central.start()
    clock = VirtualClock(start=START, speed=1200)
    ramp = CsvPV((START, START + timedelta(hours=1)), (0.0, RAMP_W))
    fleet = _fleet(url, clock, pv=(PvSpec("PV-0001", ramp),))
    await fleet.run(until=START + timedelta(hours=1), progress_every_s=0.1)
    samples = _samples(central)
    assert len(samples) >= 50
    for at, values in samples:  # what the profile says (0 W once it has ended)
        assert values["Power.Active.Export"] == round(ramp.power_w(at), 1)
    for (t1, v1), (t2, v2) in itertools.pairwise(samples):  # and its energy in between
        given = v2["Energy.Active.Export.Register"] - v1["Energy.Active.Export.Register"]
        assert abs(given - ramp.energy_wh(t1, t2)) < 0.01
    [pv] = fleet.pv_summary().to_dict("records")
    assert pv["station_id"] == "PV-0001" and pv["energy_wh"] > 25_000.0
    [rack] = fleet.swap_summary().to_dict("records")
    timeouts = _timeouts(central)
    assert rack["timed_out"] >= 1 and len(timeouts) == rack["timed_out"]
    assert rack["swapped"] == 0 and not central.of("BatterySwap", "SWAP-0001")
    assert "no_ready_pack" in timeouts[0]["techInfo"]
    assert fleet.never_connected() == []


async def test_a_run_delivers_at_its_end_what_its_stations_decided_before_it(
    central: FakeCentral,
) -> None:
    # The central system is unreachable for the whole simulated hour: the swap station
    # decides its timeouts offline and keeps them. Once the run has ended, the central
    # system is back; the stopped run still delivers them (and decides nothing more).
    url = await central.start()
    central.refusing = True
    clock = VirtualClock(start=START, speed=1200)
    end = START + timedelta(hours=1)
    fleet = _fleet(url, clock)

    async def back_after_the_end() -> None:
        await wait_until(lambda: clock.now() >= end, 60, "the end of the run")
        central.refusing = False

    back = asyncio.create_task(back_after_the_end())
    await fleet.run(until=end, progress_every_s=0.1, drain_s=60.0)
    await back
    [rack] = fleet.swap_summary().to_dict("records")
    timeouts = _timeouts(central)
    assert rack["timed_out"] >= 1 and len(timeouts) == rack["timed_out"]
    # ... and nothing decided after the run stopped
    assert fleet.stopped_at is not None and fleet.stopped_at >= end
    sent = [e["timestamp"] for p in central.of("NotifyEvent", "SWAP-0001") for e in p["eventData"]]
    assert max(map(parse_time, sent)) <= fleet.stopped_at, (fleet.stopped_at, sent)
    assert "SWAP-0001" not in fleet.unsent()


def _timed_out_in_summary(out: str) -> int:
    """The swap station's ``timed_out`` in the table ``chargegrid sim`` printed."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if "timed_out" in line.split())
    [row] = [line.split() for line in lines[header + 1 :] if line.split()[:1] == ["SWAP-0001"]]
    return int(row[lines[header].split().index("timed_out")])


async def test_chargegrid_sim_runs_pv_plants_and_swap_timeouts(
    central: FakeCentral, tmp_path: Path
) -> None:
    url = await central.start()
    profile = tmp_path / "pv.csv"
    profile.write_text(
        "time,power_w\n2026-06-01T00:00:00Z,20000\n2026-06-02T00:00:00Z,20000\n", encoding="utf-8"
    )
    args = ["--url", url, "--stations", "1", "--password", "secret", "--speed", "3600"]
    args += ["--clock-start", "2026-06-01T12:00:00Z", "--duration-h", "0.5"]
    args += ["--swap", "1", "--swap-slots", "2", "--swap-pack-soc", "0.2", "--swap-per-hour", "12"]
    args += ["--swap-timeout-s", "600", "--pv-csv", str(profile)]
    args += ["--summary-csv", str(tmp_path / "s.csv"), "--progress-s", "0.5", "--drain-s", "60"]
    # At 3600x the run is half a real second: the stations may still be connecting when it
    # ends; what they decided in it is delivered all the same (within --drain-s).
    code, out, err = await chargegrid_sim(*args, timeout_s=180.0)
    assert code == 0, err
    assert {"SIM-0001", "SWAP-0001", "PV-0001"} <= {r.station_id for r in central.received}
    assert "timed_out" in out and "PV-0001" in out
    powers = {values["Power.Active.Export"] for _, values in _samples(central)}
    assert powers == {20_000.0}
    timed_out = _timed_out_in_summary(out)
    assert timed_out >= 1 and len(_timeouts(central)) == timed_out, out
    assert "transaction messages left unsent 0" in out, out
