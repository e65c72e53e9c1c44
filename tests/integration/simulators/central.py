"""A small, generic OCPP central system for the simulator tests, built on the ``ocpp`` library.

Not chargegrid's CSMS: the simulators must work against any central system, so the tests use
this one. It speaks 1.6, 2.0.1 and 2.1 (the 2.0.1 handlers, and NotifyEvent), records every
CALL that arrives (raw camelCase payloads, in order), can refuse boots, answer chosen
actions with a CALLERROR, send calls to a station, and drop and refuse connections to create
an outage.

To run the same tests against another central system (chargegrid's CSMS), give the
``central`` fixture an object with the same surface: ``start() -> url`` and ``stop()``;
``of(action, station_id=None)`` (the camelCase payloads received, in order) and
``wait_for(predicate, timeout_s)``; ``call(station_id, payload)``; ``drop()`` and ``refusing``
for the outage tests; ``boot_statuses`` and ``fail_actions`` are only used by
``test_bad_input.py``. Stations authenticate with Basic auth, password ``secret``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from ocpp.exceptions import InternalError
from ocpp.messages import Call, MessageType, unpack
from ocpp.routing import on
from ocpp.v16 import ChargePoint as CP16
from ocpp.v16 import call_result as r16
from ocpp.v21 import ChargePoint as CP21
from ocpp.v21 import call_result as r21
from ocpp.v201 import ChargePoint as CP201
from ocpp.v201 import call_result as r201
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from chargegrid.clock import Clock

__all__ = ["FakeCentral", "Received"]


@dataclass(frozen=True)
class Received:
    station_id: str
    action: str
    payload: dict[str, Any]
    #: When it arrived, on the central system's clock (None without one).
    at: datetime | None = None


@dataclass
class FakeCentral:
    password: str | None = None
    #: Boot answers in order; the last one repeats.
    boot_statuses: list[str] = field(default_factory=lambda: ["Accepted"])
    boot_interval_s: int = 300
    #: The interval returned with a Pending or Rejected boot (when to try again).
    retry_interval_s: int = 1
    #: Timestamps calls and handshakes (``Received.at``, ``handshakes``) when given.
    clock: Clock | None = None
    #: Clock time of every WebSocket handshake attempt, refused ones included.
    handshakes: list[datetime] = field(default_factory=list)
    #: Clock seconds the central system takes to answer a Heartbeat (with ``clock``).
    heartbeat_answer_s: float = 0.0
    #: Actions answered with a CALLERROR (InternalError) instead of being handled.
    fail_actions: set[str] = field(default_factory=set)
    authorize: Callable[[str], bool] = lambda tag: tag != "BLOCKED"
    received: list[Received] = field(default_factory=list)
    connections: dict[str, Any] = field(default_factory=dict)
    refusing: bool = False
    rejected_handshakes: int = 0
    _server: Server | None = None
    _boots: dict[str, int] = field(default_factory=dict)
    _tx_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> str:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            subprotocols=["ocpp1.6", "ocpp2.0.1", "ocpp2.1"],  # type: ignore[list-item]
            process_request=self._process_request,
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/ocpp"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if self.clock is not None:
            self.handshakes.append(self.clock.now())
        if self.refusing:
            self.rejected_handshakes += 1
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "outage\n")
        if self.password is not None:
            station_id = request.path.rstrip("/").rsplit("/", 1)[-1]
            expected = base64.b64encode(f"{station_id}:{self.password}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                return conn.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        station_id = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
        classes = {"ocpp1.6": _Central16, "ocpp2.0.1": _Central201, "ocpp2.1": _Central21}
        cls = classes[str(ws.subprotocol)]
        cp = cls(station_id, ws)
        cp.central = self
        self.connections[station_id] = cp
        try:
            await cp.start()
        except ConnectionClosed:
            pass
        finally:
            if self.connections.get(station_id) is cp:
                del self.connections[station_id]

    # --- test controls ---------------------------------------------------------------------

    async def drop(self) -> None:
        """Close every station connection (they will try to reconnect)."""
        for cp in list(self.connections.values()):
            await cp._connection.close()

    async def call(self, station_id: str, payload: Any) -> Any:
        return await self.connections[station_id].call(payload, suppress=False)

    def record(self, station_id: str, action: str, payload: dict[str, Any]) -> None:
        at = None if self.clock is None else self.clock.now()
        self.received.append(Received(station_id, action, payload, at))
        self._changed.set()

    def of(self, action: str, station_id: str | None = None) -> list[dict[str, Any]]:
        return [
            r.payload
            for r in self.received
            if r.action == action and station_id in (None, r.station_id)
        ]

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

        await asyncio.wait_for(loop(), timeout_s)

    def next_boot(self, station_id: str) -> str:
        n = self._boots.get(station_id, 0)
        self._boots[station_id] = n + 1
        return self.boot_statuses[min(n, len(self.boot_statuses) - 1)]

    async def answer_heartbeat(self) -> None:
        if self.heartbeat_answer_s > 0 and self.clock is not None:
            await self.clock.sleep(self.heartbeat_answer_s)

    def next_tx_id(self) -> int:
        return next(self._tx_ids)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class _Recording:
    central: FakeCentral
    id: str

    async def route_message(self, raw_msg: str) -> None:
        msg = unpack(raw_msg)
        if msg.message_type_id == MessageType.Call:
            assert isinstance(msg, Call)
            self.central.record(self.id, msg.action, msg.payload)
            if msg.action in self.central.fail_actions:
                error = msg.create_call_error(InternalError(description="told to fail"))
                await self._send(error.to_json())  # type: ignore[attr-defined]
                return
        await super().route_message(raw_msg)  # type: ignore[misc]


class _Central16(_Recording, CP16):  # type: ignore[misc]
    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        status = self.central.next_boot(self.id)
        interval = (
            self.central.boot_interval_s if status == "Accepted" else self.central.retry_interval_s
        )
        return r16.BootNotification(current_time=_now(), interval=interval, status=status)

    @on("Heartbeat")
    async def on_heartbeat(self, **_: Any) -> Any:
        await self.central.answer_heartbeat()
        return r16.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return r16.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_tag: str, **_: Any) -> Any:
        ok = self.central.authorize(id_tag)
        return r16.Authorize(id_tag_info={"status": "Accepted" if ok else "Invalid"})

    @on("StartTransaction")
    def on_start(self, id_tag: str, **_: Any) -> Any:
        return r16.StartTransaction(
            transaction_id=self.central.next_tx_id(), id_tag_info={"status": "Accepted"}
        )

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> Any:
        return r16.MeterValues()

    @on("StopTransaction")
    def on_stop(self, **_: Any) -> Any:
        return r16.StopTransaction()


class _Central201(_Recording, CP201):  # type: ignore[misc]
    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        status = self.central.next_boot(self.id)
        interval = (
            self.central.boot_interval_s if status == "Accepted" else self.central.retry_interval_s
        )
        return r201.BootNotification(current_time=_now(), interval=interval, status=status)

    @on("Heartbeat")
    async def on_heartbeat(self, **_: Any) -> Any:
        await self.central.answer_heartbeat()
        return r201.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return r201.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        ok = self.central.authorize(id_token["id_token"])
        return r201.Authorize(id_token_info={"status": "Accepted" if ok else "Invalid"})

    @on("TransactionEvent")
    def on_transaction_event(self, **_: Any) -> Any:
        return r201.TransactionEvent()

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> Any:
        return r201.MeterValues()

    @on("NotifyEVChargingNeeds")
    def on_needs(self, **_: Any) -> Any:
        return r201.NotifyEVChargingNeeds(status="Accepted")


class _Central21(_Central201):
    """2.1: the 2.0.1 handlers with the library's 2.1 message classes and schemas."""

    _call = CP21._call
    _call_result = CP21._call_result
    _ocpp_version = CP21._ocpp_version

    @on("NotifyEvent")
    def on_notify_event(self, **_: Any) -> Any:
        return r201.NotifyEvent()

    @on("BatterySwap")
    def on_battery_swap(self, **_: Any) -> Any:
        return r21.BatterySwap()


def frames(received: list[Received]) -> str:
    """Debug helper: the recorded calls as JSON lines."""
    return "\n".join(json.dumps([r.station_id, r.action, r.payload]) for r in received)
