"""Serve the API with uvicorn inside the caller's event loop (beside the OCPP server).

::

    async with ApiServer(services, host="127.0.0.1", port=0) as api:
        print(api.url)          # http://127.0.0.1:PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn

from csms.api.app import create_app
from csms.api.overview import warm_up
from csms.api.services import ApiServices
from csms.lifecycle import StartStop

__all__ = ["ApiServer"]

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """Leaves signal handling to the host process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ApiServer(StartStop):
    def __init__(
        self,
        services: ApiServices,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        sockets: list[socket.socket] | None = None,
    ):
        """``sockets``: already bound and listening (:func:`csms.listeners.bind_listeners`);
        the server then owns them and ``port`` is not bound again."""
        self.services = services
        self._sockets = sockets
        self.app = create_app(services)
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self.host = host

    @property
    def port(self) -> int:
        servers = getattr(self._server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("the API server is not listening")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        await self.services.start()
        self.services.background(warm_up(self.services))
        self._task = asyncio.create_task(
            self._server.serve(sockets=self._sockets), name="api-server"
        )
        while not self._server.started:
            if self._task.done():
                await self._task
                raise OSError(f"the API server could not listen on {self.host}")
            await asyncio.sleep(0.01)
        logger.info("API listening at %s (docs at %s/docs)", self.url, self.url)

    async def stop(self) -> None:
        # Event streams never end by themselves: close them so the shutdown does not wait.
        self.services.hub.close()
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.services.stop()
