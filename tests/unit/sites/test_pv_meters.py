"""``[[pv]]`` plants metered by a station (decision 0922): on an EVSE of one of the site's
stations that no charging EVSE, storage unit, grid meter or other plant uses; refused with
the file, line and field otherwise."""

from __future__ import annotations

import pytest

from csms.sites import parse_site_text
from csms.sites.tomlfile import dump_site_toml
from tests.unit.sites.conftest import DEPOT
from tests.unit.sites.test_storage_units import _line, _messages

PLANT = """
[[stations]]
id = "PV-0001"
node = "grid"

[[pv]]
id = "carport"
node = "grid"
peak_kw = 30
station = "PV-0001"
evse = 0
stale_after_s = 120
"""

SITE = DEPOT.replace("[tariff]", PLANT + "\n[tariff]", 1)


def test_a_metered_plant_loads_and_round_trips() -> None:
    site, _ = parse_site_text(SITE)
    roof, carport = site.pv
    assert (roof.station, roof.stale_after_s) == (None, None)  # posted, as before
    assert (carport.station, carport.evse, carport.stale_after_s) == ("PV-0001", 0, 120.0)
    assert carport.max_reading_w == 37_500.0  # its peak and a quarter
    assert parse_site_text(dump_site_toml(site))[0] == site


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("stale_after_s = 120", "stale_after_s = 0", "stale_after_s"),
        ("stale_after_s = 120", "stale_after_s = inf", "stale_after_s"),
        ("evse = 0", "evse = -1", "evse"),
        ('station = "PV-0001"', 'station = "NOWHERE"', "station"),
    ],
)
def test_a_bad_plant_names_file_line_and_field(old: str, new: str, field: str) -> None:
    text = SITE.replace(old, new)
    (message,) = _messages(text)
    assert message.startswith(f"site.toml:{_line(text, new)}: pv[1].{field}: "), message


def test_a_plant_meters_on_no_evse_another_uses() -> None:
    (message,) = _messages(SITE.replace('station = "PV-0001"', 'station = "CP2"').replace(
        "evse = 0", "evse = 1"))  # fmt: skip
    assert "pv[1].evse: EVSE 1 of 'CP2' is a charging EVSE" in message
    meter = '[meter]\nstation = "PV-0001"\n\n[tariff]'
    (message,) = _messages(SITE.replace("[tariff]", meter, 1))
    assert "pv[1].evse: PV-0001/0 is already meter's" in message
    twice = SITE.replace("[tariff]", PLANT.split("[[pv]]")[1].join(["[[pv]]", ""]).replace(
        '"carport"', '"carport-2"') + "\n[tariff]", 1)  # fmt: skip
    (message,) = _messages(twice)
    assert "pv[2].evse: PV-0001/0 is already pv[1]'s" in message
