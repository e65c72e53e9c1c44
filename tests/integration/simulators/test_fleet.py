"""A fleet on a fast clock, through the Python API and through ``chargegrid sim``."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from chargegrid import cli
from chargegrid.clock import VirtualClock
from simulators import Fleet, FleetConfig, generate, load_scenario, save_scenario, suggested_start
from simulators.fleet import SUMMARY_COLUMNS
from tests.integration.simulators.central import FakeCentral

DAY = datetime(2026, 3, 5, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


async def test_mixed_fleet_runs_a_public_scenario(central: FakeCentral) -> None:
    url = await central.start()
    start = suggested_start("public", DAY)
    clock = VirtualClock(start=start, speed=3600)
    scenario = generate("public", stations=4, connectors=2, seed=7, start=start)
    fleet = Fleet(
        FleetConfig(url=url, stations=4, connectors=2, ocpp="mixed", password="secret"),
        scenario,
        clock=clock,
    )
    seen = []
    summary = await fleet.run(
        until=start + timedelta(hours=3), on_progress=seen.append, progress_every_s=0.2
    )
    boots = {r.station_id: r.payload for r in central.received if r.action == "BootNotification"}
    assert sorted(boots) == ["SIM-0001", "SIM-0002", "SIM-0003", "SIM-0004"]
    assert "chargePointVendor" in boots["SIM-0001"] and "chargingStation" in boots["SIM-0002"]
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert len(summary) == len(scenario)
    # Public visits are short: most EVs leave with part of what they asked for.
    done = summary[summary["outcome"].isin(["charged", "partly charged"])]
    assert len(done) >= 3
    assert (done["delivered_wh"] > 0).all()
    assert (done["delivered_wh"] <= done["requested_wh"] + 1).all()
    full = summary[summary["outcome"] == "charged"]
    assert (full["delivered_wh"] >= full["requested_wh"] * 0.99 - 50).all()
    partly = summary[summary["outcome"] == "partly charged"]
    assert (partly["delivered_wh"] < partly["requested_wh"] * 0.99).all()
    assert seen and max(p.online for p in seen) == 4
    assert seen[-1].energy_wh > 0


@pytest.mark.slow
async def test_chargegrid_sim_command(central: FakeCentral, tmp_path: Path) -> None:
    url = await central.start()
    summary_csv = tmp_path / "summary.csv"
    scenario_csv = tmp_path / "scenario.csv"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chargegrid",
        "sim",
        "--url",
        url,
        "--stations",
        "3",
        "--scenario",
        "workplace",
        "--seed",
        "7",
        "--speed",
        "3600",
        "--ocpp",
        "mixed",
        "--password",
        "secret",
        "--duration-h",
        "3",
        "--summary-csv",
        str(summary_csv),
        "--save-scenario",
        str(scenario_csv),
        "--progress-s",
        "0.5",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "EVs 3 |" in text and "summary written to" in text
    assert "online 3/3" in err.decode()
    summary = pd.read_csv(summary_csv)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert len(summary) == 3
    assert sorted({r.station_id for r in central.received}) == ["SIM-0001", "SIM-0002", "SIM-0003"]
    # The saved scenario replays; a broken one fails with file, line and field.
    lines = scenario_csv.read_text().splitlines()
    lines[2] = lines[2].replace("TAG", "", 1).replace(",0.8,", ",eighty,", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chargegrid",
        "sim",
        "--url",
        url,
        "--stations",
        "3",
        "--scenario-file",
        str(bad),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert f"{bad}: row 3: target_soc: not a number" in err.decode()


async def test_chargegrid_sim_refuses_an_empty_scenario() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chargegrid",
        "sim",
        "--scenario",
        "workplace",
        "--clock-start",
        "2026-03-05T22:00:00Z",
        "--speed",
        "60",
        "--url",
        "ws://127.0.0.1:9/ocpp",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "no visits left" in err.decode()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--stations", "0"),
        ("--connectors", "-1"),
        ("--days", "1.5"),
        ("--speed", "0"),
        ("--max-current-a", "-16"),
        ("--dc-power-w", "0"),
        ("--meter-interval-s", "0"),
        ("--duration-h", "-1"),
        ("--progress-s", "nan"),
    ],
)
def test_chargegrid_sim_refuses_bad_numbers_naming_the_option(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["sim", "--url", "ws://127.0.0.1:9/ocpp", option, value])
    assert done.value.code == 2
    assert f"argument {option}: must be a positive" in capsys.readouterr().err


def test_chargegrid_sim_scenario_file_that_does_not_fit_the_fleet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = suggested_start("depot", DAY)
    path = tmp_path / "trips.csv"
    save_scenario(generate("depot", stations=3, seed=7, start=start), path)
    argv = ["sim", "--url", "ws://127.0.0.1:9/ocpp", "--scenario-file", str(path)]
    assert cli.main([*argv, "--stations", "2"]) == 2
    line = 2 + load_scenario(path)["station_id"].tolist().index("SIM-0003")
    err = capsys.readouterr().err
    assert f"chargegrid sim: {path}: row {line}: station_id: unknown station 'SIM-0003'" in err
    assert cli.main(["sim", "--scenario-file", str(tmp_path)]) == 2
    assert f"chargegrid sim: {tmp_path}: cannot read it" in capsys.readouterr().err
    bad_target = tmp_path / "missing-dir" / "out.csv"
    assert cli.main([*argv, "--stations", "3", "--save-scenario", str(bad_target)]) == 2
    assert "chargegrid sim: --save-scenario:" in capsys.readouterr().err
    assert not (tmp_path / "sim-summary.csv").exists()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explode,SIM-0001,1", "unknown fault 'explode'"),
        ("connector-fault,SIM-0099,1", "fault for unknown station 'SIM-0099'"),
        ("connector-fault,SIM-0002,1,3", "fault for connector 3 of SIM-0002, which has 2"),
    ],
)
def test_chargegrid_sim_refuses_a_fault_the_fleet_cannot_take(
    spec: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sim", "--url", "ws://127.0.0.1:9/ocpp", "--stations", "2", "--connectors", "2"]
    summary = tmp_path / "summary.csv"
    assert cli.main([*argv, "--fault", spec, "--summary-csv", str(summary)]) == 2
    assert f"chargegrid sim: --fault: {message}" in capsys.readouterr().err
    assert not summary.exists()
