"""simulators: charging stations and EVs that behave like real ones, for any OCPP CSMS.

- :class:`EV` / :class:`EVSpec`: the vehicle's battery with a CC-CV taper
  (``ev.advance(power_w, dt_s) -> energy_wh``).
- :class:`Station` / :class:`StationSpec` / :class:`ConnectorSpec`: the sans-I/O station model
  (connectors, transactions, charging profiles, meter values, faults).
- :class:`StationRunner` and :func:`build_runner`: the asyncio layer speaking OCPP 1.6J,
  2.0.1 or 2.1 over WebSocket (Basic auth), with the offline queue and reconnects.
- :class:`Fleet` / :class:`FleetConfig`: many stations on one clock from a scenario.
- :func:`generate`, :func:`load_scenario`, :func:`save_scenario`: scenarios as DataFrames.
- Site devices, sans-I/O on their own virtual clocks (``advance(dt_s)``): :class:`StorageUnit`
  (obeys a :class:`SetpointSchedule`), :class:`BidirectionalEV` (V2G, :class:`V2XSpec`),
  :class:`SwapStation` (a rack of packs and a swap robot; :func:`generate_swap_arrivals`,
  :func:`load_swap_arrivals`, :func:`save_swap_arrivals`; :func:`battery_swap_requests`: a
  served swap as 2.1 BatterySwap requests), :class:`ClearSkyPV` /
  :func:`load_pv_csv`, :class:`SiteMeter`; :class:`StorageStation`: a storage unit's
  OCPP 2.1 messages and its CentralSetpoint profiles, run on the wire by
  :class:`StorageRunner` (``FleetConfig.storage``, ``chargegrid sim --storage N``);
  :class:`SwapOcppStation`: a swap station's OCPP 2.1 messages (BatterySwap, its rack's
  MeterValues, RequestBatterySwap, the rack's limit), run by :class:`SwapRunner`
  (``FleetConfig.swaps``, ``chargegrid sim --swap N``); :class:`PvStation`: a PV plant's
  meter as an OCPP 2.1 station (clear-sky or a CSV profile), run by :class:`PvRunner`
  (``FleetConfig.pv``, ``chargegrid sim --pv N``, ``--pv-csv FILE``); :class:`MeterStation`:
  the site's grid meter (a :class:`SiteMeter` over the fleet's devices and PV plants,
  :class:`SiteMeterSpec`) as OCPP 2.1 MeterValues on EVSE 0, run by :class:`MeterRunner`
  (``FleetConfig.site_meter``, ``chargegrid sim --site-meter``).

Charging profiles are parsed by :mod:`simulators.charging_profiles`; the limit in force and the
composite schedule are :mod:`simulators.composite` (the simulators' own: decision 0306).
"""

from __future__ import annotations

from simulators.battery_swap import battery_swap_requests
from simulators.connector import ConnectorSpec, SessionRecord
from simulators.ev import EV, EVSpec
from simulators.exceptions import (
    BootRejected,
    CallErrorReceived,
    CsmsError,
    InvalidParameter,
    ProfileRefused,
    ResponseTimeout,
    ScenarioError,
    SimulatorError,
    StationError,
)
from simulators.fleet import Fault, Fleet, FleetConfig, FleetProgress, build_runner
from simulators.messages import ConnectorStatus, StopReason
from simulators.meter_runner import MeterRunner
from simulators.meter_station import MeterStation, SiteMeterSpec
from simulators.pv import ClearSkyPV, CsvPV, load_pv_csv
from simulators.pv_station import PvRunner, PvSpec, PvStation
from simulators.runner import FAULT_KINDS, RunnerStats, StationRunner
from simulators.scenario import (
    SCENARIO_KINDS,
    generate,
    load_scenario,
    save_scenario,
    station_ids,
    suggested_start,
)
from simulators.setpoints import SetpointPeriod, SetpointSchedule
from simulators.site_meter import SiteMeter, SiteReading
from simulators.station import Station, StationSpec
from simulators.storage import StorageReport, StorageSpec, StorageUnit
from simulators.storage_runner import StorageRunner
from simulators.storage_station import StorageStation
from simulators.swap import (
    PackSpec,
    RackReport,
    SwapArrival,
    SwapRecord,
    SwapStation,
    SwapStationSpec,
)
from simulators.swap_ocpp import SwapOcppStation
from simulators.swap_runner import SwapRunner
from simulators.swap_scenario import (
    generate_swap_arrivals,
    load_swap_arrivals,
    save_swap_arrivals,
)
from simulators.v2g import BidirectionalEV, V2XSpec

__all__ = [
    "EV",
    "FAULT_KINDS",
    "SCENARIO_KINDS",
    "BidirectionalEV",
    "BootRejected",
    "CallErrorReceived",
    "ClearSkyPV",
    "ConnectorSpec",
    "ConnectorStatus",
    "CsmsError",
    "CsvPV",
    "EVSpec",
    "Fault",
    "Fleet",
    "FleetConfig",
    "FleetProgress",
    "InvalidParameter",
    "MeterRunner",
    "MeterStation",
    "PackSpec",
    "ProfileRefused",
    "PvRunner",
    "PvSpec",
    "PvStation",
    "RackReport",
    "ResponseTimeout",
    "RunnerStats",
    "ScenarioError",
    "SessionRecord",
    "SetpointPeriod",
    "SetpointSchedule",
    "SimulatorError",
    "SiteMeter",
    "SiteMeterSpec",
    "SiteReading",
    "Station",
    "StationError",
    "StationRunner",
    "StationSpec",
    "StopReason",
    "StorageReport",
    "StorageRunner",
    "StorageSpec",
    "StorageStation",
    "StorageUnit",
    "SwapArrival",
    "SwapOcppStation",
    "SwapRecord",
    "SwapRunner",
    "SwapStation",
    "SwapStationSpec",
    "V2XSpec",
    "battery_swap_requests",
    "build_runner",
    "generate",
    "generate_swap_arrivals",
    "load_pv_csv",
    "load_scenario",
    "load_swap_arrivals",
    "save_scenario",
    "save_swap_arrivals",
    "station_ids",
    "suggested_start",
]
