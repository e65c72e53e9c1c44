"""Simulated stations on security profiles 2 and 3 against the central system, booting and
staying online over TLS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chargegrid.clock import VirtualClock
from csms.store import MemoryStore
from simulators.tls import StationTls
from tests.fixtures.pki import Pki
from tests.integration.security.conftest import PASSWORD, START, eventually
from tests.integration.simulators.helpers import running, station_runner


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_profiles_2_and_3(
    pki: Pki, start_csms: Callable[..., Any], store: MemoryStore, version: str
) -> None:
    clock = VirtualClock(start=START, speed=1.0)
    cert = pki.issue("CP3")
    async with start_csms() as csms:
        two = station_runner(csms.url, clock, version=version, station_id="CP16", password=PASSWORD)
        two.tls = StationTls(ca_file=pki.ca.cert_file)
        three = station_runner(csms.url, clock, version=version, station_id="CP3", password=None)
        three.tls = StationTls(
            ca_file=pki.ca.cert_file, cert_file=cert.cert_file, key_file=cert.key_file
        )
        assert (two.tls.profile, three.tls.profile) == (2, 3)
        async with running(two, three):

            async def booted() -> bool:
                records = [await store.get_station(s) for s in ("CP16", "CP3")]
                return (
                    two.online
                    and three.online
                    and all(r is not None and r.last_boot_at is not None for r in records)
                )

            assert await eventually(booted)
        assert two.stats.connects == 1 and three.stats.connects == 1


async def test_station_checks_the_server_certificate(
    pki: Pki, start_csms: Callable[..., Any], tmp_path: Any
) -> None:
    clock = VirtualClock(start=START, speed=1.0)
    stranger = Pki(tmp_path / "other", ca_name="not the server's CA")
    async with start_csms() as csms:
        runner = station_runner(
            csms.url, clock, version="2.0.1", station_id="CP16", password=PASSWORD
        )
        runner.tls = StationTls(ca_file=stranger.ca.cert_file)
        async with running(runner):
            assert await eventually(lambda: runner.stats.last_error)
            assert not runner.online
        assert csms.server.connections.get("CP16") is None


async def test_fleet_on_tls_with_certificates_dir(
    pki: Pki, start_csms: Callable[..., Any], store: MemoryStore, tmp_path: Any
) -> None:
    from csms.store.base import StationRecord
    from simulators import Fleet, FleetConfig, generate
    from tests.integration.security.conftest import PASSWORD_HASH

    for sid in ("SIM-0001", "SIM-0002"):
        await store.put_station(StationRecord(sid, password_hash=PASSWORD_HASH))
    # SIM-0002 already holds a certificate: it connects on profile 3
    certs = tmp_path / "certs"
    certs.mkdir()
    issued = pki.issue("SIM-0002")
    (certs / "SIM-0002.pem").write_bytes(issued.cert_file.read_bytes())
    (certs / "SIM-0002.key").write_bytes(issued.key_file.read_bytes())
    async with start_csms() as csms:
        clock = VirtualClock(start=START, speed=1.0)
        config = FleetConfig(
            url=csms.url,
            stations=2,
            password=PASSWORD,
            ca_file=pki.ca.cert_file,
            certificates_dir=certs,
        )
        fleet = Fleet(config, generate("depot", stations=2, seed=1, start=START), clock=clock)
        assert [r.security_profile for r in fleet.runners] == [2, 3]
        async with running(*fleet.runners):
            assert await eventually(lambda: all(r.online for r in fleet.runners))
            assert csms.server.security.profiles == {"SIM-0001": 2, "SIM-0002": 3}
