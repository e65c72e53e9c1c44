from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.config import Settings
from csms.core.passwords import hash_password
from csms.domain import RegistrationStatus
from csms.store import MemoryStore, SqlStore, Store
from csms.store.base import StationRecord
from tests.integration.csms.databases import temporary_postgres, truncate_all
from tests.loops import server_loop_factories

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
PASSWORD = "s3cret-pass"
PASSWORD_HASH = hash_password(PASSWORD)


def make_settings(**server: object) -> Settings:
    return Settings(
        server={"host": "127.0.0.1", "port": 0, "gc_freeze_interval_s": None, **server},  # type: ignore[arg-type]
        ocpp={"call_timeout_s": 2.0, "remote_start_timeout_s": 3.0},  # type: ignore[arg-type]
        database={"url": "memory://", "retry_initial_s": 0.02, "retry_max_s": 0.2},  # type: ignore[arg-type]
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One fresh database for the session (tables truncated before each test)."""
    yield from temporary_postgres()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Every store, with the stations CP16, CP201 and OTHER registered (password PASSWORD)."""
    s: Store
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}")
    else:
        s = SqlStore(request.getfixturevalue("postgres_url"))
    await s.open()
    if isinstance(s, SqlStore) and s.dialect == "postgresql":
        await truncate_all(s.engine)
    for sid in ("CP16", "CP201", "OTHER"):
        await s.put_station(StationRecord(sid, password_hash=PASSWORD_HASH, site_id="depot"))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def csms(store: Store, clock: ManualClock) -> AsyncIterator[Csms]:
    async with Csms(make_settings(), clock=clock, store=store) as app:
        yield app


__all__ = ["PASSWORD", "PASSWORD_HASH", "START", "RegistrationStatus", "make_settings"]


from tests.fixtures.influx import influxd, own_influxd  # noqa: E402

__all__ += ["influxd", "own_influxd"]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """These tests run on the loop ``serve`` runs on (uvloop where installed, decision 0250)."""
    del config, item
    return server_loop_factories()
