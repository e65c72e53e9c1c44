"""The certificate lifecycle end to end with simulated stations: a profile-2 station asked to
renew (TriggerMessage) sends a CSR, chargegrid's own CA signs it, the station takes the
certificate and comes back on profile 3; its trust store is managed remotely; bad requests
are refused with the reason recorded and the station keeps what worked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.security.ca import CertificateAuthority
from csms.store import MemoryStore
from simulators.certificates import StationCertificates
from simulators.runner import StationRunner
from simulators.tls import StationTls
from tests.fixtures.pki import Pki
from tests.integration.security.conftest import ORG, PASSWORD, START, eventually
from tests.integration.simulators.helpers import running, station_runner

Start = Callable[..., Any]


@pytest.fixture
def own_ca(tmp_path: Path) -> Path:
    folder = tmp_path / "ca"
    CertificateAuthority.create(
        folder, name="chargegrid station CA", organization=ORG, now=datetime.now(UTC)
    )
    return folder


def sim(csms: Csms, pki: Pki, folder: Path, station_id: str, version: str) -> StationRunner:
    clock = VirtualClock(start=START, speed=1.0)
    runner = station_runner(
        csms.url, clock, version=version, station_id=station_id, password=PASSWORD
    )
    runner.reconnect_min_s = 0.05
    runner.tls = StationTls(ca_file=pki.ca.cert_file)
    runner.certificates = StationCertificates(station_id, folder / station_id, organization=ORG)
    return runner


async def events(store: MemoryStore, station_id: str, kind: str) -> list[Any]:
    return await store.station_events(station_id, kind)


@pytest.fixture
async def with_ca(pki: Pki, start_csms: Start, own_ca: Path) -> AsyncIterator[Csms]:
    async with start_csms(
        tls_ca_files=(pki.ca.cert_file, own_ca / "ca.pem"),
        ca_folder=own_ca,
        certificate_organization=ORG,
    ) as csms:
        yield csms


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_first_certificate_then_profile_3(
    with_ca: Csms, pki: Pki, store: MemoryStore, tmp_path: Path, version: str
) -> None:
    csms = with_ca
    runner = sim(csms, pki, tmp_path / "stations", "CP16", version)
    async with running(runner):
        assert await eventually(lambda: runner.online)
        assert runner.security_profile == 2
        assert "CP16" not in csms.server.security.expiries

        result = await csms.certificates.renew("CP16")
        assert result.status == "Accepted"

        # CSR -> signed -> CertificateSigned: the station keeps it, still on profile 2
        assert await eventually(lambda: csms.certificates.counters["issued"] == 1)
        assert runner.certificates is not None
        assert runner.certificates.certificates_accepted == 1
        assert runner.security_profile == 2
        issued = await events(store, "CP16", "CertificateIssued")
        assert len(issued) == 1 and issued[0].data["status"] == "Accepted"
        assert runner.certificates.key_file.stat().st_mode & 0o077 == 0
        # ... until it is moved to profile 3, where it presents it
        change = await csms.credentials.upgrade_profile("CP16", 3)
        assert change.accepted, change
        assert await eventually(lambda: runner.stats.connects >= 2 and runner.online)
        assert runner.security_profile == 3
        assert "CP16" in csms.server.security.expiries
        not_after = csms.server.security.expiries["CP16"]
        assert not_after - datetime.now(UTC) > timedelta(days=300)

        async def registered() -> bool:
            record = await store.get_station("CP16")
            return record is not None and record.security_profile == 3

        assert await eventually(registered)
        # a renewal on profile 3: the station presents the new certificate at once
        await csms.certificates.renew("CP16")
        assert await eventually(lambda: runner.stats.connects >= 3 and runner.online)
        assert csms.certificates.counters["issued"] == 2


async def test_renewal_before_expiry_is_asked_by_itself(
    with_ca: Csms, pki: Pki, tmp_path: Path
) -> None:
    csms = with_ca
    # The station's current certificate ends in 10 days, inside renew_before_days (30).
    short = pki.issue("CP16", days=10)
    runner = sim(csms, pki, tmp_path / "stations", "CP16", "2.0.1")
    assert runner.tls is not None
    runner.tls = StationTls(
        ca_file=pki.ca.cert_file, cert_file=short.cert_file, key_file=short.key_file
    )
    async with running(runner):
        assert await eventually(lambda: runner.online)
        assert csms.certificates.due_for_renewal(datetime.now(UTC)) == ["CP16"]
        assert await csms.certificates.renew_due() == ["CP16"]
        # asked once per check interval, not on every check
        assert csms.certificates.due_for_renewal(datetime.now(UTC)) == []
        assert await eventually(lambda: csms.certificates.counters["issued"] == 1)
        assert await eventually(lambda: runner.stats.connects >= 2 and runner.online)
        assert csms.server.security.expiries["CP16"] - datetime.now(UTC) > timedelta(days=300)


async def test_csr_for_another_station_refused(
    with_ca: Csms, pki: Pki, store: MemoryStore, tmp_path: Path
) -> None:
    csms = with_ca
    runner = sim(csms, pki, tmp_path / "stations", "CP16", "2.0.1")
    assert runner.certificates is not None
    runner.certificates.station_id = "CP201"  # a CSR naming another station
    async with running(runner):
        assert await eventually(lambda: runner.online)
        await csms.certificates.renew("CP16")
        assert await eventually(lambda: csms.certificates.counters["csr_refused"] == 1)
        refused = await events(store, "CP16", "CertificateRequestRefused")
        assert "not for station 'CP16'" in refused[0].data["reason"]
        assert await eventually(lambda: "SignCertificate Rejected" in runner.stats.errors)
        # nothing issued, the station stays on its working profile-2 credentials
        assert runner.tls is not None and runner.tls.profile == 2
        assert runner.online and runner.stats.connects == 1


async def test_expired_ca_signs_nothing(
    pki: Pki, start_csms: Start, store: MemoryStore, tmp_path: Path
) -> None:
    folder = tmp_path / "old-ca"
    CertificateAuthority.create(
        folder,
        name="old",
        organization=ORG,
        now=datetime.now(UTC) - timedelta(days=30),
        valid_days=1,
    )
    async with start_csms(ca_folder=folder) as csms:
        runner = sim(csms, pki, tmp_path / "stations", "CP16", "2.0.1")
        async with running(runner):
            assert await eventually(lambda: runner.online)
            await csms.certificates.renew("CP16")
            assert await eventually(lambda: csms.certificates.counters["sign_failed"] == 1)
            failed = await events(store, "CP16", "CertificateRequestFailed")
            assert "not valid now" in failed[0].data["reason"]
            assert runner.online and runner.tls is not None and runner.tls.profile == 2


async def test_station_rejecting_the_certificate_keeps_its_own(
    with_ca: Csms, pki: Pki, store: MemoryStore, tmp_path: Path
) -> None:
    csms = with_ca
    runner = sim(csms, pki, tmp_path / "stations", "CP16", "2.0.1")
    async with running(runner):
        assert await eventually(lambda: runner.online)
        # A certificate the station never asked for (another key): it answers Rejected.
        stray = pki.issue("CP16")
        chain = stray.cert_file.read_text()
        answer = await csms.commands.send_raw(
            "CP16", "CertificateSigned", {"certificateChain": chain}
        )
        assert answer["status"] == "Rejected"
        assert runner.tls is not None and runner.tls.profile == 2
        assert runner.online and runner.stats.connects == 1


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_trust_store_install_list_delete(
    with_ca: Csms, pki: Pki, tmp_path: Path, version: str
) -> None:
    csms = with_ca
    runner = sim(csms, pki, tmp_path / "stations", "CP16", version)
    root_type = "CentralSystemRootCertificate" if version == "1.6" else "CSMSRootCertificate"
    async with running(runner):
        assert await eventually(lambda: runner.online)
        assert await csms.certificates.installed("CP16") == []
        pem = pki.ca.cert_file.read_text()
        assert (await csms.certificates.install("CP16", root_type, pem)).status == "Accepted"
        # not a CA certificate: the station refuses it
        leaf = pki.issue("someone").cert_file.read_text()
        assert (await csms.certificates.install("CP16", root_type, leaf)).status == "Rejected"
        with pytest.raises(ValueError, match="not one of"):
            await csms.certificates.install("CP16", "NoSuchType", pem)
        with pytest.raises(ValueError, match="not a PEM"):
            await csms.certificates.install("CP16", root_type, "garbage")

        installed = await csms.certificates.installed("CP16")
        assert [c.certificate_type for c in installed] == [root_type]
        serial = installed[0].hash_data["serialNumber"]
        assert int(serial, 16) == pki.ca.cert.serial_number
        assert (await csms.certificates.delete("CP16", installed[0].hash_data)).status == (
            "Accepted"
        )
        assert await csms.certificates.installed("CP16") == []
        assert (await csms.certificates.delete("CP16", installed[0].hash_data)).status == (
            "NotFound"
        )


async def test_cli_through_the_admin_channel(
    pki: Pki,
    start_csms: Start,
    own_ca: Path,
    store: MemoryStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import asyncio
    import json

    from chargegrid.cli import main

    token = "admin-token-for-tests-0123456789"
    async with start_csms(
        server={"admin_token": token},
        tls_ca_files=(pki.ca.cert_file, own_ca / "ca.pem"),
        ca_folder=own_ca,
    ) as csms:
        runner = sim(csms, pki, tmp_path / "stations", "CP201", "2.0.1")
        async with running(runner):
            assert await eventually(lambda: runner.online)
            admin = [
                "--server",
                f"wss://127.0.0.1:{csms.port}/admin",
                "--ca-file",
                str(pki.ca.cert_file),
                "--admin-token",
                token,
            ]

            async def cli(*argv: str) -> tuple[int, str]:
                capsys.readouterr()
                rc = await asyncio.to_thread(main, [*argv])
                return rc, capsys.readouterr().out

            rc, _ = await cli(
                "cert",
                "install",
                "CP201",
                "--type",
                "CSMSRootCertificate",
                str(pki.ca.cert_file),
                *admin,
            )
            assert rc == 0
            rc, out = await cli("cert", "list", "CP201", *admin)
            assert rc == 0
            listed = json.loads(out)
            assert [c["certificate_type"] for c in listed] == ["CSMSRootCertificate"]
            rc, _ = await cli(
                "cert",
                "delete",
                "CP201",
                "--hash-data",
                json.dumps(listed[0]["hash_data"]),
                *admin,
            )
            assert rc == 0
            rc, _ = await cli("cert", "renew", "CP201", *admin)
            assert rc == 0
            assert await eventually(lambda: csms.certificates.counters["issued"] == 1)
            rc, out = await cli("cert", "revoke", "CP201", "--reason", "superseded", *admin)
            assert rc == 0
            revoked = json.loads(out)
            assert len(revoked["serial_numbers"]) == 1 and not revoked["disconnected"]
            rc, _ = await cli("cert", "revoke", "CP201", *admin)  # nothing valid left
            assert rc == 1
            # a wrong token is refused
            rc, _ = await cli("cert", "list", "CP201", *admin[:4], "--admin-token", "x")
            assert rc == 1
        recorded = await store.station_events("CP201", "CertificateCommand")
        assert [e.data["command"] for e in recorded] == [
            "certificate_install",
            "certificate_list",
            "certificate_delete",
            "certificate_renew",
            "certificate_revoke",
        ]
        assert all("certificate" not in e.data["args"] for e in recorded)


def test_ca_init_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from chargegrid.cli import main

    folder = tmp_path / "ca"
    assert main(["ca", "init", "--folder", str(folder), "--name", "Station CA"]) == 0
    assert (folder / "ca.key").stat().st_mode & 0o777 == 0o600
    assert main(["ca", "init", "--folder", str(folder), "--name", "again"]) == 1
    capsys.readouterr()
    assert main(["ca", "show", "--folder", str(folder)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["subject"] == "CN=Station CA"
