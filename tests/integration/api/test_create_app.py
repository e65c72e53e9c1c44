"""``create_app(csms)``: the app makes its own services and starts and stops them with its
lifespan (for hosting the API under another ASGI server)."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import uvicorn

from chargegrid.clock import ManualClock
from csms.api import Role, TokenService, create_app
from csms.api.server import _Server
from csms.app import Csms
from csms.domain import ConnectorStatus, StatusReport
from csms.events import StatusChanged
from csms.store import MemoryStore
from tests.integration.api.conftest import START, make_settings
from tests.waiting import wait_until


async def test_create_app_over_a_csms_runs_its_services_in_the_lifespan() -> None:
    store = MemoryStore()
    async with Csms(
        make_settings(planning={"enabled": False}), clock=ManualClock(START), store=store
    ) as csms:
        app = create_app(csms)
        services = app.state.services
        server = _Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_config=None)
        )
        task = asyncio.create_task(server.serve())
        try:
            await wait_until(lambda: server.started, 30.0, "uvicorn to start")
            assert services.started
            _, token = await TokenService(services.repo, now=csms.clock.now).create(
                role=Role.ADMIN, name="t"
            )
            port = server.servers[0].sockets[0].getsockname()[1]
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
            ) as c:
                assert (await c.get("/api/v1/me")).json()["role"] == "admin"
            csms.bus.publish(
                StatusChanged(StatusReport("X", 1, 1, ConnectorStatus.AVAILABLE, START))
            )
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert not services.started
        assert services.hub.subscriptions == 0
