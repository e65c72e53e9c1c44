"""One id grammar everywhere: the site file, the CLI, the OCPP server (the API's side is in
tests/integration/api/test_boundary.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargegrid.cli import main
from csms.ids import InvalidId, check_id, is_station_id
from csms.ocpp.server import station_id_from_path
from csms.sites import SiteFileError, parse_site_text
from tests.unit.sites.conftest import DEPOT


@pytest.mark.parametrize("bad", ["", "a\x00b", "tab\there", "new\nline", "sp ace", "a/b", "é"])
def test_an_id_outside_the_grammar_is_refused(bad: str) -> None:
    with pytest.raises(InvalidId, match="node id"):
        check_id("node id", bad)
    assert not is_station_id(bad)


def test_a_station_id_is_at_most_48_characters() -> None:
    assert is_station_id("A" * 48) and not is_station_id("A" * 49)
    assert is_station_id("SIM-0001") and is_station_id("cp_1=a:b+c|d@e.f*")


@pytest.mark.parametrize("path", ["/ocpp/CP%00", "/ocpp/CP%201", "/ocpp/" + "A" * 49])
def test_the_ocpp_server_refuses_what_the_grammar_refuses(path: str) -> None:
    assert station_id_from_path(path) is None
    assert station_id_from_path("/ocpp/CP-1") == "CP-1"


def test_a_site_file_node_id_with_a_control_character_is_refused() -> None:
    with pytest.raises(SiteFileError, match=r"nodes\[1\]\.id"):
        parse_site_text(DEPOT.replace('id = "feeder-a"', 'id = "feeder\\u0000a"', 1))


def test_station_add_refuses_what_the_server_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database-url", f"sqlite+aiosqlite:///{tmp_path}/c.db"]
    for bad in ("X" * 500, "X" * 49, "CP\x01", "CP 1"):
        with pytest.raises(SystemExit) as exited:
            main(["station", "add", bad, *db])
        assert exited.value.code == 2
        assert "station id" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["station", "add", "CP1", "--site", "bad\x00site", *db])
    assert main(["station", "add", "X" * 48, *db]) == 0


def test_api_token_create_refuses_a_site_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database-url", f"sqlite+aiosqlite:///{tmp_path}/c.db"]
    args = ["api-token", "create", "--role", "grid_operator", *db]
    assert main([*args, "--site", "other"]) == 2
    assert "no site 'other'" in capsys.readouterr().err
    site_file = tmp_path / "depot.toml"
    site_file.write_text(DEPOT)
    assert main(["site", "apply", str(site_file), *db]) == 0
    assert main([*args, "--site", "depot"]) == 0
    assert main([*args, "--site", "*"]) == 0
