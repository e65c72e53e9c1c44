"""``chargegrid demo`` as a user runs it: a subprocess that starts, prints the dashboard link
with a working token, connects its stations, gets the plan to them, and leaves no process,
port or folder behind on Ctrl-C; a taken port is refused before anything starts."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.services import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
STATIONS = 14  # 6 at the depot, 8 at the workplace


class Demo:
    """The running command: its output lines as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode().rstrip("\n"))

    async def line_matching(self, pattern: str, timeout_s: float) -> re.Match[str]:
        def found() -> re.Match[str] | None:
            for line in self.lines:
                if match := re.search(pattern, line):
                    return match
            if self.proc.returncode is not None or self._reader.done():
                raise AssertionError(f"demo ended before {pattern!r}:\n" + "\n".join(self.lines))
            return None

        return await wait_until(found, timeout_s, f"{pattern!r} in the demo's output", every_s=0.1)

    async def finished(self, timeout_s: float) -> str:
        await asyncio.wait_for(self.proc.wait(), timeout_s)
        await self._reader
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode()


@pytest.fixture
async def temp_root(tmp_path: Path) -> AsyncIterator[Path]:
    """The folder the demo's temporary data goes to (TMPDIR), to see it removed."""
    root = tmp_path / "tmp"
    root.mkdir()
    yield root


async def _start(tmp_path: Path, temp_root: Path, *args: str) -> Demo:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chargegrid",
        "demo",
        *args,
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(temp_root)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return Demo(proc)


def _entries(folder: Path, pattern: str = "*") -> list[str]:
    return sorted(p.name for p in folder.glob(pattern))


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_the_demo_runs_and_stops_clean(tmp_path: Path, temp_root: Path) -> None:
    ocpp_port, api_port = free_port(), free_port()
    demo = await _start(
        tmp_path,
        temp_root,
        "--speed",
        "600",
        "--port",
        str(ocpp_port),
        "--api-port",
        str(api_port),
        "--progress-s",
        "0.5",
    )
    try:
        link = await demo.line_matching(r"dashboard: (\S+)/dashboard/#token=(\S+)", 90)
        api, token = link.group(1), link.group(2)
        assert api == f"http://127.0.0.1:{api_port}"
        assert f"ws://127.0.0.1:{ocpp_port}/ocpp/" in "\n".join(demo.lines)
        assert _entries(temp_root)  # its data lives in a temporary folder
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=api + "/api/v1", timeout=10) as client:
            me = await client.get("/me", headers=auth)
            assert me.status_code == 200 and me.json()["role"] == "admin"
            assert (await client.get("/stations")).status_code == 401

            async def all_connected() -> bool:
                stations = (await client.get("/stations", headers=auth)).json()
                versions = {s["ocpp_version"] for s in stations}
                # every station online, and the three versions among them as recorded
                return (
                    len(stations) == STATIONS
                    and all(s["online"] for s in stations)
                    and versions == {"1.6", "2.0.1", "2.1"}
                )

            await wait_until(all_connected, 90, "every station to connect", every_s=0.2)

            async def accepted_plan() -> list[Any]:
                plan = (await client.get("/sites/workplace/plan", headers=auth)).json()
                return [e for e in plan["evses"] if e["ack"] == "accepted" and e["sent_w"]]

            # the plan reaches the stations: a TxProfile accepted, as the CSMS sees it ...
            await wait_until(accepted_plan, 90, "a TxProfile accepted", every_s=0.2)
        # ... and held by a simulated station, as the demo reports it from the station's side
        await demo.line_matching(r"TxProfiles at [1-9]", 30)
        await demo.line_matching(r"stations 14/14 online", 5)

        process = psutil.Process(demo.proc.pid)
        family = [process, *process.children(recursive=True)]
        listening = {c.laddr.port for c in process.net_connections() if c.status == "LISTEN"}
        assert {ocpp_port, api_port} <= listening
        demo.proc.send_signal(signal.SIGINT)
        err = await demo.finished(60)
    finally:
        if demo.proc.returncode is None:
            demo.proc.kill()
            await demo.proc.wait()
    assert demo.proc.returncode == 0, err
    assert "nothing left running" in demo.lines[-1]
    assert "Traceback" not in err
    assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert _port_free(ocpp_port) and _port_free(api_port)
    assert _entries(temp_root) == []  # the temporary data folder is gone


async def test_a_taken_port_is_refused_before_anything_starts(
    tmp_path: Path, temp_root: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        demo = await _start(tmp_path, temp_root, "--port", "0", "--api-port", str(port))
        err = await demo.finished(60)
    assert demo.proc.returncode == 1
    assert (
        f"chargegrid demo: port {port} on 127.0.0.1 (HTTP API) is in use by another process; "
        "stop it or choose another port with --api-port"
    ) in err
    assert _entries(temp_root) == [] and _entries(tmp_path, "*.sqlite3") == []
