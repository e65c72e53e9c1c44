"""The CLI: admin commands on a database, commands to live stations via the admin channel."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from ocpp.v201 import call

from chargegrid.cli import main
from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.cli.common import admin_request
from csms.store import SqlStore
from tests.integration.csms.conftest import PASSWORD, make_settings
from tests.integration.csms.stations import StationScript, connect_station


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_station_and_token_admin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"]
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("pw1\n"))
    assert run(capsys, "station", "add", "CP1", "--password-stdin", "--site", "north", *db)[0] == 0
    assert run(capsys, "station", "add", "CP2", "--pending", *db)[0] == 0
    code, out, _ = run(capsys, "station", "list", *db)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["STATION", "REG", "ONLINE"]
    assert lines[1].split()[:5] == ["CP1", "Accepted", "no", "-", "north"]
    assert lines[2].split()[:2] == ["CP2", "Pending"]
    assert run(capsys, "station", "accept", "CP2", *db)[0] == 0
    code, out, _ = run(capsys, "station", "list", "--json", *db)
    rows = {r["station_id"]: r for r in json.loads(out)}
    assert rows["CP2"]["registration"] == "Accepted"
    assert rows["CP1"]["password_hash"] is True and rows["CP2"]["password_hash"] is False
    assert (
        run(
            capsys,
            "token",
            "add",
            "TAG1",
            "--status",
            "Blocked",
            "--group",
            "G",
            "--expires",
            "2027-01-01T00:00:00",
            *db,
        )[0]
        == 0
    )
    code, out, _ = run(capsys, "token", "list", *db)
    assert out.splitlines()[1].split() == [
        "TAG1",
        "ISO14443",
        "Blocked",
        "2027-01-01",
        "00:00:00",
        "G",
    ]
    assert run(capsys, "token", "remove", "TAG1", *db)[0] == 0
    code, _, err = run(capsys, "token", "remove", "TAG1", *db)
    assert code == 1 and "TAG1" in err
    assert run(capsys, "station", "remove", "CP2", *db)[0] == 0
    code, _, err = run(capsys, "station", "accept", "CP2", *db)
    assert code == 1 and "no station 'CP2'" in err
    assert run(capsys, "db", "upgrade", *db)[0] == 0


def test_bad_config_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 'x'\n")
    code, _, err = run(capsys, "serve", "--config", str(bad))
    assert code == 2 and "bad.toml" in err and "server.port" in err


async def test_admin_channel_commands(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}")
    await store.open()
    from csms.store.base import StationRecord
    from tests.integration.csms.conftest import PASSWORD_HASH

    await store.put_station(StationRecord("CP201", password_hash=PASSWORD_HASH))
    settings = make_settings(admin_token="t0ken")
    script = StationScript()
    try:
        async with (
            Csms(settings, clock=ManualClock(), store=store) as app,
            connect_station(
                app.url, "CP201", version="2.0.1", password=PASSWORD, script=script
            ) as cp,
        ):
            await cp.call(
                call.BootNotification(
                    charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
                )
            )
            admin = f"ws://127.0.0.1:{app.port}/admin"
            ok = await admin_request(admin, "t0ken", "reset", "CP201", {"hard": True})
            assert ok == {
                "id": 1,
                "ok": True,
                "result": {"status": "Accepted", "payload": {"status": "Accepted"}},
            }
            limit = await admin_request(
                admin,
                "t0ken",
                "set_charging_profile",
                "CP201",
                {"evse_id": 1, "unit": "W", "schedule": [[0, 7400.0, None]]},
            )
            assert limit["ok"] is True
            assert script.received[-1][0] == "SetChargingProfile"
            offline = await admin_request(admin, "t0ken", "reset", "NOPE", {})
            assert offline["ok"] is False and offline["error"] == "StationOffline"
            bad = await admin_request(admin, "t0ken", "format_disk", "CP201", {})
            assert bad["error"] == "BadRequest"
            refused = await admin_request(admin, "wrong", "reset", "CP201", {})
            assert refused["error"] == "AdminRefused" and "401" in refused["message"]
        # Through the CLI entry point, against a server that is gone: a clean error.
        code = await asyncio.to_thread(
            main, ["station", "reset", "CP201", "--server", admin, "--admin-token", "t0ken"]
        )
        assert code == 1
    finally:
        await store.close()


async def test_admin_channel_disabled_without_token(csms: Csms) -> None:
    answer = await admin_request(f"ws://127.0.0.1:{csms.port}/admin", "x", "reset", "CP16", {})
    assert answer["error"] == "AdminRefused" and "404" in answer["message"]
