"""The OCPP WebSocket endpoint ``ws://HOST:PORT/ocpp/{station_id}``.

websockets does the HTTP side: subprotocol selection (``ocpp2.1`` preferred over
``ocpp2.0.1`` over ``ocpp1.6``; a client offering none is refused with HTTP 400),
``process_request`` for the health check (``GET /health``) and HTTP Basic auth (security
profile 1), keepalive pings and the frame size limit (a larger frame closes the connection
with 1009).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import random
import socket
import time
from collections.abc import Callable
from http import HTTPStatus
from math import ceil
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from csms.config import ServerSettings
from csms.core.commands import Commands
from csms.core.service import CentralSystem
from csms.exceptions import StoreUnavailable
from csms.ids import is_station_id
from csms.listeners import LISTEN_BACKLOG
from csms.ocpp.admin import ADMIN_PATH, ADMIN_SUBPROTOCOL, check_token, serve_admin
from csms.ocpp.base import OcppConnection
from csms.ocpp.gated import gated
from csms.ocpp.handshake_gate import HandshakeGate
from csms.ocpp.message_log import LoggedConnection, MessageLog
from csms.ocpp.registry import ConnectionRegistry
from csms.ocpp.v16 import V16Connection
from csms.ocpp.v21 import V21Connection
from csms.ocpp.v201 import V201Connection
from csms.security import ConnectionSecurity
from csms.supervisor import HealthReport

__all__ = ["SUBPROTOCOLS", "OcppServer", "station_id_from_path"]

logger = logging.getLogger(__name__)

SUBPROTOCOLS = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")
_ALL_SUBPROTOCOLS = [*SUBPROTOCOLS, ADMIN_SUBPROTOCOL]
_ADAPTERS: dict[str, type[OcppConnection]] = {
    "ocpp1.6": V16Connection,
    "ocpp2.0.1": V201Connection,
    "ocpp2.1": V21Connection,
}
_PREFIX = "/ocpp/"


def station_id_from_path(path: str) -> str | None:
    """The station id of ``/ocpp/{station_id}``; None for any other path or a bad id."""
    route = urlsplit(path).path
    if not route.startswith(_PREFIX):
        return None
    station_id = unquote(route[len(_PREFIX) :])
    return station_id if is_station_id(station_id) else None


def _basic_password(request: Request, station_id: str) -> str | None:
    header = request.headers.get("Authorization")
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = (
            base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if user == station_id else None


def _refused(station_id: str, connection: ServerConnection, why: object) -> None:
    logger.warning(
        "station %s: connection refused from %s: %s", station_id, connection.remote_address, why
    )


def _respond(status: HTTPStatus, text: str, **headers: str) -> Response:
    body = (text + "\n").encode()
    h = Headers({"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body))})
    for k, v in headers.items():
        h[k.replace("_", "-")] = v
    return Response(status.value, status.phrase, h, body)


async def _run_until_lost(conn: OcppConnection, ws: ServerConnection) -> None:
    """``conn.run()`` in the connection's own task, cancelled when the TCP connection is
    lost: a handler still waiting (an answer held while the store is unavailable) ends
    with the connection. No task or timer of its own per connection: a callback on the
    future websockets resolves when the connection is lost (what ``wait_closed`` awaits)."""
    task = asyncio.current_task()
    assert task is not None
    lost: asyncio.Future[None] = ws.connection_lost_waiter
    running, cancelled = True, False

    def on_lost(_: asyncio.Future[None]) -> None:
        nonlocal cancelled
        if running:  # not once run() has returned: the cleanup must not be cut
            cancelled = True
            task.cancel()

    lost.add_done_callback(on_lost)
    try:
        await conn.run()
    except asyncio.CancelledError:
        if not cancelled or task.uncancel() > 0:
            raise  # cancelled from elsewhere (too)
        # ours: the station is gone, the handler goes on to clean up
    finally:
        running = False
        lost.remove_done_callback(on_lost)


class OcppServer:
    """The WebSocket server and the registry of live connections."""

    def __init__(
        self,
        central: CentralSystem,
        settings: ServerSettings,
        *,
        call_timeout_s: float = 30.0,
        security: ConnectionSecurity | None = None,
    ) -> None:
        self.central = central
        self.settings = settings
        self.call_timeout_s = call_timeout_s
        #: TLS, client certificates and security profiles (csms.security)
        self.security = security or ConnectionSecurity()
        #: Station handshakes being admitted now, and those answered 503 for being too many.
        self.pending_handshakes = 0
        self.refused_busy = 0
        #: Handshakes answered 503 because they had waited too long for the server.
        self.refused_late = 0
        #: station handshakes in progress at once; the others wait their turn (a storm)
        # (A plain 503 cannot be sent before a TLS handshake: with TLS, all of them wait.)
        self.handshakes: HandshakeGate[Any] = HandshakeGate(
            settings.handshakes_at_once,
            wait_max_s=settings.handshake_wait_max_s if self.security.tls is None else math.inf,
        )
        self.connections: ConnectionRegistry[OcppConnection] = ConnectionRegistry()
        #: the newest frames of every station, for the dashboard's station page
        self.message_log = MessageLog(
            now=central.clock.now, per_station=settings.message_log_frames
        )
        self._servers: list[Server] = []
        self.commands: Commands | None = None
        #: station certificate commands for the admin channel (csms.security)
        self.certificates: Any = None
        #: What ``GET /health`` reports (the process's background tasks); None: just "ok".
        self.health: Callable[[], HealthReport] | None = None

    @property
    def port(self) -> int:
        assert self._servers, "server not started"
        sockets = list(self._servers[0].sockets)
        port: int = sockets[0].getsockname()[1]
        return port

    def link(self, station_id: str) -> OcppConnection | None:
        return self.connections.get(station_id)

    async def start(self, sockets: list[socket.socket] | None = None) -> None:
        """Listen at ``settings.host``/``port``, or on ``sockets`` already bound and
        listening (:func:`csms.listeners.bind_listeners`), which the server then owns."""
        s = self.settings
        options: dict[str, object] = {
            "subprotocols": _ALL_SUBPROTOCOLS,
            "process_request": self._process_request,
            "max_size": s.max_frame_bytes,
            "ping_interval": s.ping_interval_s,
            "ping_timeout": s.ping_timeout_s,
            "compression": None,
            "backlog": LISTEN_BACKLOG,  # not asyncio's 100: a storm is dropped in the kernel
            **self.security.serve_options(),
        }
        options["create_connection"] = gated(
            options.get("create_connection", ServerConnection),  # type: ignore[arg-type]
            self.handshakes,
        )
        try:
            if sockets is None:
                self._servers.append(await serve(self._handler, s.host, s.port, **options))  # type: ignore[arg-type]
            else:
                for sock in sockets:
                    self._servers.append(await serve(self._handler, sock=sock, **options))  # type: ignore[arg-type]
        except BaseException:
            await self.stop()
            raise
        self.security.start()
        logger.info(
            "OCPP server listening on %s://%s:%d/ocpp/{station_id}",
            self.security.scheme,
            s.host,
            self.port,
        )

    async def stop(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close(close_connections=True)
        self._close_waiting()
        await self.security.stop()
        for server in servers:
            await server.wait_closed()
        self._close_waiting()  # any accepted while the listeners closed

    def _close_waiting(self) -> None:
        """Connections still waiting for their handshake's turn are closed unserved."""
        for waiting in self.handshakes.close():
            waiting.close_waiting()

    def _health_response(self) -> Response:
        """200 ``ok``, or 503 with the JSON report naming the failing tasks."""
        if self.health is None:
            return _respond(HTTPStatus.OK, "ok")
        report = self.health()
        if report.ok:
            return _respond(HTTPStatus.OK, "ok")
        body = json.dumps(report.as_dict()).encode()
        return Response(
            HTTPStatus.SERVICE_UNAVAILABLE.value,
            HTTPStatus.SERVICE_UNAVAILABLE.phrase,
            Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))]),
            body,
        )

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/health":
            return self._health_response()
        if path == ADMIN_PATH:
            token = self.settings.admin_token
            if token is None or self.commands is None:
                return _respond(HTTPStatus.NOT_FOUND, "admin channel disabled")
            if not check_token(request.headers.get("Authorization"), token):
                logger.warning("admin: bad token from %s", connection.remote_address)
                return _respond(HTTPStatus.UNAUTHORIZED, "unauthorized")
            return None
        station_id = station_id_from_path(request.path)
        if station_id is None:
            return _respond(HTTPStatus.NOT_FOUND, "expected /ocpp/{station_id}")
        offered = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
        if not any(p.strip() in SUBPROTOCOLS for p in offered.split(",")):
            logger.warning(
                "station %s: refused, offers no OCPP subprotocol (%r)", station_id, offered
            )
            return _respond(
                HTTPStatus.BAD_REQUEST, "expected subprotocol ocpp2.1, ocpp2.0.1 or ocpp1.6"
            )
        link = self.security.link(connection.transport, station_id)
        if link.refusal is not None:
            _refused(station_id, connection, link.refusal)
            return _respond(HTTPStatus.FORBIDDEN, "certificate does not match the station")
        wait = self.security.auth_retry_after(station_id, connection.remote_address)
        if wait is not None:
            return _respond(
                HTTPStatus.TOO_MANY_REQUESTS, "try again later", Retry_After=str(ceil(wait))
            )
        password = _basic_password(request, station_id)
        busy = self._late(connection) or self._admit_or_busy()
        if busy is not None:
            return busy
        try:
            admission = await self.central.admission(station_id, password, certified=link.certified)
        except StoreUnavailable:
            logger.warning("station %s: refused, store unavailable", station_id)
            return _respond(HTTPStatus.SERVICE_UNAVAILABLE, "try again later")
        finally:
            self.pending_handshakes -= 1
        if not admission.allowed:
            self.security.auth_failed(station_id)
            _refused(station_id, connection, admission.reason)
            return _respond(
                HTTPStatus.UNAUTHORIZED,
                "unauthorized",
                WWW_Authenticate='Basic realm="ocpp", charset="UTF-8"',
            )
        refusal = self.security.refusal(link, registered=admission.security_profile)
        if refusal is not None:
            _refused(station_id, connection, refusal)
            return _respond(HTTPStatus.FORBIDDEN, "security profile too low")
        self.security.admitted(station_id, link, pending_profile=admission.pending_security_profile)
        return None

    def _late(self, connection: ServerConnection) -> Response | None:
        """Admission control for reconnect storms that adapts to what the process can
        serve: a handshake that already waited ``shed_handshakes_after_s`` for the server
        since it started (queued behind others in the event loop), or had waited
        ``handshake_wait_max_s`` for its turn to start
        (:class:`~csms.ocpp.handshake_gate.HandshakeGate`), would spend a store read and
        most likely time out anyway. It is answered 503 at once with a Retry-After spread
        over 1-10 s, so the station backs off while the ones admitted in time get served."""
        started_at = getattr(connection, "started_at", 0.0)
        if not started_at:
            return None
        now = time.monotonic()
        s = self.settings
        if (
            now - started_at <= s.shed_handshakes_after_s
            and started_at - getattr(connection, "accepted_at", started_at)
            <= s.handshake_wait_max_s
        ):
            return None
        self.refused_late += 1
        return _respond(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "busy, try again later",
            Retry_After=str(random.randint(1, 10)),
        )

    def _admit_or_busy(self) -> Response | None:
        """Admission control for reconnect storms: at most ``max_pending_handshakes``
        station handshakes are admitted at once (each holds a store read); the others are
        answered 503 at once, with a Retry-After spread over 1-10 s so they come back in a
        trickle, rather than queueing until their handshake times out. On None the caller
        owns one pending slot and must release it."""
        limit = self.settings.max_pending_handshakes
        if limit and self.pending_handshakes >= limit:
            self.refused_busy += 1
            return _respond(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "busy, try again later",
                Retry_After=str(random.randint(1, 10)),
            )
        self.pending_handshakes += 1
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        if urlsplit(ws.request.path).path == ADMIN_PATH:
            if ws.subprotocol != ADMIN_SUBPROTOCOL or self.commands is None:
                await ws.close(code=1002, reason="expected subprotocol chargegrid.admin")
                return
            await serve_admin(ws, self.commands, self.certificates)
            return
        station_id = station_id_from_path(ws.request.path)
        if station_id is None or ws.subprotocol not in _ADAPTERS:  # pragma: no cover
            await ws.close(code=1002, reason="bad request")
            return
        adapter = _ADAPTERS[ws.subprotocol]
        # Nothing reads the handshake's headers after it: they would stay with the
        # connection (about 2.5 KB, the station's password among them). Emptied in
        # place: websockets' parser keeps the same request object for the connection's life.
        ws.request.headers.clear()
        if ws.response is not None:  # and the answer's (about 1 KB), sent already
            ws.response.headers.clear()
        logged = LoggedConnection(ws, station_id, self.message_log)
        conn = adapter(station_id, logged, self.central, call_timeout_s=self.call_timeout_s)
        old = self.connections.replace(station_id, conn)
        if old is not None:
            logger.warning("station %s: new connection replaces the old one", station_id)
            old.fail_pending()
            await old.close("replaced by a new connection")
        try:
            conn.registration = await self.central.retrying(
                lambda: self.central.registration(station_id),
                what="registration",
                station_id=station_id,
            )
            await self.central.connected(station_id, adapter.ocpp_version)
            logger.info(
                "station %s: connected (OCPP %s) from %s",
                station_id,
                adapter.ocpp_version,
                ws.remote_address,
            )
            await _run_until_lost(conn, ws)
        except ConnectionClosed:
            pass
        finally:
            conn.fail_pending()
            if self.connections.remove(station_id, conn):
                await self.central.disconnected(
                    station_id, reason=f"{ws.close_code} {ws.close_reason or ''}".strip()
                )
            logger.info("station %s: disconnected (%s)", station_id, ws.close_code)
