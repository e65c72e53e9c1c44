"""The boundary rule in the site file and the CLI: every number finite and in range, or a
clear error naming the file, line and field (or the option); nothing applied."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest
from ocpp.exceptions import PropertyConstraintViolationError

from chargegrid.cli import main
from csms.ocpp.v201 import planner_number as ocpp_number
from csms.quantities import NotFinite, check_finite, finite_option
from csms.sites import SiteFileError, parse_site_text
from tests.unit.sites.conftest import DEPOT

LIMIT = "max_import_kw = 60"


@pytest.mark.parametrize("value", ["inf", "+inf", "-inf", "nan", "-nan", "1e300", "-5"])
def test_a_site_file_number_not_finite_or_out_of_range_names_file_and_line(
    value: str,
) -> None:
    line = DEPOT.splitlines().index(LIMIT) + 1
    with pytest.raises(SiteFileError) as caught:
        parse_site_text(DEPOT.replace(LIMIT, f"max_import_kw = {value}"), source="depot.toml")
    (problem,) = caught.value.messages
    assert problem.startswith(f"depot.toml:{line}: nodes[1].max_import_w: "), problem


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("max_current_a = 32", "max_current_a = nan"),
        ("max_phase_current_a = 250", "max_phase_current_a = inf"),
    ],
)
def test_every_kind_of_site_number_is_checked(old: str, new: str) -> None:
    assert old in DEPOT
    with pytest.raises(SiteFileError):
        parse_site_text(DEPOT.replace(old, new, 1))


def test_site_apply_dry_run_refuses_an_infinite_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"]
    path = tmp_path / "depot.toml"
    path.write_text(DEPOT.replace(LIMIT, "max_import_kw = inf"))
    assert main(["site", "apply", str(path), "--dry-run", *db]) == 2
    assert "max_import_w" in capsys.readouterr().err
    assert main(["site", "apply", str(path), *db]) == 2
    assert main(["site", "show", *db]) == 0
    assert "depot" not in capsys.readouterr().out


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400", "-1", "2e9"])
def test_a_cli_number_option_is_finite_and_in_range(text: str) -> None:
    parse = finite_option("--limit", low=0, high=1e9)
    with pytest.raises(argparse.ArgumentTypeError, match="--limit"):
        parse(text)
    assert parse("32") == 32.0


def test_cli_set_limit_refuses_a_non_finite_limit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["station", "limit", "CP1", "--limit", "nan"])
    assert exited.value.code == 2
    assert "--limit: must be a finite number" in capsys.readouterr().err


def test_check_finite_names_the_field() -> None:
    assert check_finite("x", 3) == 3.0
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(NotFinite, match=r"^power_w: must be a finite number"):
            check_finite("power_w", bad)
    with pytest.raises(NotFinite, match="at most"):
        check_finite("power_w", 2e9, high=1e9)


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, 1e20])
def test_an_ocpp_number_that_feeds_the_planner_is_refused_naming_the_field(
    value: float,
) -> None:
    with pytest.raises(PropertyConstraintViolationError, match="evMaxPower"):
        ocpp_number("evMaxPower", value, 1e9)
    assert ocpp_number("evMaxPower", 11_000, 1e9) == 11_000.0
    assert ocpp_number("evMaxPower", None, 1e9) is None


def test_site_show_reports_a_stored_infinite_limit_instead_of_crashing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An earlier version stored ``inf`` (the JSON column wrote ``Infinity``)."""
    import asyncio
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from csms.sites import tables as site_tables
    from csms.store import SqlStore

    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"

    async def store_a_bad_site() -> None:
        store = SqlStore(url)
        await store.open()
        spec = {"id": "old", "nodes": [{"id": "grid", "max_import_w": math.inf}]}
        async with store.engine.begin() as conn:
            await conn.execute(
                sa.insert(site_tables.sites).values(
                    site_id="old", name="", spec=spec, revision=1, updated_at=datetime.now(UTC)
                )
            )
        await store.close()

    db = ["--database-url", url]
    path = tmp_path / "depot.toml"
    path.write_text(DEPOT)
    assert main(["site", "apply", str(path), *db]) == 0
    asyncio.run(store_a_bad_site())
    capsys.readouterr()
    assert main(["site", "show", *db]) == 0
    assert capsys.readouterr().out.startswith("depot\t")  # the others are listed
    assert main(["site", "show", "old", *db]) == 1
    err = capsys.readouterr().err
    assert "site 'old'" in err and "apply it again" in err and "Traceback" not in err
