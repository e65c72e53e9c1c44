"""The simulated site day's world: the site as the central system knows it, the fleet as the
simulators run it, and the day's cap, PV and tariff (benchmarks/site_day.py).

A depot of ``stations`` x 2 EVSEs (OCPP 1.6, 2.0.1 and 2.1 in turn; a share of the vehicles
V2G, able to give back at the 2.1 ones), a PV roof, two OCPP 2.1 storage units, one battery
swap station with its forecast, a 200 kW grid connection capped to 120 kW for two hours in
the afternoon, and two waves of vehicles (morning and afternoon) that want more than that.
Everything is drawn from ``seed`` alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pandas as pd

from csms.sites import (
    NewConstraint,
    NodeKind,
    PvAsset,
    SessionDefaults,
    Site,
    SiteEvse,
    SiteNode,
    SiteStation,
    StorageAsset,
    SwapStation,
)
from csms.sites.model import GridMeter, StationQuirks, Tariff, TouPeriod
from simulators.pv import ClearSkyPV
from simulators.scenario import COLUMNS, station_ids
from simulators.storage import StorageSpec
from simulators.swap import PackSpec, SwapArrival, SwapStationSpec
from simulators.swap_scenario import generate_swap_arrivals

__all__ = [
    "METER_ID",
    "SITE_ID",
    "DayShape",
    "cap_constraint",
    "ev_scenario",
    "make_site",
    "swap_arrivals",
]

SITE_ID = "siteday"
DAY = datetime(2026, 6, 3, tzinfo=UTC)  # a Wednesday in June (UTC site)
SWAP_ID = "SWAP-0001"
#: the site's grid meter, an OCPP 2.1 station reporting on EVSE 0 (decisions 0917, 0931)
METER_ID = "GRIDMETER"
PACK_WH = 60_000.0
UNITS = ("BESS-1", "BESS-2")
_TARIFF = Tariff(
    periods=(
        TouPeriod(start=time(0), import_price_per_kwh=0.12),
        TouPeriod(start=time(7), import_price_per_kwh=0.25),
        TouPeriod(start=time(17), import_price_per_kwh=0.35),
        TouPeriod(start=time(21), import_price_per_kwh=0.18),
    ),
    export_price_per_kwh=0.05,
)


@dataclass(frozen=True, slots=True)
class DayShape:
    """What a run's world is made of (the defaults: the full benchmark)."""

    stations: int = 15  # x 2 EVSEs
    grid_w: float = 200_000.0
    cap_w: float = 120_000.0
    cap_from: time = time(14, 0)
    cap_hours: float = 2.0
    pv_peak_w: float = 100_000.0
    unit_wh: float = 150_000.0
    unit_w: float = 60_000.0
    rack_w: float = 60_000.0
    pack_wh: float = PACK_WH
    swaps_per_hour: float = 1.0
    #: one arrival in this many is a walk-in the forecast does not know
    walk_in_every: int = 5
    seed: int = 1

    def scaled(self, factor: float) -> DayShape:
        """The same site ``factor`` times as large in power (a short test's small site)."""
        from dataclasses import replace

        return replace(
            self,
            grid_w=self.grid_w * factor,
            cap_w=self.cap_w * factor,
            pv_peak_w=self.pv_peak_w * factor,
            unit_wh=self.unit_wh * factor,
            unit_w=self.unit_w * factor,
            rack_w=self.rack_w * factor,
            pack_wh=self.pack_wh * factor,
        )

    @property
    def cap_start(self) -> datetime:
        return datetime.combine(DAY.date(), self.cap_from, UTC)

    @property
    def cap_end(self) -> datetime:
        return self.cap_start + timedelta(hours=self.cap_hours)

    def cap_at(self, at: datetime) -> float:
        """The import limit in force at ``at``: the connection's, or the cap's in its window."""
        return self.cap_w if self.cap_start <= at < self.cap_end else self.grid_w

    def price_at(self, at: datetime) -> float:
        """Import price per kWh at ``at`` (the site's time-of-use tariff)."""
        return _TARIFF.import_price_at(at.time())

    @property
    def export_price(self) -> float:
        return _TARIFF.export_price_per_kwh

    def pv(self) -> ClearSkyPV:
        return ClearSkyPV("roof", self.pv_peak_w, cloud_fraction=0.3, seed=self.seed)

    def storage_specs(self) -> tuple[StorageSpec, ...]:
        return tuple(
            StorageSpec(
                unit,
                self.unit_wh,
                self.unit_w,
                self.unit_w,
                initial_soc=0.5,
                min_soc=0.1,
                max_soc=0.95,
            )
            for unit in UNITS
        )

    def swap_spec(self) -> SwapStationSpec:
        return SwapStationSpec(
            station_id=SWAP_ID,
            slots=6,
            packs=tuple(PackSpec(f"{SWAP_ID}-R{k}", self.pack_wh, 0.95) for k in range(1, 7)),
            max_rack_power_w=self.rack_w,
            max_pack_power_w=self.rack_w / 3,
            ready_soc=0.9,
            target_soc=0.95,
            swap_time_s=300.0,
        )


def swap_arrivals(shape: DayShape, start: datetime) -> list[SwapArrival]:
    """The swap station's vehicles, as the fleet draws them from ``start`` (its clock's start)."""
    return generate_swap_arrivals(
        SWAP_ID,
        start=start,
        per_hour=shape.swaps_per_hour,
        seed=shape.seed,
        pack_capacity_wh=shape.pack_wh,
    )


def forecast(shape: DayShape, arrivals: list[SwapArrival]) -> tuple[time, ...]:
    """The operator's swap forecast: every booked arrival (to the minute), walk-ins left out."""
    booked = [a for k, a in enumerate(arrivals, start=1) if k % shape.walk_in_every]
    return tuple(sorted({a.at.replace(second=0, microsecond=0).time() for a in booked}))


def make_site(
    shape: DayShape,
    arrivals: list[SwapArrival],
    *,
    storage: bool,
    meter_stale_s: float | None = None,
) -> Site:
    """The site file: without ``storage`` the units are not in it (nobody controls them);
    with ``meter_stale_s`` the grid meter station :data:`METER_ID` is the site's ``[meter]``
    (a reading older than that is stale)."""
    ids = station_ids(shape.stations, prefix="SIM")
    evses = tuple(SiteEvse(id=c, max_current_a=32.0, min_current_a=6.0) for c in (1, 2))
    stations = [SiteStation(id=sid, model="SimStation", node="grid", evses=evses) for sid in ids]
    meter = None
    if meter_stale_s is not None:
        stations.append(SiteStation(id=METER_ID, node="grid"))
        meter = GridMeter(station=METER_ID, evse=0, stale_after_s=meter_stale_s)
    units: tuple[StorageAsset, ...] = ()
    if storage:
        stations += [SiteStation(id=unit, node="grid") for unit in UNITS]
        units = tuple(
            StorageAsset(
                id=spec.unit_id.lower().replace("-", ""),
                node="grid",
                capacity_wh=spec.capacity_wh,
                max_charge_w=spec.max_charge_w,
                max_discharge_w=spec.max_discharge_w,
                min_soc_pct=spec.min_soc * 100.0,
                max_soc_pct=spec.max_soc * 100.0,
                station=spec.unit_id,
                evse=1,
            )
            for spec in shape.storage_specs()
        )
    rack = shape.swap_spec()
    return Site(
        id=SITE_ID,
        name="site day",
        nodes=(SiteNode(id="grid", kind=NodeKind.GRID_CONNECTION, max_import_w=shape.grid_w),),
        quirks=(StationQuirks(model="SimStation", unit="W"),),
        defaults=SessionDefaults(energy_wh=40_000.0, dwell_s=4 * 3600.0, max_power_w=11_000.0),
        tariff=_TARIFF,
        stations=tuple(stations),
        pv=(PvAsset(id="roof", node="grid", peak_w=shape.pv_peak_w),),
        storage=units,
        meter=meter,
        swap=(
            SwapStation(
                id="rack",
                station=SWAP_ID,
                node="grid",
                rack_size=rack.slots,
                pack_capacity_wh=shape.pack_wh,
                max_pack_power_w=rack.max_pack_power_w,
                max_rack_power_w=rack.max_rack_power_w,
                ready_soc_pct=rack.ready_soc * 100.0,
                arrival_soc_pct=20.0,
                swap_times=forecast(shape, arrivals),
            ),
        ),
    )


def cap_constraint(shape: DayShape) -> NewConstraint:
    """The grid operator's afternoon cap, known from the start of the day."""
    return NewConstraint(
        node_id="grid",
        kind="cap",
        start=shape.cap_start,
        end=shape.cap_end,
        max_import_w=shape.cap_w,
        source="dso",
    )


def ev_scenario(shape: DayShape) -> pd.DataFrame:
    """Two waves of vehicles per EVSE: one arriving 06:30-09:00 for 4-6 h, one arriving
    12:30-14:30 for 3-4 h; 60-80 kWh batteries at 10-30 % wanting 90 %, at 11 kW."""
    rng = random.Random(f"siteday:{shape.seed}")
    rows: list[dict[str, Any]] = []
    waves = ((6.5, 2.5, 4.0, 2.0), (12.5, 2.0, 3.0, 1.0))  # from h, spread h, stay h, +h
    for i, sid in enumerate(station_ids(shape.stations, prefix="SIM")):
        for c in (1, 2):
            for w, (from_h, spread_h, stay_h, more_h) in enumerate(waves):
                k = (i * 2 + (c - 1)) * 2 + w
                arrival = DAY + timedelta(hours=from_h + rng.uniform(0, spread_h))
                stay = timedelta(hours=stay_h + rng.uniform(0, more_h))
                rows.append(
                    {
                        "ev_id": f"EV-{k:04d}",
                        "station_id": sid,
                        "connector_id": c,
                        "arrival": pd.Timestamp(arrival.replace(microsecond=0)),
                        "departure": pd.Timestamp((arrival + stay).replace(microsecond=0)),
                        "capacity_wh": rng.choice((60_000.0, 70_000.0, 80_000.0)),
                        "initial_soc": round(rng.uniform(0.1, 0.3), 3),
                        "target_soc": 0.9,
                        "max_ac_power_w": 11_000.0,
                        "max_dc_power_w": 50_000.0,
                        "phases": 3,
                        "id_tag": f"TAG{k:05d}",
                    }
                )
    return pd.DataFrame(rows, columns=list(COLUMNS))
