"""Stations named in a site file belong to that site: after ``chargegrid site apply`` (even
from another process than the running server) their registrations carry the site, and a
fleet manager granted the site sees them, their sessions and CSV rows."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chargegrid.cli import main
from chargegrid.clock import ManualClock
from csms.api import Role, TokenService
from csms.store import SqlStore
from csms.store.base import NewTransaction
from tests.integration.api.conftest import START, start_api

P = "/api/v1"

YARD = """\
[site]
id = "yard"

[[nodes]]
id = "grid"
kind = "grid_connection"
max_import_kw = 100

[[stations]]
id = "SIM-0001"
node = "grid"

[[stations.evses]]
id = 1
"""


def _cli(*argv: str) -> int:
    """The CLI as another process runs it (its own event loop, its own services)."""
    return main(list(argv))


@pytest.fixture
async def running(tmp_path: Path) -> Any:
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    store = SqlStore(url)
    await store.open()
    csms, api = await start_api(store, ManualClock(START))
    try:
        yield api, store, url, tmp_path
    finally:
        await api.server.stop()
        await csms.stop()
        await store.close()


async def test_site_file_stations_belong_to_their_site(running: Any) -> None:
    api, store, url, tmp_path = running
    db = ["--database-url", url]
    assert await asyncio.to_thread(_cli, "station", "add", "SIM-0001", *db) == 0
    await store.open_transaction(
        NewTransaction("SIM-0001", 1, 1, START, id_token="TAG00001", meter_start_wh=0.0)
    )
    site_file = tmp_path / "yard.toml"
    site_file.write_text(YARD)
    assert await asyncio.to_thread(_cli, "site", "apply", str(site_file), *db) == 0

    record = await store.get_station("SIM-0001")
    assert record is not None and record.site_id == "yard"
    tokens = TokenService(api.services.repo, now=api.clock.now)
    _, text = await tokens.create(role=Role.FLEET_MANAGER, name="yard-fm", sites=("yard",))
    async with api.client(token=text) as c:
        station = await c.get(f"{P}/stations/SIM-0001")
        stations = await c.get(f"{P}/stations")
        sessions = await c.get(f"{P}/transactions")
        csv = await c.get(f"{P}/transactions.csv")
    assert station.status_code == 200, station.text
    assert station.json()["site_id"] == "yard"
    assert [s["station_id"] for s in stations.json()] == ["SIM-0001"]
    assert [(t["station_id"], t["site_id"]) for t in sessions.json()] == [("SIM-0001", "yard")]
    assert len(csv.text.strip().splitlines()) == 2  # header and the session


def test_station_add_takes_the_site_that_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database-url", f"sqlite+aiosqlite:///{tmp_path}/c.db"]
    site_file = tmp_path / "yard.toml"
    site_file.write_text(YARD)
    assert main(["site", "apply", str(site_file), *db]) == 0
    assert main(["station", "add", "SIM-0001", *db]) == 0
    assert "site yard" in capsys.readouterr().out
    assert main(["station", "add", "SIM-0001", "--site", "elsewhere", *db]) == 2
    assert "named by site 'yard'" in capsys.readouterr().err
    assert main(["station", "list", *db]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if "SIM-0001" in line]
    assert len(listed) == 1 and "yard" in listed[0]
