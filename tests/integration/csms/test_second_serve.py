"""A second server on the same database and ports fails before it changes anything.

It used to open the store first, which marked the running server's stations disconnected,
and the shared telemetry outbox, and only then find its port taken (issue 11, item 7).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import csms.app
from csms.app import serving
from csms.config import Settings
from csms.core.service import CentralSystem
from csms.listeners import PortInUse, bind_listeners
from csms.store import SqlStore
from csms.store.base import StationRecord
from tests.integration.csms.conftest import PASSWORD, PASSWORD_HASH
from tests.integration.csms.stations import connect_station
from tests.waiting import wait_until


def _settings(tmp_path: Path, *, ocpp_port: int, api_port: int) -> Settings:
    return Settings(
        server={"host": "127.0.0.1", "port": ocpp_port, "gc_freeze_interval_s": None},  # type: ignore[arg-type]
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}"},  # type: ignore[arg-type]
        api={"enabled": True, "host": "127.0.0.1", "port": api_port},  # type: ignore[arg-type]
        planning={"enabled": False},  # type: ignore[arg-type]
    )


def test_bind_listeners_refuses_a_taken_port_and_closes_what_it_bound() -> None:
    held = bind_listeners("127.0.0.1", 0, what="OCPP")
    port = held[0].getsockname()[1]
    try:
        taken = rf"OCPP on 127\.0\.0\.1:{port}: address already in use"
        with pytest.raises(PortInUse, match=taken):
            bind_listeners("127.0.0.1", port, what="OCPP")
        # Only the taken port was refused: another is bound, listening, on the same address.
        other = bind_listeners("127.0.0.1", 0, what="the HTTP API")
        assert other[0].getsockname()[1] != port
        with socket.create_connection(("127.0.0.1", other[0].getsockname()[1]), timeout=5):
            pass
        for sock in other:
            sock.close()
    finally:
        for sock in held:
            sock.close()
    # Released: the port can be bound again.
    again = bind_listeners("127.0.0.1", port, what="OCPP")
    for sock in again:
        sock.close()


@pytest.mark.parametrize("taken", ["ocpp", "api"])
async def test_a_second_server_on_taken_ports_changes_nothing(
    tmp_path: Path, taken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_settings = _settings(tmp_path, ocpp_port=0, api_port=0)
    async with serving(first_settings) as first:
        await first.csms.store.put_station(StationRecord("CP1", password_hash=PASSWORD_HASH))
        assert first.api is not None
        async with connect_station(first.csms.url, "CP1", password=PASSWORD):
            await wait_until(lambda: first.csms.commands.is_online("CP1"), 30.0, "CP1 online")

            async def connected() -> bool:
                record = await first.csms.store.get_station("CP1")
                return record is not None and record.connected

            # the connection's record follows the connection
            await wait_until(connected, 30.0, "CP1's record to say connected")
            touched: list[str] = []
            real_open = csms.app.open_telemetry
            real_store_open = SqlStore.open
            real_forget = CentralSystem.forget_connections

            def open_telemetry(*args: Any, **kwargs: Any) -> Any:
                touched.append("telemetry outbox")
                return real_open(*args, **kwargs)

            async def store_open(self: SqlStore) -> None:
                touched.append("store")
                await real_store_open(self)

            async def forget(self: CentralSystem) -> int:
                touched.append("stations marked disconnected")
                return await real_forget(self)

            monkeypatch.setattr(csms.app, "open_telemetry", open_telemetry)
            monkeypatch.setattr(SqlStore, "open", store_open)
            monkeypatch.setattr(CentralSystem, "forget_connections", forget)
            second_settings = _settings(
                tmp_path,
                ocpp_port=first.csms.port if taken == "ocpp" else 0,
                api_port=first.api.port if taken == "api" else 0,
            )
            what = "OCPP" if taken == "ocpp" else "the HTTP API"
            with pytest.raises(PortInUse, match=f"cannot listen for {what} on .*already in use"):
                async with serving(second_settings):
                    pytest.fail("the second server started")
            # The running server's station is still connected, in the store and on the wire.
            record = await first.csms.store.get_station("CP1")
            assert record is not None and record.connected
            assert first.csms.commands.is_online("CP1")
            assert touched == []  # neither the database nor the telemetry outbox was opened


@pytest.mark.slow
def test_serve_command_says_the_port_is_taken(tmp_path: Path) -> None:
    held = bind_listeners("127.0.0.1", 0, what="OCPP")
    try:
        port = held[0].getsockname()[1]
        db = tmp_path / "cg.db"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "chargegrid",
                "serve",
                "--port",
                str(port),
                "--api-port",
                "0",
                "--database-url",
                f"sqlite+aiosqlite:///{db}",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        for sock in held:
            sock.close()
    assert done.returncode == 1, done.stderr
    assert f"cannot listen for OCPP on 127.0.0.1:{port}: address already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not db.exists()  # nothing was opened, not even the database file
