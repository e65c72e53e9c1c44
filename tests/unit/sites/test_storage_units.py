"""``[[storage]]`` in the site file: OCPP units name a station and EVSE of the site; every
number is finite and in range, or refused with the file, line and field."""

from __future__ import annotations

import pytest

from csms.sites import SiteFileError, parse_site_text
from tests.unit.sites.conftest import DEPOT

OCPP_UNIT = """
[[stations]]
id = "BESS1"
node = "grid"

[[storage]]
id = "bess-ocpp"
node = "grid"
capacity_kwh = 200
max_charge_kw = 100
max_discharge_kw = 80
min_soc_pct = 10
max_soc_pct = 95
charge_efficiency = 0.96
discharge_efficiency = 0.94
ramp_w_per_s = 20000
station = "BESS1"
evse = 1
"""

SITE = DEPOT.replace("[tariff]", OCPP_UNIT + "\n[tariff]", 1)


def _line(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def _messages(text: str) -> list[str]:
    with pytest.raises(SiteFileError) as caught:
        parse_site_text(text, source="site.toml")
    return caught.value.messages


def test_an_ocpp_unit_loads_with_its_bounds_efficiencies_ramp_and_evse() -> None:
    site, _ = parse_site_text(SITE)
    readings_unit, ocpp_unit = site.storage
    assert readings_unit.station is None  # the POST /readings path, as before
    assert ocpp_unit.station == "BESS1" and ocpp_unit.evse == 1
    assert ocpp_unit.capacity_wh == 200_000.0
    assert (ocpp_unit.max_charge_w, ocpp_unit.max_discharge_w) == (100_000.0, 80_000.0)
    assert (ocpp_unit.min_soc_wh, ocpp_unit.max_soc_wh) == (20_000.0, 190_000.0)
    assert (ocpp_unit.charge_efficiency, ocpp_unit.discharge_efficiency) == (0.96, 0.94)
    assert ocpp_unit.ramp_w_per_s == 20_000.0


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("max_soc_pct = 95", "max_soc_pct = inf", "max_soc_pct"),
        ("max_soc_pct = 95", "max_soc_pct = 101", "max_soc_pct"),
        ("charge_efficiency = 0.96", "charge_efficiency = nan", "charge_efficiency"),
        ("charge_efficiency = 0.96", "charge_efficiency = 1.5", "charge_efficiency"),
        ("discharge_efficiency = 0.94", "discharge_efficiency = 0", "discharge_efficiency"),
        ("ramp_w_per_s = 20000", "ramp_w_per_s = -inf", "ramp_w_per_s"),
        ("ramp_w_per_s = 20000", "ramp_w_per_s = 0", "ramp_w_per_s"),
        ("evse = 1", "evse = 0", "evse"),
    ],
)
def test_a_bad_number_names_file_line_and_field(old: str, new: str, field: str) -> None:
    text = SITE.replace(old, new)
    (message,) = _messages(text)
    assert message.startswith(f"site.toml:{_line(text, new)}: storage[1].{field}: "), message


def test_min_soc_above_max_soc_is_refused() -> None:
    (message,) = _messages(SITE.replace("max_soc_pct = 95", "max_soc_pct = 5"))
    assert "storage[1]" in message and "min_soc_pct 10 is above max_soc_pct 5" in message


def test_the_station_must_be_in_the_site() -> None:
    bad = 'station = "BESS9"'
    text = SITE.replace('station = "BESS1"', bad)
    assert _messages(text) == [
        f"site.toml:{_line(text, bad)}: storage[1].station: no station 'BESS9' in the site"
    ]


def test_the_units_evse_is_not_a_charging_evse_and_not_shared() -> None:
    charging = SITE.replace('station = "BESS1"', 'station = "CP2"')
    (message,) = _messages(charging)
    assert "storage[1].evse: EVSE 1 of 'CP2' is listed as a charging EVSE" in message
    second = "[[storage]]" + OCPP_UNIT.split("[[storage]]")[1]
    twice = SITE.replace("[tariff]", second.replace("bess-ocpp", "bess-2") + "\n[tariff]", 1)
    assert any("BESS1/1 is already storage unit 'bess-ocpp'" in m for m in _messages(twice))
