"""Swap stations in the site file: ``[[swap]]``, validated, and their forecast as swap times."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from csms.sites import (
    SiteFileError,
    forecast_swap_times,
    parse_site_text,
)
from csms.sites.tomlfile import dump_site_toml
from tests.unit.sites.conftest import DEPOT, swap_station

SWAP = """
[[swap]]
id = "rack-1"
station = "SWAP1"
node = "feeder-a"
rack_size = 8
pack_capacity_kwh = 60
max_pack_power_kw = 20
max_rack_power_kw = 80
ready_soc_pct = 90
swap_times = [07:30:00]
"""


def _site(extra: str = "") -> str:
    return DEPOT + SWAP + extra


def test_a_swap_station_is_read_in_w_and_wh() -> None:
    site, _ = parse_site_text(_site())
    (swap,) = site.swap
    assert (swap.station, swap.rack_size, swap.pack_capacity_wh) == ("SWAP1", 8, 60e3)
    assert (swap.max_pack_power_w, swap.max_rack_power_w) == (20e3, 80e3)
    assert swap.swap_times == (time(7, 30),)
    again, _ = parse_site_text(dump_site_toml(site))
    assert again == site


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("max_rack_power_kw = 80", "max_rack_power_kw = inf", "swap[0].max_rack_power_w"),
        ("ready_soc_pct = 90", "ready_soc_pct = nan", "swap[0].ready_soc_pct"),
        ("ready_soc_pct = 90", "ready_soc_pct = 101", "swap[0].ready_soc_pct"),
        ("rack_size = 8", "rack_size = 0", "swap[0].rack_size"),
        ('node = "feeder-a"\nrack', 'node = "nowhere"\nrack', "swap[0].node"),
        ("max_pack_power_kw = 20", "max_pack_power_kw = 90", "swap[0].max_pack_power_w"),
        ("swap_times", "swaps_per_hour = [1, 2]\nswap_times", "swap[0].swaps_per_hour"),
    ],
)
def test_a_bad_swap_station_names_file_line_and_field(old: str, new: str, field: str) -> None:
    text = _site()
    assert old in SWAP
    start = text.index(SWAP)
    text = text[:start] + SWAP.replace(old, new, 1)
    key = new.split("=")[0].strip().split("\n")[-1] if "node" not in new else "node"
    line = next(
        n for n, ln in enumerate(text.splitlines(), 1) if n > DEPOT.count("\n")
        and ln.strip().startswith(key)
    )  # fmt: skip
    with pytest.raises(SiteFileError) as caught:
        parse_site_text(text, source="depot.toml")
    assert any(m.startswith(f"depot.toml:{line}: {field}") for m in caught.value.messages), (
        caught.value.messages
    )


def test_a_swap_station_listed_as_a_charging_station_is_refused() -> None:
    with pytest.raises(SiteFileError, match=r"swap\[0\].station"):
        parse_site_text(_site().replace('station = "SWAP1"', 'station = "CP1"'))


def test_swaps_per_hour_become_the_earliest_moments_each_swap_can_be_due() -> None:
    """3/h from 08:00, 0.5/h from 09:00, 0.75/h from 10:00 (Berlin, UTC+2 in June): the
    expected count passes 0, 1, 2 at 08:00, 08:20, 08:40, 3 at 09:00, 4 at 10:40; an explicit
    12:30 beside them."""
    rates = [0.0] * 24
    rates[8], rates[9], rates[10] = 3.0, 0.5, 0.75
    swap = swap_station(swaps_per_hour=rates, swap_times=["12:30:00"])
    day = datetime(2026, 6, 1, tzinfo=UTC)
    times = forecast_swap_times(swap, timezone="Europe/Berlin", start=day, end=day.replace(day=2))
    assert [t.strftime("%H:%M") for t in times] == [
        "06:00", "06:20", "06:40", "07:00", "08:40", "10:30"
    ]  # fmt: skip
    later = forecast_swap_times(
        swap, timezone="Europe/Berlin", start=day.replace(hour=7), end=day.replace(hour=9)
    )
    assert [t.strftime("%H:%M") for t in later] == ["07:00", "08:40"]
