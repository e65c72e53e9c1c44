"""A real central system on a loopback port, driven from plain (synchronous) code.

The conformance suite and the long fuzz run (``benchmarks/ocpp_fuzz.py``) send frames from
synchronous code (Hypothesis drives synchronous tests), so the central system runs on its own
event loop in a background thread, with a SQLite store in a temporary directory: the same
server, store and adapters a deployment runs, on port 0.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from websockets.sync.client import ClientConnection, connect

from csms.app import Csms
from csms.config import Settings
from csms.core.passwords import hash_password
from csms.domain import IdToken
from csms.store import SqlStore
from csms.store.base import StationRecord

__all__ = [
    "PASSWORD",
    "SUBPROTOCOL",
    "VALID_TAG",
    "LiveCsms",
    "RawStation",
    "live_csms",
    "open_station",
]

PASSWORD = "conformance-pass"
#: an id token the central system accepts
VALID_TAG = "CONFORMANCE-TAG"
SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}
T = TypeVar("T")


class LiveCsms:
    """The central system on its own loop and thread; :meth:`run` awaits a coroutine there."""

    def __init__(self, db_path: Path, station_ids: list[str]) -> None:
        self.db_path = db_path
        self.station_ids = station_ids
        self.loop = asyncio.new_event_loop()
        self.app: Csms | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="conformance-csms", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("central system did not start within 60 s")
        if self._error is not None:
            raise RuntimeError("central system failed to start") from self._error

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        store = SqlStore(f"sqlite+aiosqlite:///{self.db_path}")
        try:
            await store.open()
            digest = hash_password(PASSWORD)
            for sid in self.station_ids:
                await store.put_station(StationRecord(sid, password_hash=digest, site_id="lab"))
            await store.put_id_token(IdToken(VALID_TAG))
            settings = Settings(
                server={"host": "127.0.0.1", "port": 0, "gc_freeze_interval_s": None},  # type: ignore[arg-type]
                ocpp={"call_timeout_s": 5.0, "remote_start_timeout_s": 5.0},  # type: ignore[arg-type]
                database={"url": "memory://"},  # type: ignore[arg-type]
            )
            async with Csms(settings, store=store) as app:
                self.app = app
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise
        finally:
            await store.close()

    @property
    def csms(self) -> Csms:
        assert self.app is not None, "central system not started"
        return self.app

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        """Await ``coro`` on the central system's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.csms.port}/ocpp/{station_id}"

    def live_connections(self) -> int:
        """WebSocket connections the server holds open right now (stations and admin)."""
        ocpp = self.csms.server
        servers = getattr(ocpp, "_servers", None) or [getattr(ocpp, "_server", None)]
        return sum(len(server.connections) for server in servers if server is not None)

    def registered_links(self) -> list[str]:
        return self.csms.server.connections.ids()

    def station(self, station_id: str, version: str) -> RawStation:
        return open_station(self.csms.port, station_id, version)


def open_station(
    port: int, station_id: str, version: str, *, password: str = PASSWORD
) -> RawStation:
    """A :class:`RawStation` connected to the central system on loopback ``port``."""
    stack = ExitStack()
    ws = stack.enter_context(
        connect(
            f"ws://127.0.0.1:{port}/ocpp/{station_id}",
            subprotocols=[SUBPROTOCOL[version]],  # type: ignore[list-item]
            additional_headers={"Authorization": basic_auth(station_id, password)},
            max_size=None,
            open_timeout=10,
            compression=None,
        )
    )
    return RawStation(ws, station_id, version, stack)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class RawStation:
    """A station that sends exactly the bytes it is told to and reads the raw answers."""

    def __init__(
        self, ws: ClientConnection, station_id: str, version: str, stack: ExitStack
    ) -> None:
        self.ws = ws
        self._stack = stack
        self.station_id = station_id
        self.version = version
        self._n = 0

    def next_id(self) -> str:
        self._n += 1
        return f"{self.station_id[:12]}-{self._n}"

    def send(self, data: str | bytes) -> None:
        self.ws.send(data)

    def recv(self, timeout_s: float = 10.0) -> list[Any]:
        """The next frame the central system sends, decoded (it must be a JSON array)."""
        raw = self.ws.recv(timeout=timeout_s)
        frame = json.loads(raw)
        assert isinstance(frame, list), f"central system sent a non-array frame: {raw!r}"
        return frame

    def call(self, action: str, payload: Any, *, timeout_s: float = 10.0) -> list[Any]:
        """Send a CALL and return the answer with the same message id (CALLRESULT or
        CALLERROR); any other frame in between fails the caller."""
        unique_id = self.next_id()
        self.send(json.dumps([2, unique_id, action, payload]))
        answer = self.recv(timeout_s)
        assert answer[1] == unique_id, f"answer to another message: {answer!r}"
        return answer

    def boot(self) -> None:
        payload: dict[str, Any]
        if self.version == "1.6":
            payload = {"chargePointVendor": "Lab", "chargePointModel": "Conformance"}
        else:
            payload = {
                "reason": "PowerUp",
                "chargingStation": {"vendorName": "Lab", "model": "Conformance"},
            }
        answer = self.call("BootNotification", payload)
        assert answer[0] == 3 and answer[2]["status"] == "Accepted", answer

    def heartbeat_ok(self, timeout_s: float = 10.0) -> bool:
        answer = self.call("Heartbeat", {}, timeout_s=timeout_s)
        return answer[0] == 3 and "currentTime" in answer[2]

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> RawStation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def live_csms(db_dir: Path, station_ids: list[str]) -> Iterator[LiveCsms]:
    live = LiveCsms(db_dir / "conformance.db", station_ids)
    live.start()
    try:
        yield live
    finally:
        live.stop()
