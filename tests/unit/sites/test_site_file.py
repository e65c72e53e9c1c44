"""The site file: a good one loads with kW turned into W; bad ones name the file and line."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from csms.sites import SiteFileError, load_site_file, parse_site_text
from csms.sites.tomlfile import KeyLines
from tests.unit.sites.conftest import DEPOT


def test_depot_loads(tmp_path: Path) -> None:
    path = tmp_path / "depot.toml"
    path.write_text(DEPOT)
    site, warnings = load_site_file(path)
    assert warnings == []
    assert site.id == "depot"
    assert [n.id for n in site.nodes] == ["grid", "feeder-a", "panel-1ph"]
    assert site.nodes[0].max_import_w == 150_000.0
    assert site.nodes[0].max_export_w == 0.0
    assert site.nodes[1].max_import_w == 60_000.0
    assert site.nodes[2].phases == ("L1",)
    assert [(s.id, [e.id for e in s.evses]) for s in site.stations] == [
        ("CP1", [1, 2]),
        ("CP2", [1]),
        ("CP3", [1]),
    ]
    assert site.stations[0].evses[0].max_power_w == 32 * 230 * 3
    assert site.storage[0].capacity_wh == 100_000.0
    assert site.pv[0].peak_w == 40_000.0
    assert site.defaults.energy_wh == 20_000.0
    assert site.fleets[0].energy_wh == 60_000.0
    assert site.fleets[0].departure == time(6)
    bus = site.fleets[0]
    assert (bus.max_power_w, bus.battery_wh, bus.charge_to_pct) == (22_000.0, 350_000.0, 95.0)
    assert (bus.taper_soc_pct, bus.taper_floor_pct) == (80.0, 10.0)  # the defaults
    assert site.tariff.import_price_at(time(6, 59)) == 0.15
    assert site.tariff.import_price_at(time(7)) == 0.30
    assert site.quirks_for(site.stations[0]) == site.quirks[0]
    assert [s.id for s, _ in site.evses_under("feeder-a")] == ["CP1", "CP1"]
    assert len(site.evses_under("grid")) == 4


def test_key_lines_of_nested_arrays() -> None:
    lines = KeyLines(DEPOT)
    text = DEPOT.splitlines()
    line = lines.line_of(("stations", 2, "evses", 0, "phase"))
    assert line is not None and text[line - 1] == 'phase = "L1"'
    line = lines.line_of(("stations", 0, "evses", 1, "max_current_a"))
    assert line is not None and text[line - 1] == "max_current_a = 16"
    line = lines.line_of(("nodes", 1, "max_import_w"))  # the file writes kW
    assert line is not None and text[line - 1] == "max_import_kw = 60"


def _line(text: str, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() == needle:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(needle)


def _error(text: str) -> list[str]:
    with pytest.raises(SiteFileError) as info:
        parse_site_text(text, source="site.toml")
    return info.value.messages


def test_cycle_names_file_and_line() -> None:
    text = DEPOT.replace(
        'id = "feeder-a"\nkind = "feeder"\nparent = "grid"',
        'id = "feeder-a"\nkind = "feeder"\nparent = "feeder-b"',
    )
    text += '\n[[nodes]]\nid = "feeder-b"\nparent = "feeder-a"\n'
    messages = _error(text)
    line = _line(text, 'parent = "feeder-b"')
    assert messages == [
        f"site.toml:{line}: nodes[1].parent: cycle: feeder-a -> feeder-b -> feeder-a"
    ]


def test_child_limit_above_parent_is_reported_not_refused() -> None:
    text = DEPOT.replace("max_import_kw = 60", "max_import_kw = 200")
    site, warnings = parse_site_text(text, source="site.toml")
    assert site.nodes[1].max_import_w == 200_000.0
    line = _line(text, "max_import_kw = 200")
    assert warnings == [
        f"site.toml:{line}: nodes[1].max_import_w: 200 kW on 'feeder-a' is above its parent "
        "'grid' (150 kW); allowed, the parent's limit binds"
    ]


def test_evse_on_no_node() -> None:
    text = DEPOT.replace('id = "CP2"\nnode = "grid"', 'id = "CP2"')
    messages = _error(text)
    line = _line(text, "[[stations.evses]]", occurrence=3)
    assert messages == [
        f"site.toml:{line}: stations[1].evses[0]: EVSE 1 of station 'CP2' is on no node "
        "(give the station or the EVSE a node)"
    ]


def test_phase_missing_at_node() -> None:
    text = DEPOT.replace('phase = "L1"', 'phase = "L2"')
    messages = _error(text)
    line = _line(text, 'phase = "L2"')
    assert messages == [
        f"site.toml:{line}: stations[2].evses[0].phase: phase L2 does not exist at node "
        "'panel-1ph' (it has L1)"
    ]


def test_phase_that_does_not_exist_at_all() -> None:
    text = DEPOT.replace('phase = "L1"', 'phase = "L4"')
    messages = _error(text)
    line = _line(text, 'phase = "L4"')
    assert len(messages) == 1
    assert messages[0].startswith(f"site.toml:{line}: stations[2].evses[0].phase: Input should be")


def test_unknown_node_and_several_errors_at_once() -> None:
    text = DEPOT.replace('node = "panel-1ph"', 'node = "panel-9"').replace(
        'node = "grid"\ncapacity_kwh', 'node = "nowhere"\ncapacity_kwh'
    )
    messages = _error(text)
    panel = _line(text, 'node = "panel-9"')
    nowhere = _line(text, 'node = "nowhere"')
    assert messages == [
        f"site.toml:{panel}: stations[2].node: no node 'panel-9'",
        f"site.toml:{nowhere}: storage[0].node: no node 'nowhere'",
    ]


def test_syntax_error_and_missing_site_table() -> None:
    assert _error("[site\n")[0].startswith("site.toml: ")
    assert _error('[[nodes]]\nid = "grid"\n') == [
        'site.toml:1: missing [site] table with at least id = "..."'
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SiteFileError, match="cannot read"):
        load_site_file(tmp_path / "missing.toml")
