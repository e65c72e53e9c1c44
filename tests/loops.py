"""The event loop the central system's own tests run on: the one ``serve`` runs on.

``serve`` runs on uvloop where it is installed and its OCPP port is plain (decision 0250),
so the central system's own integration tests and the store's (``tests/integration/csms``,
``tests/integration/store``, the store's kill -9 child) run on it too: a
conftest's ``pytest_asyncio_loop_factories`` returns :func:`server_loop_factories`. The
others, the TLS ones among them (``serve`` with TLS runs on the standard loop), run on the
standard library's loop, so both loops run the central system's code in the suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from csms.event_loop import choose

__all__ = ["server_loop_factories"]


def server_loop_factories() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loop ``serve`` runs on by default, by name."""
    if choose("auto", tls=False) == "asyncio":
        return {"asyncio": asyncio.new_event_loop}
    import uvloop

    return {"uvloop": uvloop.new_event_loop}
