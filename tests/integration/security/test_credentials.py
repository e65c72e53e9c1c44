"""Password rotation and security profile upgrades with simulated stations: the old password
works until the station uses the new one; a refused change keeps what worked; a profile is
raised only after the station connected on it, and never lowered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chargegrid.clock import ManualClock, VirtualClock
from csms.app import Csms
from csms.config import Settings
from csms.core.passwords import verify_password
from csms.security.ca import CertificateAuthority
from csms.store import MemoryStore
from simulators.certificates import StationCertificates
from simulators.runner import StationRunner
from simulators.tls import StationTls
from tests.fixtures.pki import Pki
from tests.integration.security.conftest import (
    ORG,
    PASSWORD,
    START,
    client_context,
    eventually,
    open_ws,
    refused_status,
)
from tests.integration.simulators.helpers import running, station_runner

Start = Callable[..., Any]
VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


def plain_csms(store: MemoryStore) -> Csms:
    settings = Settings(
        server={"host": "127.0.0.1", "port": 0, "gc_freeze_interval_s": None},  # type: ignore[arg-type]
        ocpp={"call_timeout_s": 2.0},  # type: ignore[arg-type]
        database={"url": "memory://"},  # type: ignore[arg-type]
        telemetry={"enabled": False},  # type: ignore[arg-type]
    )
    return Csms(settings, clock=ManualClock(START), store=store)


def sim(url: str, station_id: str, version: str) -> StationRunner:
    runner = station_runner(
        url, VirtualClock(start=START), version=version, station_id=station_id, password=PASSWORD
    )
    runner.reconnect_min_s = 0.05
    return runner


async def kinds(store: MemoryStore, station_id: str, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in await store.station_events(station_id, kind)]


@VERSIONS
async def test_password_rotation(store: MemoryStore, version: str) -> None:
    async with plain_csms(store) as csms:
        runner = sim(csms.url, "CP16", version)
        async with running(runner):
            assert await eventually(lambda: runner.online)
            change = await csms.credentials.rotate_password("CP16")
            assert change.accepted, change
            # the station reconnects with its new password, which retires the old one
            assert await eventually(lambda: runner.stats.connects >= 2 and runner.online)
            assert runner.password is not None and runner.password != PASSWORD
            record = await store.get_station("CP16")
            assert record is not None and record.pending_password_hash is None
            assert record.password_hash is not None
            assert verify_password(runner.password, record.password_hash)
            assert await refused_status(csms.url, "CP16", ctx=None, password=PASSWORD) == 401
            assert await kinds(store, "CP16", "PasswordChanged") == [{"confirmed": "connection"}]


async def test_old_password_accepted_until_the_station_confirms(store: MemoryStore) -> None:
    async with plain_csms(store) as csms:
        runner = sim(csms.url, "CP16", "2.0.1")
        runner.reconnect_min_s = 3600.0  # it takes the password but does not come back yet
        async with running(runner):
            assert await eventually(lambda: runner.online)
            assert (await csms.credentials.rotate_password("CP16")).accepted
            assert await eventually(lambda: not runner.online)
            new = runner.password
            assert new is not None and new != PASSWORD
            # both work meanwhile; the old one no longer once the new one was used
            async with open_ws(csms.url, "CP16", ctx=None, password=PASSWORD):
                pass
            async with open_ws(csms.url, "CP16", ctx=None, password=new):
                pass
            assert await refused_status(csms.url, "CP16", ctx=None, password=PASSWORD) == 401


@VERSIONS
async def test_password_change_the_station_rejects(
    store: MemoryStore, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with plain_csms(store) as csms:
        runner = sim(csms.url, "CP16", version)
        runner.accept_password_change = False
        async with running(runner):
            assert await eventually(lambda: runner.online)
            change = await csms.credentials.rotate_password("CP16")
            assert (change.status, change.accepted) == ("Rejected", False)
            record = await store.get_station("CP16")
            assert record is not None and record.pending_password_hash is None
            assert record.password_hash is not None
            assert verify_password(PASSWORD, record.password_hash)
            assert csms.credentials.counters["password_refused"] == 1
            assert await kinds(store, "CP16", "PasswordChangeRefused") == [
                {"reason": "station answered Rejected"}
            ]
            assert runner.online and runner.stats.connects == 1
        async with open_ws(csms.url, "CP16", ctx=None, password=PASSWORD):
            pass
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("csms"))
    assert "password change refused" in logged


@VERSIONS
async def test_profile_2_to_3_and_no_way_back(
    pki: Pki, start_csms: Start, store: MemoryStore, tmp_path: Path, version: str
) -> None:
    ca_folder = tmp_path / "ca"
    CertificateAuthority.create(ca_folder, name="CA", organization=ORG, now=datetime.now(UTC))
    async with start_csms(
        tls_ca_files=(pki.ca.cert_file, ca_folder / "ca.pem"), ca_folder=ca_folder
    ) as csms:
        runner = sim(csms.url, "CP16", version)
        runner.tls = StationTls(ca_file=pki.ca.cert_file)
        runner.certificates = StationCertificates("CP16", tmp_path / "st", organization=ORG)
        async with running(runner):
            assert await eventually(lambda: runner.online)
            # no certificate yet: the station refuses to move to profile 3
            refused = await csms.credentials.upgrade_profile("CP16", 3)
            assert not refused.accepted
            assert await kinds(store, "CP16", "SecurityProfileChangeRefused")
            # a certificate first (kept for later), then the upgrade
            await csms.certificates.renew("CP16")
            assert await eventually(lambda: csms.certificates.counters["issued"] == 1)
            assert runner.stats.connects == 1
            change = await csms.credentials.upgrade_profile("CP16", 3)
            assert change.accepted, change
            assert await eventually(lambda: runner.stats.connects >= 2 and runner.online)
            assert runner.password is None and runner.security_profile == 3

            async def registered() -> bool:
                record = await store.get_station("CP16")
                return record is not None and record.security_profile == 3

            assert await eventually(registered)
            # from now on a password over TLS (profile 2) is a downgrade: refused
            assert (
                await refused_status(csms.url, "CP16", ctx=client_context(pki), password=PASSWORD)
                == 403
            )
            with pytest.raises(ValueError, match="downgrades are refused"):
                await csms.credentials.upgrade_profile("CP16", 2)
            assert csms.credentials.counters["downgrade_refused"] == 1
