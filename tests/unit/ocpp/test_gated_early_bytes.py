"""A connection waiting at the handshake gate that is read anyway (uvloop starts reading
after ``connection_made`` whatever it paused): what arrived is kept for its turn, the
reading paused, nothing parsed meanwhile (decision 0250)."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.server import ServerProtocol

from csms.ocpp.gated import gated
from csms.ocpp.handshake_gate import HandshakeGate

REQUEST = b"GET /ocpp/B HTTP/1.1\r\nHost: x\r\n\r\n"


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.reading = True
        self.closing = False

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closing


class _Recorded(ServerConnection):
    """Stands for the guard's connection class: records what reaches it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made = transport
        self.got: list[bytes] = []
        self.eof = False

    def data_received(self, data: bytes) -> None:
        self.got.append(data)

    def eof_received(self) -> None:
        self.eof = True


def _one_admitted_one_waiting() -> tuple[Any, Any, _Transport]:
    """Two connections at a gate of one: the first admitted, the second waiting."""
    cls = gated(_Recorded, HandshakeGate(1))
    first, second = (cls(ServerProtocol(), server=None) for _ in range(2))
    first.connection_made(_Transport())
    waiting = _Transport()
    second.connection_made(waiting)
    return first, second, waiting


async def test_bytes_read_while_waiting_are_kept_for_its_turn() -> None:
    first, second, waiting = _one_admitted_one_waiting()
    assert not waiting.reading and not hasattr(second, "made")
    waiting.reading = True  # what uvloop does after connection_made returns
    second.data_received(REQUEST)
    assert not waiting.reading and not hasattr(second, "made")  # paused, nothing parsed
    first._leave_gate()  # the first one's handshake ends: the second one's turn
    assert second.made is waiting and waiting.reading
    assert second.got == [REQUEST]


async def test_an_end_of_stream_while_waiting_closes_it_unserved() -> None:
    first, second, waiting = _one_admitted_one_waiting()
    assert second.eof_received() is None  # None: the transport closes itself
    waiting.closing = True
    second.connection_lost(None)
    first._leave_gate()
    assert not hasattr(second, "made")
