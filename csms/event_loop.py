"""The event loop the central system runs on (``server.event_loop``, decision 0250).

``auto`` (the default) runs ``serve`` and ``demo`` on uvloop (libuv's loop) where it is
installed and the OCPP port is plain (no ``security.tls_cert_file``), else on the standard
library's loop; ``uvloop`` insists on it; ``asyncio`` keeps the standard loop. uvloop is a
dependency except on Windows. What the loop costs per OCPP call (its wake-ups, the
selector, its callbacks) is most of a paced call's CPU on the event loop's thread, and
uvloop does that part in C.

Why not with TLS: the security guard (``csms.security.guard``) starts a station's TLS
handshake itself on a connection whose reading it pauses when the connection is made, and
uvloop starts reading right after ``connection_made`` returns, whatever the protocol asked:
the ClientHello would reach the WebSocket side instead of the TLS handshake. The settings
refuse ``uvloop`` with TLS; ``auto`` chooses the standard loop then.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

__all__ = ["EventLoopName", "LoopKind", "choose", "loop_name", "run", "uvloop_available"]

EventLoopName = Literal["auto", "uvloop", "asyncio"]
LoopKind = Literal["uvloop", "asyncio"]

T = TypeVar("T")


def uvloop_available() -> bool:
    """Whether uvloop can be imported here."""
    return importlib.util.find_spec("uvloop") is not None


def choose(name: EventLoopName, *, tls: bool) -> LoopKind:
    """The loop a server configured with ``name`` runs on (``tls``: its OCPP port is TLS)."""
    if name == "auto":
        return "uvloop" if uvloop_available() and not tls else "asyncio"
    return name


def run(main: Coroutine[Any, Any, T], *, loop: LoopKind) -> T:
    """``asyncio.run(main)`` on the loop ``loop`` names."""
    if loop == "asyncio":
        return asyncio.run(main)
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def loop_name(loop: asyncio.AbstractEventLoop) -> LoopKind:
    """The kind of the running ``loop``, for the log."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
