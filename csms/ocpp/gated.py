"""Connections that start their handshake when :class:`HandshakeGate` lets them, and
note when they were accepted and when their handshake started (decision 0241).

A connection beyond the gate's limit waits with its reading paused: nothing of it is read,
websockets' handshake timer does not run. One that would wait longer than the gate allows is
answered 503 with its booked turn as Retry-After before anything of it is parsed, and what it
sends is then read and dropped until it closes.
"""

from __future__ import annotations

import asyncio
import time
from math import ceil
from typing import Any, ClassVar, cast

from websockets.asyncio.server import ServerConnection

from csms.ocpp.handshake_gate import HandshakeGate

__all__ = ["GatedConnection", "gated"]

#: the answer to a connection sent away before its handshake (``%d``: the Retry-After)
_BUSY_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: %d\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 22\r\n"
    b"Connection: close\r\n\r\nbusy, try again later\n"
)
#: how long a connection sent away may take to close after the answer
_REFUSED_LINGER_S = 10.0


class GatedConnection(ServerConnection):
    """The gate's side of a connection (a base for :func:`gated`)."""

    _gate: ClassVar[HandshakeGate[GatedConnection]]
    #: when accepted, and when its handshake started (its turn came)
    accepted_at = 0.0
    started_at = 0.0
    #: 0 new, 1 waiting for its turn, 2 holds a place in the gate, 3 done with it, 4 sent
    #: away (answered 503 before its handshake)
    _gate_state = 0
    _waiting_transport: asyncio.Transport | None = None
    _abort_later: asyncio.TimerHandle | None = None
    #: what a waiting connection sent before its reading stopped (uvloop only)
    _early = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.accepted_at = now = time.monotonic()
        verdict = self._gate.enter(self, now)
        if verdict is True:
            self._start(transport, now)
            return
        # A stream transport (uvloop's are not asyncio.Transport subclasses: no isinstance).
        transport = cast(asyncio.Transport, transport)
        if verdict is False:
            transport.pause_reading()
            self._waiting_transport = transport
            self._gate_state = 1
            return
        # It would wait too long: 503 now, nothing parsed, with its booked turn. What
        # it sends is read and dropped until it closes (closing with unread data would
        # reset the connection before the station reads the answer).
        self._gate_state = 4
        transport.write(_BUSY_503 % ceil(verdict))
        transport.write_eof()
        self._abort_later = asyncio.get_running_loop().call_later(
            _REFUSED_LINGER_S, transport.abort
        )

    def data_received(self, data: bytes) -> None:
        if self._gate_state == 1:
            # Waiting, yet read: uvloop starts reading after ``connection_made`` whatever
            # it paused. Kept for its turn, and the reading paused now (decision 0250).
            self._early = self._early + data
            if self._waiting_transport is not None:
                self._waiting_transport.pause_reading()
            return
        if self._gate_state != 4:
            super().data_received(data)

    def eof_received(self) -> None:
        if self._gate_state not in (1, 4):  # waiting or sent away: None closes the transport
            super().eof_received()

    def turn(self) -> None:
        """Its turn came: the handshake starts (or, if it is gone, the next one)."""
        transport, self._waiting_transport = self._waiting_transport, None
        if self._gate_state != 1 or transport is None or transport.is_closing():
            self._gate_state = 3
            _next_turns(self._gate.leave(time.monotonic()))
            return
        transport.resume_reading()
        self._start(transport, time.monotonic())
        early, self._early = self._early, b""
        if early:
            super().data_received(early)

    def _start(self, transport: asyncio.BaseTransport, now: float) -> None:
        self._gate_state = 2
        self.started_at = now
        super().connection_made(transport)

    def _leave_gate(self) -> None:
        if self._gate_state == 2:
            self._gate_state = 3
            _next_turns(self._gate.leave(time.monotonic()))

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().handshake(*args, **kwargs)
        finally:
            self._leave_gate()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.started_at:  # closed while waiting (its place is skipped) or sent away
            if self._abort_later is not None:
                self._abort_later.cancel()
            self._gate_state = 3
            return
        self._leave_gate()
        super().connection_lost(exc)

    def close_waiting(self) -> None:
        """The server stops before its turn came."""
        transport, self._waiting_transport = self._waiting_transport, None
        self._gate_state = 3
        if transport is not None:
            transport.abort()


def _next_turns(turns: list[GatedConnection]) -> None:
    for conn in turns:
        conn.turn()


def gated(base: type[ServerConnection], gate: HandshakeGate[Any]) -> type[ServerConnection]:
    """``base`` (the security guard's connection class) gated by ``gate``."""

    class Gated(GatedConnection, base):  # type: ignore[valid-type,misc]
        _gate = gate

    return Gated
