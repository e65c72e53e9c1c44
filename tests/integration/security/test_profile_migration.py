"""Stations still on profile 1 beside TLS stations on one port (``plain_on_tls_port``), each
station's registered profile enforced on both schemes, and a profile upgrade the station
accepted kept across a restart of the central system (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chargegrid.clock import ManualClock, VirtualClock
from csms.app import Csms
from csms.exceptions import ConfigError
from csms.store import MemoryStore, SqlStore, Store
from csms.store.base import StationRecord
from simulators.runner import StationRunner
from simulators.tls import StationTls
from tests.fixtures.pki import Pki
from tests.integration.csms.databases import temporary_postgres, truncate_all
from tests.integration.security.conftest import (
    PASSWORD,
    PASSWORD_HASH,
    START,
    client_context,
    eventually,
    make_settings,
    open_ws,
    refused_status,
)
from tests.integration.simulators.helpers import running, station_runner

Start = Callable[..., Any]


async def test_profile_1_and_tls_on_one_port(
    pki: Pki, start_csms: Start, store: MemoryStore
) -> None:
    await store.put_station(StationRecord("CP2", password_hash=PASSWORD_HASH, security_profile=2))
    async with start_csms(plain_on_tls_port=True) as csms:
        assert csms.url.startswith("wss://")
        plain = csms.plain_url
        assert plain is not None and plain == "ws://" + csms.url[len("wss://") :]
        # a station with no registered profile: plain (1) and TLS (2) both let in
        async with open_ws(plain, "CP16", ctx=None, password=PASSWORD):
            assert csms.server.security.profiles["CP16"] == 1
        async with open_ws(csms.url, "CP16", ctx=client_context(pki), password=PASSWORD):
            assert csms.server.security.profiles["CP16"] == 2
        # registered for 2 or 3: refused on plain ws://, whatever the password
        assert await refused_status(plain, "CP2", ctx=None, password=PASSWORD) == 403
        assert await refused_status(plain, "CP3", ctx=None, password=PASSWORD) == 403
        async with open_ws(csms.url, "CP2", ctx=client_context(pki), password=PASSWORD):
            pass
        # registered for 3: refused on TLS with a password, let in with its certificate
        assert (
            await refused_status(csms.url, "CP3", ctx=client_context(pki), password=PASSWORD) == 403
        )
        async with open_ws(csms.url, "CP3", ctx=client_context(pki, pki.issue("CP3"))):
            assert csms.server.security.profiles["CP3"] == 3
        security = csms.server.security
        assert security.refused["profile-too-low"] == 3
        assert security.guard.plain == 3
        assert "chargegrid_ocpp_plain_on_tls_port_total 3" in security.metrics_text()


async def test_without_the_option_the_tls_port_refuses_plain(start_csms: Start, pki: Pki) -> None:
    async with start_csms() as csms:
        assert csms.plain_url is None
        plain = "ws://" + csms.url[len("wss://") :]
        with pytest.raises(Exception):  # noqa: B017 - not a WebSocket answer at all
            async with open_ws(plain, "CP16", ctx=None, password=PASSWORD):
                pass
        assert await eventually(
            lambda: csms.server.security.guard.refused["tls-handshake-failed"] == 1
        )


async def test_plain_client_that_says_nothing_is_dropped(pki: Pki, start_csms: Start) -> None:
    import asyncio

    async with start_csms(plain_on_tls_port=True, handshake_timeout_s=0.3) as csms:
        reader, writer = await asyncio.open_connection("127.0.0.1", csms.port)
        try:
            # nothing sent: neither TLS nor HTTP; dropped after the handshake timeout
            assert await asyncio.wait_for(reader.read(), 10.0) == b""
        finally:
            writer.close()
        assert csms.server.security.guard.refused["tls-handshake-timeout"] == 1


async def test_server_stop_does_not_wait_for_a_silent_client(pki: Pki, start_csms: Start) -> None:
    import asyncio

    async with start_csms(plain_on_tls_port=True, handshake_timeout_s=600) as csms:
        reader, writer = await asyncio.open_connection("127.0.0.1", csms.port)
        guard = csms.server.security.guard
        try:
            assert await eventually(lambda: len(guard._tasks) == 1)
            # the peek is cancelled at stop: well before the 600 s handshake timeout
            await asyncio.wait_for(csms.stop(), 30)
            assert await asyncio.wait_for(reader.read(), 30) == b""
            assert not guard._tasks
        finally:
            writer.close()


def test_plain_on_tls_port_needs_tls_and_minimum_profile_1(pki: Pki) -> None:
    from csms.config import load_settings

    with pytest.raises(ConfigError, match="plain_on_tls_port needs TLS"):
        load_settings(security={"plain_on_tls_port": True})
    with pytest.raises(ConfigError, match="minimum_profile 2 refuses"):
        load_settings(
            security={
                "plain_on_tls_port": True,
                "minimum_profile": 2,
                "tls_cert_file": pki.server.cert_file,
                "tls_key_file": pki.server.key_file,
            }
        )


# -- a profile 1 -> 2 migration on one port, across a restart ---------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from temporary_postgres()


@contextlib.asynccontextmanager
async def sql_store(url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def plain_station(url: str, pki: Pki) -> StationRunner:
    runner = station_runner(
        url, VirtualClock(start=START), version="1.6", station_id="CP16", password=PASSWORD
    )
    # holds the central system's CA for the move, still connecting over ws://
    runner.tls = StationTls(ca_file=pki.ca.cert_file)
    runner.reconnect_min_s = 0.05
    return runner


async def registered(store: Store, profile: int | None, pending: int | None) -> bool:
    record = await store.get_station("CP16")
    return (
        record is not None
        and record.security_profile == profile
        and record.pending_security_profile == pending
    )


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_pending_upgrade_survives_a_restart(
    pki: Pki, tmp_path: Path, request: pytest.FixtureRequest, database: str
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    settings = make_settings(pki, plain_on_tls_port=True)
    async with sql_store(url) as store:
        if store.dialect == "postgresql":
            await truncate_all(store.engine)
        await store.put_station(StationRecord("CP16", password_hash=PASSWORD_HASH))
        async with Csms(settings, clock=ManualClock(START), store=store) as csms:
            assert csms.plain_url is not None
            runner = plain_station(csms.plain_url, pki)
            runner.reconnect_min_s = 3600.0  # takes the change, comes back only later
            async with running(runner):
                assert await eventually(lambda: runner.online)
                assert csms.server.security.profiles["CP16"] == 1
                change = await csms.credentials.upgrade_profile("CP16", 2)
                assert change.accepted, change
                assert await eventually(lambda: not runner.online)
                assert runner.url.startswith("wss://")  # the same port, the scheme changed
            # kept in the store, the registered profile not raised yet
            assert await registered(store, None, 2)

    # a restart: a new store connection, a new central system
    async with (
        sql_store(url) as store,
        Csms(settings, clock=ManualClock(START), store=store) as csms,
    ):
        # nothing in memory carries it (as on another node sharing the store): the record
        # read at admission does
        assert await registered(store, None, 2)
        async with open_ws(csms.plain_url or "", "CP16", ctx=None, password=PASSWORD):
            pass  # profile 1 does not reach it: still pending
        assert await registered(store, None, 2)
        async with open_ws(csms.url, "CP16", ctx=client_context(pki), password=PASSWORD):
            assert await eventually(lambda: registered(store, 2, None))
        assert csms.server.security.reached == {}
        assert await eventually(lambda: store.station_events("CP16", "SecurityProfileChanged"))
        # from now on plain ws:// is a downgrade for this station
        assert csms.plain_url is not None
        assert await refused_status(csms.plain_url, "CP16", ctx=None, password=PASSWORD) == 403


async def test_migration_on_one_port_with_a_running_station(
    pki: Pki, start_csms: Start, store: MemoryStore
) -> None:
    async with start_csms(plain_on_tls_port=True) as csms:
        assert csms.plain_url is not None
        runner = plain_station(csms.plain_url, pki)
        async with running(runner):
            assert await eventually(lambda: runner.online)
            assert (await csms.credentials.upgrade_profile("CP16", 2)).accepted
            assert await eventually(lambda: runner.stats.connects >= 2 and runner.online)
            assert runner.security_profile == 2
            assert await eventually(lambda: registered(store, 2, None))
        assert await refused_status(csms.plain_url, "CP16", ctx=None, password=PASSWORD) == 403
