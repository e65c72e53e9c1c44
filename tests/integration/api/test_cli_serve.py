"""``chargegrid api-token`` on a database file, and ``chargegrid serve`` answering the API
with such a token beside the OCPP server, in one process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chargegrid.cli import main
from csms.cli.api_tokens import parse_expiry
from tests.integration.api.conftest import START


def test_parse_expiry() -> None:
    import argparse
    from datetime import timedelta

    assert parse_expiry("never", START) is None
    assert parse_expiry("90d", START) == START + timedelta(days=90)
    assert parse_expiry("12h", START) == START + timedelta(hours=12)
    assert parse_expiry("2026-04-01T00:00:00+02:00", START).isoformat() == (  # type: ignore[union-attr]
        "2026-03-31T22:00:00+00:00"
    )
    with pytest.raises(argparse.ArgumentTypeError, match="--expires"):
        parse_expiry("soon", START)


def test_token_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'cg.db'}"]
    site_file = tmp_path / "depot.toml"
    site_file.write_text('[site]\nid = "depot"\n\n[[nodes]]\nid = "grid"\nmax_import_kw = 50\n')
    assert main(["api-token", "create", "--role", "viewer", "--site", "depot", *db]) == 2
    assert "no site 'depot'" in capsys.readouterr().err  # a grant needs the site to exist
    assert main(["site", "apply", str(site_file), *db]) == 0
    capsys.readouterr()
    assert main(["api-token", "create", "--role", "viewer", "--site", "depot", "--json", *db]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["token"].startswith(f"cgk_{created['token_id']}_")
    assert main(["api-token", "create", "--role", "viewer", *db]) == 1
    assert "needs --site" in capsys.readouterr().err
    assert main(["api-token", "create", "--role", "admin", "--expires", "soon", *db]) == 2
    capsys.readouterr()
    assert main(["api-token", "list", "--json", *db]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(t["token_id"], t["role"], t["sites"], t["revoked_at"]) for t in listed] == [
        (created["token_id"], "viewer", ["depot"], None)
    ]
    assert created["token"] not in json.dumps(listed)
    assert main(["api-token", "list", "--database-url", "memory://"]) == 2
    assert "need a database" in capsys.readouterr().err
    assert main(["api-token", "revoke", created["token_id"], *db]) == 0
    assert main(["api-token", "revoke", "nope", *db]) == 1
    capsys.readouterr()
    assert main(["api-token", "list", *db]) == 0
    table = capsys.readouterr().out
    assert "revoked" in table and created["token_id"] in table


@pytest.mark.slow
def test_serve_answers_the_api(tmp_path: Path) -> None:
    db = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'cg.db'}"]
    env = {
        **os.environ,
        "CHARGEGRID_SERVER__PORT": "0",
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
    }
    token = subprocess.run(
        [sys.executable, "-m", "chargegrid", "api-token", "create", "--role", "admin", *db],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chargegrid", "serve", "--api-port", "0", *db],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = None
        lines = []
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"API listening at (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        assert url is not None, "serve did not announce the API"
        # a plain OCPP port: serve runs on uvloop (decision 0250), stopped by SIGTERM below
        assert any("event loop: uvloop" in line for line in lines), lines
        me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        anonymous = httpx.get(f"{url}/api/v1/me")
        doc = httpx.get(f"{url}/openapi.json")
        docs = httpx.get(f"{url}/docs")
        assert me.status_code == 200 and me.json()["role"] == "admin"
        assert anonymous.status_code == 401
        assert doc.status_code == 200 and "/api/v1/commands" in doc.json()["paths"]
        assert docs.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        if proc.stderr is not None:
            proc.stderr.close()
    assert code == 0
