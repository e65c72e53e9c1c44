from __future__ import annotations

import json
from pathlib import Path

import pytest

from chargegrid.cli import main

EXAMPLE = Path(__file__).parents[3] / "optimizer" / "examples" / "site.json"


def test_optimize_solves_and_draws_the_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "plan.png"
    out_json = tmp_path / "plan.json"
    rc = main(["optimize", "--scenario", str(EXAMPLE), "--plot", str(png), "--json", str(out_json)])
    assert rc == 0
    assert png.stat().st_size > 10_000
    plan = json.loads(out_json.read_text())
    assert plan["status"] == "optimal"
    assert set(plan["evses"]) == {f"E{i}" for i in range(1, 9)}
    assert "status optimal" in capsys.readouterr().out


def test_optimize_names_the_bad_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(EXAMPLE.read_text())
    data["storage"][0]["soc_wh"] = 90000
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    assert main(["optimize", "--scenario", str(bad)]) == 2
    assert "storage[0].soc_wh" in capsys.readouterr().err
