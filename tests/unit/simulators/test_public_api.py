from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import simulators


def test_public_api() -> None:
    assert sorted(simulators.__all__) == sorted(
        [
            "EV",
            "FAULT_KINDS",
            "Fault",
            "SCENARIO_KINDS",
            "BootRejected",
            "CallErrorReceived",
            "ConnectorSpec",
            "ConnectorStatus",
            "CsmsError",
            "EVSpec",
            "Fleet",
            "MeterRunner",
            "MeterStation",
            "SiteMeterSpec",
            "FleetConfig",
            "FleetProgress",
            "ResponseTimeout",
            "RunnerStats",
            "ScenarioError",
            "SessionRecord",
            "SimulatorError",
            "Station",
            "StationError",
            "StationRunner",
            "StationSpec",
            "StopReason",
            "build_runner",
            "generate",
            "load_scenario",
            "save_scenario",
            "station_ids",
            "suggested_start",
            "BidirectionalEV",
            "ClearSkyPV",
            "CsvPV",
            "InvalidParameter",
            "PackSpec",
            "RackReport",
            "SetpointPeriod",
            "SetpointSchedule",
            "SiteMeter",
            "SiteReading",
            "StorageReport",
            "StorageSpec",
            "StorageUnit",
            "SwapArrival",
            "SwapRecord",
            "SwapStation",
            "SwapStationSpec",
            "V2XSpec",
            "load_pv_csv",
            "ProfileRefused",
            "StorageStation",
            "generate_swap_arrivals",
            "load_swap_arrivals",
            "save_swap_arrivals",
            "battery_swap_requests",
            "StorageRunner",
            "SwapOcppStation",
            "SwapRunner",
            "PvRunner",
            "PvSpec",
            "PvStation",
        ]
    )
    for name in simulators.__all__:
        assert getattr(simulators, name) is not None


def test_exception_tree() -> None:
    assert issubclass(simulators.ScenarioError, simulators.SimulatorError)
    assert issubclass(simulators.CallErrorReceived, simulators.CsmsError)
    assert issubclass(simulators.ResponseTimeout, simulators.CsmsError)
    assert issubclass(simulators.BootRejected, simulators.CsmsError)
    assert issubclass(simulators.CsmsError, simulators.SimulatorError)
    assert issubclass(simulators.StationError, simulators.SimulatorError)
    assert issubclass(simulators.InvalidParameter, simulators.SimulatorError)
    assert issubclass(simulators.InvalidParameter, ValueError)
    assert issubclass(simulators.ProfileRefused, simulators.StationError)


def test_simulators_do_not_import_the_csms() -> None:
    code = (
        "import sys, simulators, simulators.cli, simulators.fleet, simulators.ocpp16, "
        "simulators.ocpp201; print(sorted(m for m in sys.modules if m.split('.')[0] == 'csms'))"
    )
    root = Path(simulators.__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
