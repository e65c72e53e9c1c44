from __future__ import annotations

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
