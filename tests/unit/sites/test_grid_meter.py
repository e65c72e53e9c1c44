"""``[meter]`` in the site file: the grid meter on an EVSE of one of the site's stations (0:
its main meter), or posted through the API; refused with the file, line and field when it
names what the site does not have, or a number out of range."""

from __future__ import annotations

import pytest

from csms.sites import parse_site_text
from csms.sites.tomlfile import dump_site_toml
from tests.unit.sites.conftest import DEPOT
from tests.unit.sites.test_storage_units import _line, _messages

METER = """
[[stations]]
id = "GRIDMETER"
node = "grid"

[meter]
station = "GRIDMETER"
evse = 0
stale_after_s = 20
"""

SITE = DEPOT.replace("[tariff]", METER + "\n[tariff]", 1)


def test_the_meter_loads_and_round_trips() -> None:
    site, _ = parse_site_text(SITE)
    assert site.meter is not None
    assert (site.meter.station, site.meter.evse, site.meter.stale_after_s) == ("GRIDMETER", 0, 20)
    assert parse_site_text(dump_site_toml(site))[0] == site
    posted, _ = parse_site_text(DEPOT.replace("[tariff]", "[meter]\n\n[tariff]", 1))
    assert posted.meter is not None and posted.meter.station is None  # through the API
    assert parse_site_text(DEPOT)[0].meter is None


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("stale_after_s = 20", "stale_after_s = 0", "stale_after_s"),
        ("stale_after_s = 20", "stale_after_s = nan", "stale_after_s"),
        ("stale_after_s = 20", "stale_after_s = 7200", "stale_after_s"),
        ("evse = 0", "evse = -1", "evse"),
        ('station = "GRIDMETER"', 'station = "NOWHERE"', "station"),
    ],
)
def test_a_bad_meter_names_file_line_and_field(old: str, new: str, field: str) -> None:
    text = SITE.replace(old, new)
    (message,) = _messages(text)
    assert message.startswith(f"site.toml:{_line(text, new)}: meter.{field}: "), message


def test_the_meter_is_not_on_a_charging_evse() -> None:
    (message,) = _messages(SITE.replace('station = "GRIDMETER"', 'station = "CP2"').replace(
        "evse = 0", "evse = 1"))  # fmt: skip
    assert "meter.evse: EVSE 1 of 'CP2' is a charging EVSE" in message
    # EVSE 0 of a charging station is its main meter: allowed
    parse_site_text(SITE.replace('station = "GRIDMETER"', 'station = "CP2"'))
