"""What happens to a TCP connection before its WebSocket handshake: the limits per source
address, then the TLS handshake.

websockets lets the server choose the class of its connections (``create_connection``);
:class:`ConnectionGuard` hands it a :class:`ServerConnection` subclass that, when TLS is on,
runs the TLS handshake itself (``loop.start_tls``) before websockets sees the connection. So a
refused handshake (a certificate that does not verify, is expired or revoked, a client that
speaks no offered TLS version or cipher, a handshake that does not finish in time) is logged
with its reason and counted, which an ``ssl=`` server would drop silently. Before that, a
source address over its open-connection or attempts-per-second limit is dropped at once
(:class:`csms.security.limits.AddressLimits`), before a byte of TLS or HTTP is read.
Refusals are logged at most once per reason every ``log_every_s`` (a flood must not flood
the log too).

With ``accept_plain`` (``security.plain_on_tls_port``) the TLS port also takes plain
``ws://`` connections (security profile 1), for stations not yet moved to TLS: the first byte
the client sends is peeked at (not read) and a TLS handshake record (0x16) goes to TLS,
anything else to websockets as plain HTTP. A station moving from profile 1 to 2 then changes
only the scheme of its URL, which is all a 1.6 station's ``SecurityProfile`` change does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from collections import Counter
from typing import Any, cast

from websockets.asyncio.server import ServerConnection

from csms.security.limits import AddressLimits
from csms.security.tls import ServerTls

__all__ = ["ConnectionGuard", "tls_refusal_reason"]

logger = logging.getLogger(__name__)

#: the first byte of a TLS handshake record (a ClientHello starts every TLS connection)
_TLS_HANDSHAKE = 0x16


def tls_refusal_reason(exc: BaseException) -> tuple[str, str]:
    """(counter key, readable reason) of a failed TLS handshake."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = exc.verify_message or str(exc)
        key = "tls-certificate-" + message.lower().replace(" ", "-")
        return key, f"certificate refused: {message}"
    if isinstance(exc, TimeoutError):
        return "tls-handshake-timeout", "TLS handshake not finished in time"
    if isinstance(exc, ssl.SSLError):
        return "tls-handshake-failed", f"TLS handshake failed: {exc.reason or exc}"
    return "tls-connection-lost", f"connection lost during the TLS handshake: {exc!r}"


class ConnectionGuard:
    """The connection class for ``serve(create_connection=...)`` and the counters of
    connections refused before the WebSocket handshake."""

    def __init__(
        self,
        tls: ServerTls | None,
        *,
        handshake_timeout_s: float = 10.0,
        limits: AddressLimits | None = None,
        log_every_s: float = 10.0,
        accept_plain: bool = False,
    ) -> None:
        self.tls = tls
        #: with TLS on, also take plain connections (profile 1) on the same port
        self.accept_plain = accept_plain and tls is not None
        #: plain connections taken on the TLS port (``accept_plain``)
        self.plain = 0
        self.handshake_timeout_s = handshake_timeout_s
        self.limits = limits
        self.log_every_s = log_every_s
        self._logged_at: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        #: refusals by reason (``tls-certificate-certificate-has-expired``, ...)
        self.refused: Counter[str] = Counter()
        self.handshakes = 0
        self._pending: set[asyncio.Transport] = set()
        #: the tasks running those handshakes (cancelled at server stop)
        self._tasks: set[asyncio.Task[None]] = set()
        guard = self

        class GuardedConnection(ServerConnection):
            _made = False

            _address: str | None = None

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                address = _host(transport.get_extra_info("peername"))
                if guard.limits is not None:
                    reason = guard.limits.attempt(address, time.monotonic())
                    if reason is not None:
                        guard.refuse(reason, address, "over the per-address limit")
                        cast(asyncio.Transport, transport).abort()
                        return
                    self._address = address
                if guard.tls is None:
                    self._made = True
                    super().connection_made(transport)
                    return
                # A stream transport (uvloop's are not asyncio.Transport subclasses, so
                # no isinstance check here).
                raw = cast(asyncio.Transport, transport)
                raw.pause_reading()
                guard._pending.add(raw)
                start = guard._sniff if guard.accept_plain else guard._secure
                task = asyncio.get_running_loop().create_task(start(self, raw))
                guard._tasks.add(task)
                task.add_done_callback(guard._tasks.discard)

            def _tls_made(self, transport: asyncio.Transport) -> None:
                self._made = True
                super().connection_made(transport)

            def _plain_made(self, transport: asyncio.Transport) -> None:
                self._made = True
                super().connection_made(transport)
                transport.resume_reading()

            def connection_lost(self, exc: Exception | None) -> None:
                if self._address is not None and guard.limits is not None:
                    guard.limits.closed(self._address)
                    self._address = None
                if self._made:
                    super().connection_lost(exc)

        self.connection_class: type[ServerConnection] = GuardedConnection

    async def _sniff(self, conn: Any, raw: asyncio.Transport) -> None:
        """TLS or plain? Peek at the client's first byte (``accept_plain``)."""
        peer = raw.get_extra_info("peername")
        try:
            async with asyncio.timeout(self.handshake_timeout_s):
                first = await _peek_first_byte(raw)
        except (OSError, TimeoutError, asyncio.CancelledError) as exc:
            self._pending.discard(raw)
            self._failed(conn, raw, peer, exc)
            return
        if first is None:  # closed before it said anything
            self._pending.discard(raw)
            raw.abort()
            conn.connection_lost(None)
            return
        if first == _TLS_HANDSHAKE:
            await self._secure(conn, raw)
            return
        self._pending.discard(raw)
        self.plain += 1
        conn._plain_made(raw)

    async def _secure(self, conn: Any, raw: asyncio.Transport) -> None:
        assert self.tls is not None
        loop = asyncio.get_running_loop()
        peer = raw.get_extra_info("peername")
        try:
            async with asyncio.timeout(self.handshake_timeout_s):
                # The newest context, whole: certificate, CAs, CRLs and their verify flags
                # (a flag set on a context swapped in later by SNI would not apply).
                secured = await loop.start_tls(
                    raw,
                    conn,
                    self.tls.current,
                    server_side=True,
                    ssl_handshake_timeout=self.handshake_timeout_s + 5.0,
                )
        except (OSError, TimeoutError, ConnectionError, asyncio.CancelledError) as exc:
            self._failed(conn, raw, peer, exc)
            return
        finally:
            self._pending.discard(raw)
        if secured is None:  # pragma: no cover - only for transports closed meanwhile
            raw.abort()
            return
        self.handshakes += 1
        conn._tls_made(secured)

    def _failed(self, conn: Any, raw: asyncio.Transport, peer: Any, exc: BaseException) -> None:
        """A connection whose TLS handshake (or first byte) failed: closed, the limits'
        count of open connections told, the refusal counted; a cancellation raised on."""
        raw.abort()
        conn.connection_lost(None)
        if isinstance(exc, asyncio.CancelledError):
            raise exc
        key, reason = tls_refusal_reason(exc)
        self.refuse(key, _addr(peer), reason, tls=True)

    def refuse(self, key: str, peer: str, reason: str, *, tls: bool = False) -> None:
        """Count a refusal; log it unless this reason was logged in the last
        ``log_every_s`` (then say how many were not)."""
        self.refused[key] += 1
        now = time.monotonic()
        last = self._logged_at.get(key)
        if last is not None and now - last < self.log_every_s:
            self._suppressed[key] += 1
            return
        self._logged_at[key] = now
        more = self._suppressed.pop(key, 0)
        also = f" ({more} more like it not logged)" if more else ""
        what = "TLS connection" if tls else "connection"
        logger.warning("%s from %s refused: %s%s", what, peer, reason, also)

    def abort_pending(self) -> None:
        """Drop connections still in their TLS handshake (at server stop)."""
        for raw in list(self._pending):
            raw.abort()
        self._pending.clear()
        # A peek holds its own descriptor of the socket, so the abort alone would leave it
        # waiting until the handshake timeout.
        for task in list(self._tasks):
            task.cancel()


async def _peek_first_byte(raw: asyncio.Transport) -> int | None:
    """The first byte the client sent, left unread for whoever reads the connection next;
    None when it closed first. The transport's reading is paused meanwhile, so the socket
    is peeked at, waiting a little longer each time nothing has arrived yet."""
    transport_socket = raw.get_extra_info("socket")
    if transport_socket is None or raw.is_closing():
        return None
    with socket.socket(fileno=os.dup(transport_socket.fileno())) as sock:
        sock.setblocking(False)
        delay = 0.0005
        while True:
            try:
                data = sock.recv(1, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
                continue
            return data[0] if data else None


def _host(peer: Any) -> str:
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)


def _addr(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
