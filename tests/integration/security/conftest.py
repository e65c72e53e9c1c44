from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.config import Settings
from csms.core.passwords import hash_password
from csms.store import MemoryStore
from csms.store.base import StationRecord
from tests.fixtures.pki import Issued, Pki
from tests.integration.csms.stations import _auth
from tests.waiting import wait_until

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
PASSWORD = "s3cret-pass"
PASSWORD_HASH = hash_password(PASSWORD)
ORG = "chargegrid tests"

__all__ = [
    "ORG",
    "PASSWORD",
    "client_context",
    "eventually",
    "make_settings",
    "open_ws",
    "refused_status",
]


async def eventually(predicate: Callable[[], Any], *, timeout_s: float = 20.0) -> bool:
    """``assert await eventually(...)``: :func:`tests.waiting.wait_until` on ``predicate()``
    (sync or async); True once it holds, the test fails when it never does."""
    await wait_until(predicate, timeout_s, "the condition")
    return True


def make_settings(pki: Pki, server: dict[str, Any] | None = None, **security: Any) -> Settings:
    options: dict[str, Any] = {
        "tls_cert_file": pki.server.cert_file,
        "tls_key_file": pki.server.key_file,
        "tls_ca_files": (pki.ca.cert_file,),
        "tls_reload_interval_s": None,
        **security,
    }
    return Settings(
        server={"host": "127.0.0.1", "port": 0, "gc_freeze_interval_s": None, **(server or {})},  # type: ignore[arg-type]
        ocpp={"call_timeout_s": 2.0},  # type: ignore[arg-type]
        database={"url": "memory://"},  # type: ignore[arg-type]
        telemetry={"enabled": False},  # type: ignore[arg-type]
        security=options,  # type: ignore[arg-type]
    )


def client_context(
    pki: Pki, station: Issued | None = None, *, ca_file: Path | None = None
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file or pki.ca.cert_file))
    if station is not None:
        ctx.load_cert_chain(station.cert_file, station.key_file)
    return ctx


@contextlib.asynccontextmanager
async def open_ws(
    url: str,
    station_id: str,
    *,
    ctx: ssl.SSLContext | None,
    password: str | None = None,
    version: str = "1.6",
) -> AsyncIterator[ClientConnection]:
    async with connect(
        url + station_id,
        subprotocols=[f"ocpp{version}"],  # type: ignore[list-item]
        additional_headers=_auth(station_id, password),
        ssl=ctx,
        open_timeout=5,
    ) as ws:
        yield ws


async def refused_status(url: str, station_id: str, **kw: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with open_ws(url, station_id, **kw):
            pass
    return info.value.response.status_code


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    s = MemoryStore()
    await s.open()
    for sid in ("CP16", "CP201"):
        await s.put_station(StationRecord(sid, password_hash=PASSWORD_HASH))
    await s.put_station(StationRecord("CP3", password_hash=PASSWORD_HASH, security_profile=3))
    yield s
    await s.close()


@pytest.fixture
def start_csms(
    pki: Pki, store: MemoryStore
) -> Callable[..., contextlib.AbstractAsyncContextManager[Csms]]:
    def start(
        server: dict[str, Any] | None = None, **security: Any
    ) -> contextlib.AbstractAsyncContextManager[Csms]:
        return Csms(make_settings(pki, server, **security), clock=ManualClock(START), store=store)

    return start
