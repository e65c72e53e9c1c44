"""A simulated site day, every device together: the meter's books match the devices' states.

grid import - export + PV == base load + what the storage stored and lost + what the rack
stored, lost and handed over in packs + what the EVs' batteries gained (negative when they
gave), within 1e-6 of the energy through the site.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from simulators.ev import EVSpec
from simulators.pv import ClearSkyPV
from simulators.setpoints import SetpointPeriod, SetpointSchedule
from simulators.site_meter import SiteMeter
from simulators.storage import StorageSpec, StorageUnit
from simulators.swap import PackSpec, SwapArrival, SwapStation, SwapStationSpec
from simulators.v2g import BidirectionalEV, V2XSpec

DAY = datetime(2026, 6, 1, tzinfo=UTC)
STEP_S = 60.0


def test_a_site_day_conserves_energy_from_the_grid_to_the_cells() -> None:
    rng = random.Random(2)
    pv = ClearSkyPV("pv", peak_w=120_000.0, seed=2)
    meter = SiteMeter("S1", base_load_w=15_000.0, base_load_noise=0.3, seed=2)
    units = [
        StorageUnit(
            StorageSpec(
                unit_id=f"B{i}",
                capacity_wh=200_000.0,
                max_charge_w=60_000.0,
                max_discharge_w=60_000.0,
                ramp_w_per_s=2_000.0,
                self_discharge_per_day=0.01,
                temperature_rise_at_rated_c=25.0,
                step_s=5.0,
            ),
            start=DAY,
        )
        for i in range(2)
    ]
    for unit in units:  # charge at midday, discharge in the evening, idle at night
        unit.set_schedule(
            SetpointSchedule(
                DAY,
                (
                    SetpointPeriod(0.0, 0.0),
                    SetpointPeriod(10 * 3600.0, 70_000.0),
                    SetpointPeriod(17 * 3600.0, -45_000.0),
                ),
                duration_s=22 * 3600.0,
            )
        )
    rack = SwapStation(
        SwapStationSpec(
            station_id="SW1",
            slots=6,
            packs=tuple(PackSpec(f"P{i}", 70_000.0, rng.uniform(0.3, 1.0)) for i in range(6)),
            max_rack_power_w=90_000.0,
            max_pack_power_w=30_000.0,
        ),
        start=DAY,
    )
    rack.add_arrivals(
        [
            SwapArrival(
                f"V{n}",
                DAY + timedelta(minutes=rng.uniform(0, 23 * 60)),
                PackSpec(f"X{n}", 70_000.0, rng.uniform(0.05, 0.3)),
            )
            for n in range(25)
        ]
    )
    evs = [
        BidirectionalEV(
            EVSpec(
                ev_id=f"E{i}",
                capacity_wh=75_000.0,
                initial_soc=0.7,
                target_soc=0.8,
                departure=DAY + timedelta(hours=23, minutes=30),
            ),
            V2XSpec(max_discharge_w=10_000.0, discharge_allowed=i != 1),
        )
        for i in range(3)
    ]
    soc_before = [unit.soc_wh for unit in units] + [rack.rack_energy_wh()]
    ev_before = [ev.soc * ev.spec.capacity_wh for ev in evs]

    now = DAY
    while now < DAY + timedelta(days=1):
        devices: dict[str, float] = {}
        for unit in units:
            report = unit.advance(STEP_S)
            net_wh = report.energy_in_wh - report.energy_out_wh
            devices[unit.spec.unit_id] = net_wh * 3600 / STEP_S
        devices["rack"] = rack.advance(STEP_S).energy_wh * 3600 / STEP_S
        evening = now.hour >= 17
        for ev in evs:
            power = -10_000.0 if evening else 7_000.0
            energy = ev.advance(power, STEP_S, now=now)
            devices[ev.spec.ev_id] = energy * 3600 / STEP_S
        meter.integrate(meter.reading(now, devices_w=devices, pv_w=pv.power_w(now)), STEP_S)
        now += timedelta(seconds=STEP_S)

    r = meter.registers
    supplied = r.import_wh - r.export_wh + r.pv_wh
    storage = sum(
        unit.soc_wh - before + unit.totals.conversion_losses_wh + unit.totals.self_discharge_wh
        for unit, before in zip(units, soc_before, strict=False)
    )
    t = rack.totals
    swap = rack.rack_energy_wh() - soc_before[-1] + t.losses_wh + t.carried_out_wh - t.carried_in_wh
    cars = sum(
        ev.soc * ev.spec.capacity_wh - before for ev, before in zip(evs, ev_before, strict=True)
    )
    used = r.base_load_wh + storage + swap + cars
    through = r.import_wh + r.export_wh + r.pv_wh
    assert abs(supplied - used) <= 1e-6 * through
    # the day did what it was built to do: all devices moved energy both ways
    assert r.export_wh > 0 and r.import_wh > 0
    assert all(u.totals.energy_in_wh > 0 and u.totals.energy_out_wh > 0 for u in units)
    assert any(rec.outcome == "swapped" for rec in t.records)
    assert evs[0].discharged_wh > 0 and evs[1].discharged_wh == 0.0
    assert evs[1].refusals["driver_disallows"] > 0
    # a V2G EV never went below its floors
    assert all(ev.soc >= ev.v2x.v2x_min_soc - 1e-9 for ev in evs)
    assert all(u.spec.min_soc_wh * 0.98 <= u.soc_wh <= u.spec.max_soc_wh for u in units)
    assert r.peak_import_w > 0
    assert meter.registers.devices_wh["rack"] == pytest.approx(t.energy_wh)
