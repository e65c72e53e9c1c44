"""Listening sockets bound before anything shared is touched.

A second ``chargegrid serve`` pointed at the same database and ports must fail *without*
changing the running one: before it opens the store (which marks stations disconnected) or
the telemetry outbox, it binds its ports here. The sockets are then handed to the OCPP and
HTTP servers, so there is no window between checking a port and listening on it::

    ocpp = bind_listeners("127.0.0.1", 9000, what="OCPP")   # PortInUse if taken
    ...                                                      # only now: store, outbox
    await serve(handler, sock=ocpp[0])

The sockets are made the way :meth:`asyncio.loop.create_server` makes them (every address
the host resolves to, ``SO_REUSEADDR``, IPv6 sockets IPv6-only), so a port that asyncio could
bind is bound here and one it could not is refused here.
"""

from __future__ import annotations

import errno
import socket

from csms.exceptions import CsmsError

__all__ = ["LISTEN_BACKLOG", "PortInUse", "bind_listeners", "close_all"]

#: The listen queue: connections the kernel completes before the server accepts them. A
#: reconnect storm arrives faster than the event loop accepts; past this many, the kernel
#: drops a station's handshake and the station resends it only after 1, 3, 7 s, a wait no
#: shedding sees (decision 0228). The kernel caps it at ``net.core.somaxconn``. asyncio
#: listens again when it starts serving (default 100): the servers pass it there too.
LISTEN_BACKLOG = 4096


class PortInUse(CsmsError):
    """A port this process must listen on is taken (or cannot be bound); nothing was changed."""

    def __init__(self, what: str, host: str, port: int, reason: str) -> None:
        super().__init__(
            f"cannot listen for {what} on {host}:{port}: {reason}; nothing was started or "
            "changed (is another chargegrid serve running on this port?)"
        )
        self.what = what
        self.host = host
        self.port = port


def bind_listeners(host: str, port: int, *, what: str) -> list[socket.socket]:
    """Listening, non-blocking TCP sockets on every address of ``host`` at ``port`` (0: a
    free port, the same one on every address). Raises :class:`PortInUse` naming ``what``."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise PortInUse(what, host, port, f"cannot resolve the host ({exc})") from exc
    seen: set[tuple[int, object]] = set()
    socks: list[socket.socket] = []
    chosen = port
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if chosen:
                address = (address[0], chosen, *address[2:])
            try:
                sock.bind(address)
            except OSError as exc:
                reason = (
                    "address already in use"
                    if exc.errno == errno.EADDRINUSE
                    else (exc.strerror or str(exc))
                )
                raise PortInUse(what, host, chosen, reason) from exc
            chosen = sock.getsockname()[1]
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
    except BaseException:
        close_all(socks)
        raise
    return socks


def close_all(socks: list[socket.socket]) -> None:
    """Close sockets that were bound but never handed to a server."""
    for sock in socks:
        sock.close()
