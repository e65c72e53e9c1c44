from __future__ import annotations

from csms.sites import SwapStation


def swap_station(**overrides: object) -> SwapStation:
    """A swap station SW1 on node "grid": two 40 kWh packs, 20 kW each, 30 kW the rack,
    ready at 90 %; ``overrides`` replace fields."""
    fields: dict[str, object] = {
        "id": "rack", "station": "SW1", "node": "grid", "rack_size": 2,
        "pack_capacity_wh": 40_000.0, "max_pack_power_w": 20_000.0,
        "max_rack_power_w": 30_000.0, "ready_soc_pct": 90.0,
    }  # fmt: skip
    fields.update(overrides)
    return SwapStation.model_validate(fields)


DEPOT = """\
[site]
id = "depot"
name = "Bus depot"
timezone = "UTC"

[[nodes]]
id = "grid"
kind = "grid_connection"
max_import_kw = 150
max_export_kw = 0
max_phase_current_a = 250

[[nodes]]
id = "feeder-a"
kind = "feeder"
parent = "grid"
max_import_kw = 60

[[nodes]]
id = "panel-1ph"
kind = "panel"
parent = "grid"
phases = ["L1"]

[[stations]]
id = "CP1"
node = "feeder-a"
model = "acme-22"

[[stations.evses]]
id = 1
max_current_a = 32

[[stations.evses]]
id = 2
max_current_a = 16

[[stations]]
id = "CP2"
node = "grid"

[[stations.evses]]
id = 1

[[stations]]
id = "CP3"
node = "panel-1ph"

[[stations.evses]]
id = 1
phase = "L1"

[[pv]]
id = "roof"
node = "grid"
peak_kw = 40

[[storage]]
id = "bess"
node = "grid"
capacity_kwh = 100
max_charge_kw = 50
max_discharge_kw = 50

[tariff]
currency = "EUR"
export_price_per_kwh = 0.05
demand_charge_per_kw = 12.5

[[tariff.periods]]
start = "00:00"
import_price_per_kwh = 0.15

[[tariff.periods]]
start = "07:00"
import_price_per_kwh = 0.30

[defaults]
energy_kwh = 20
dwell_s = 28800

[[fleets]]
id = "buses"
token_prefix = "BUS"
energy_kwh = 60
departure = "06:00:00"
max_power_kw = 22
battery_kwh = 350
charge_to_pct = 95

[[quirks]]
model = "acme-22"
unit = "A"
min_current_a = 7
tx_profile_outside_transaction = false
single_period = true
"""
