"""``chargegrid site apply`` / ``site show`` on an SQLite file, and the TOML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargegrid.cli import main
from csms.sites import parse_site_text
from csms.sites.tomlfile import dump_site_toml
from tests.unit.sites.conftest import DEPOT


def test_dump_reads_back_equal() -> None:
    site = parse_site_text(DEPOT)[0]
    assert parse_site_text(dump_site_toml(site))[0] == site


def test_apply_show_and_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"]
    path = tmp_path / "depot.toml"
    path.write_text(DEPOT)
    assert main(["site", "apply", str(path), "--dry-run", *db]) == 0
    out = capsys.readouterr().out
    assert "+ node feeder-a" in out and "would apply 17 changes (revision 0)" in out
    assert main(["site", "apply", str(path), *db]) == 0
    assert "applied 17 changes (revision 1)" in capsys.readouterr().out
    assert main(["site", "apply", str(path), *db]) == 0
    assert capsys.readouterr().out == "no changes\nsite depot: up to date (revision 1)\n"

    path.write_text(DEPOT.replace("max_import_kw = 60", "max_import_kw = 55"))
    assert main(["site", "apply", str(path), *db]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "~ node feeder-a: max_import_w: 60000.0 -> 55000.0"
    )

    assert main(["site", "show", *db]) == 0
    assert capsys.readouterr().out == "depot\tBus depot\t3 nodes, 4 EVSEs, 150 kW\n"
    assert main(["site", "show", "depot", *db]) == 0
    shown = capsys.readouterr().out
    assert "max_import_kw = 55" in shown

    bad = tmp_path / "bad.toml"
    bad.write_text(DEPOT.replace('phase = "L1"', 'phase = "L3"'))
    assert main(["site", "apply", str(bad), *db]) == 2
    err = capsys.readouterr().err
    line = DEPOT.splitlines().index('phase = "L1"') + 1
    assert f"{bad}:{line}: stations[2].evses[0].phase: phase L3 does not exist" in err
    # Nothing applied.
    assert main(["site", "show", "depot", *db]) == 0
    assert capsys.readouterr().out == shown
