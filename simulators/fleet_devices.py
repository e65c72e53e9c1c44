"""The fleet's site devices: how a swap station and the site's grid meter are set up for a
run, and the storage units', swap stations' and PV plants' summaries at the end."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from simulators.ev import EVSpec
from simulators.meter_station import MeterStation, SiteMeterSpec
from simulators.pv_station import PvRunner
from simulators.quantities import fraction
from simulators.runner import StationRunner
from simulators.site_meter import SiteMeter
from simulators.storage_runner import StorageRunner
from simulators.swap import SwapStation, SwapStationSpec
from simulators.swap_runner import SwapRunner
from simulators.swap_scenario import generate_swap_arrivals
from simulators.v2g import V2XSpec

__all__ = [
    "PV_SUMMARY_COLUMNS",
    "STORAGE_SUMMARY_COLUMNS",
    "SWAP_SUMMARY_COLUMNS",
    "SiteDevices",
    "meter_station",
    "pv_summary",
    "storage_summary",
    "swap_station",
    "swap_summary",
    "with_v2g",
]

#: per storage unit, at the end of a run
STORAGE_SUMMARY_COLUMNS = (
    "unit_id",
    "soc_end_pct",
    "energy_in_wh",
    "energy_out_wh",
    "losses_wh",
    "alarms",
    "clamped_setpoints",
    "profiles_rejected",
    "schedules_expired",
)

#: per swap station, at the end of a run
SWAP_SUMMARY_COLUMNS = (
    "station_id",
    "swapped",
    "no_ready_pack",
    "duplicate_pack",
    "timed_out",
    "requests_accepted",
    "requests_rejected",
    "ready_packs",
    "rack_energy_wh",
    "profiles_rejected",
)


#: per PV plant, at the end of a run
PV_SUMMARY_COLUMNS = ("station_id", "energy_wh", "peak_w", "profiles_rejected")


def pv_summary(runners: Sequence[PvRunner]) -> pd.DataFrame:
    """Per PV plant: the energy it produced, its highest power, the profiles it refused."""
    rows = [
        {
            "station_id": r.station_id,
            "energy_wh": round(r.device.energy_wh, 1),
            "peak_w": round(r.device.peak_w, 1),
            "profiles_rejected": r.device.profiles_rejected,
        }
        for r in runners
    ]
    return pd.DataFrame(rows, columns=list(PV_SUMMARY_COLUMNS))


def storage_summary(runners: Sequence[StorageRunner]) -> pd.DataFrame:
    """Per storage unit: where its SoC ended, energy in and out at its terminals, losses,
    over-temperature alarms raised, setpoints clamped, profiles it rejected, schedules
    that ran out."""
    rows = []
    for r in runners:
        unit = r.device.unit
        totals = unit.totals
        rows.append(
            {
                "unit_id": r.station_id,
                "soc_end_pct": round(unit.soc_pct, 1),
                "energy_in_wh": round(totals.energy_in_wh, 1),
                "energy_out_wh": round(totals.energy_out_wh, 1),
                "losses_wh": round(totals.conversion_losses_wh + totals.self_discharge_wh, 1),
                "alarms": sum(event.active for event in totals.alarm_events),
                "clamped_setpoints": unit.clamped_setpoints,
                "profiles_rejected": r.device.profiles_rejected,
                "schedules_expired": unit.schedules_expired,
            }
        )
    return pd.DataFrame(rows, columns=list(STORAGE_SUMMARY_COLUMNS))


def swap_summary(runners: Sequence[SwapRunner]) -> pd.DataFrame:
    """Per swap station: vehicles served, turned away for want of a ready pack or for a
    pack already in the rack, swaps timed out (no ready pack in time, a jammed robot), the
    central system's requests it took and refused, packs
    ready at the end, energy the rack drew, profiles it rejected."""
    rows = []
    for r in runners:
        swap = r.device
        rows.append(
            {
                "station_id": r.station_id,
                **swap.outcomes(),
                "requests_accepted": swap.requests_accepted,
                "requests_rejected": swap.requests_rejected,
                "ready_packs": swap.swap.ready_packs(),
                "rack_energy_wh": round(swap.swap.totals.energy_wh, 1),
                "profiles_rejected": swap.profiles_rejected,
            }
        )
    return pd.DataFrame(rows, columns=list(SWAP_SUMMARY_COLUMNS))


def swap_station(spec: SwapStationSpec, per_hour: float, seed: int, start: datetime) -> SwapStation:
    """The swap station of ``spec`` with a day of seeded arrivals at ``per_hour``."""
    station = SwapStation(spec, start=start, seed=seed)
    capacity = spec.packs[0].capacity_wh if spec.packs else 70_000.0
    station.add_arrivals(
        generate_swap_arrivals(
            spec.station_id, start=start, per_hour=per_hour, seed=seed, pack_capacity_wh=capacity
        )
    )
    return station


def with_v2g(
    plan: dict[str, list[tuple[int, EVSpec]]], share: float, v2x: V2XSpec, *, seed: int
) -> dict[str, list[tuple[int, EVSpec]]]:
    """The plan with ``share`` of its vehicles V2G (``v2x``), chosen by the seed and each
    vehicle's id alone (the same vehicles whatever the fleet's size or order)."""
    fraction("v2g_share", share)
    if share == 0.0:
        return plan

    def pick(ev: EVSpec) -> EVSpec:
        if random.Random(f"v2g:{seed}:{ev.ev_id}").random() < share:
            return dataclasses.replace(ev, v2x=v2x)
        return ev

    return {sid: [(cid, pick(ev)) for cid, ev in visits] for sid, visits in plan.items()}


@dataclasses.dataclass(frozen=True, slots=True)
class SiteDevices:
    """What the grid meter sees of a fleet: its runners' models as they stand."""

    stations: Sequence[StationRunner]
    storage: Sequence[StorageRunner]
    swaps: Sequence[SwapRunner]
    pv: Sequence[PvRunner]

    def draws_w(self, at: datetime) -> dict[str, float]:
        """What each device draws from the site (W; negative: gives)."""
        out = {
            f"{r.station_id}/{n}": c.power_w
            for r in self.stations
            for n, c in r.station.connectors.items()
        }
        out.update((r.station_id, r.device.unit.power_w) for r in self.storage)
        out.update((r.station_id, r.device.swap.power_w) for r in self.swaps)
        return out

    def pv_w(self, at: datetime) -> float:
        """What the site's PV plants produce at ``at``."""
        return sum(r.device.power_w(at) for r in self.pv)


def meter_station(
    spec: SiteMeterSpec, devices: SiteDevices, *, start: datetime, interval_s: float
) -> MeterStation:
    """The site's grid meter for a run: the fleet's devices and PV plants, and the base load
    no station meters."""
    meter = SiteMeter(
        spec.station_id,
        base_load_w=spec.base_load_w,
        base_load_noise=spec.base_load_noise,
        seed=spec.seed,
    )
    return MeterStation(
        spec.station_id,
        meter,
        devices.draws_w,
        start=start,
        pv_w=devices.pv_w,
        meter_interval_s=interval_s,
    )
