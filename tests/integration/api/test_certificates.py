"""Station certificates through the API: admin only, audited, the station's trust store
managed on a live simulated station, errors answered precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargegrid.clock import VirtualClock
from tests.fixtures.pki import Pki
from tests.integration.api.conftest import START, Api
from tests.integration.security.conftest import eventually
from tests.integration.simulators.helpers import running, station_runner

P = "/api/v1"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_trust_store_through_the_api(api: Api, tmp_path: Path, version: str) -> None:
    from simulators.certificates import StationCertificates

    pki = Pki(tmp_path / "pki")
    root_type = "CentralSystemRootCertificate" if version == "1.6" else "CSMSRootCertificate"
    runner = station_runner(
        api.csms.url, VirtualClock(start=START), version=version, station_id="CP1", password=None
    )
    runner.certificates = StationCertificates("CP1", tmp_path / "station")
    base = f"{P}/stations/CP1/certificates"
    async with running(runner), api.client("admin") as a, api.client("fleet_manager") as f:
        assert await eventually(lambda: runner.online)
        assert (await a.get(base)).json() == []
        pem = pki.ca.cert_file.read_text()
        r = await a.post(base, json={"certificate_type": root_type, "certificate": pem})
        assert r.status_code == 200 and r.json() == {"status": "Accepted"}
        listed = (await a.get(base)).json()
        assert [c["certificate_type"] for c in listed] == [root_type]
        r = await a.post(f"{base}/delete", json={"hash_data": listed[0]["hash_data"]})
        assert r.json() == {"status": "Accepted"}
        assert (await a.get(base)).json() == []

        # only the admin
        assert (await f.get(base)).status_code == 403
        assert (await f.post(f"{base}/renew")).status_code == 403
        # precise errors, nothing sent
        r = await a.post(base, json={"certificate_type": root_type, "certificate": "junk"})
        assert r.status_code == 422 and "not a PEM" in r.text
        r = await a.post(base, json={"certificate_type": "Bogus", "certificate": pem})
        assert r.status_code == 422
        r = await a.post(f"{base}/delete", json={"hash_data": {"hashAlgorithm": "MD5"}})
        assert r.status_code == 422
        # renewal asked; no CA configured, so the CSR is refused and recorded
        assert (await a.post(f"{base}/renew")).json() == {"status": "Accepted"}
        assert await eventually(lambda: api.csms.certificates.counters["csr_refused"] == 1)
        history = (await a.get(f"{P}/stations/CP1/certificate-events")).json()
        assert [h["kind"] for h in history] == ["CertificateRequestRefused"]
        assert "no certificate authority" in history[0]["data"]["reason"]

        audit = (await a.get(f"{P}/audit", params={"action": "certificate.install"})).json()
        # the refusals newest first: the unknown type (the model's), the junk PEM (the service's)
        assert [(e["result"], e["actor"]) for e in audit] == [
            ("refused", "admin"),
            ("refused", "admin"),
            ("Accepted", "admin"),
        ]
        assert "certificate" not in audit[2]["request"]
        assert all("junk" not in str(e) for e in audit)

    async with api.client("admin") as a:
        assert (await a.post(f"{base}/renew")).status_code == 409  # offline now
        assert (await a.get(f"{P}/stations/NOPE/certificates")).status_code == 404


async def test_password_rotation_through_the_api(api: Api, tmp_path: Path) -> None:
    from csms.core.passwords import hash_password
    from csms.store.base import StationRecord

    await api.csms.store.put_station(
        StationRecord("CP2", site_id="depot", password_hash=hash_password("old-password-0123"))
    )
    runner = station_runner(
        api.csms.url,
        VirtualClock(start=START),
        version="2.0.1",
        station_id="CP2",
        password="old-password-0123",
    )
    runner.reconnect_min_s = 0.05
    base = f"{P}/stations/CP2"
    async with running(runner), api.client("admin") as a, api.client("fleet_manager") as f:
        assert await eventually(lambda: runner.online)
        assert (await f.post(f"{base}/password/rotate")).status_code == 403
        r = await a.post(f"{base}/password/rotate")
        assert r.status_code == 200 and r.json()["accepted"] is True
        assert await eventually(lambda: runner.stats.connects >= 2 and runner.online)
        new = runner.password
        assert new is not None and new != "old-password-0123"
        assert new not in r.text
        audit = (await a.get(f"{P}/audit", params={"action": "station.password_rotate"})).json()
        assert [e["result"] for e in audit] == ["Accepted"]
        assert new not in str(audit)
        # a downgrade is refused before anything is sent; a bad body is a 422
        r = await a.post(f"{base}/security-profile", json={"profile": 1})
        assert r.status_code == 422
        r = await a.post(f"{base}/security-profile", json={"profile": 2, "csms_url": "ws://x"})
        assert r.status_code == 422


async def test_revocation_through_the_api(api: Api, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from csms.security.ca import CertificateAuthority
    from csms.security.certificates import OwnCaSigner
    from tests.integration.security.test_revocation import issue

    base = f"{P}/stations/CP1/certificates/revoke"
    async with api.client("admin") as a, api.client("fleet_manager") as f:
        # no own CA: refused, audited
        r = await a.post(base, json={})
        assert r.status_code == 422 and "own CA" in r.text
        ca = CertificateAuthority.create(
            tmp_path / "ca", name="CA", organization=None, now=datetime.now(UTC)
        )
        api.csms.certificates.signer = OwnCaSigner(ca, valid_days=30)
        cert = issue(ca, tmp_path / "st", "CP1").cert
        serial = format(cert.serial_number, "x")
        assert (await f.post(base, json={})).status_code == 403  # admin only
        r = await a.post(base, json={"serial_number": "abc", "reason": "keyCompromise"})
        assert r.status_code == 422 and "issued no certificate abc" in r.text
        assert (await a.post(base, json={"reason": "because"})).status_code == 422
        # the station is offline: revocation does not need it
        r = await a.post(base, json={"serial_number": serial, "reason": "keyCompromise"})
        assert r.status_code == 200
        assert r.json() == {"serial_numbers": [serial], "disconnected": False}
        assert set(ca.revoked()) == {cert.serial_number}
        history = (await a.get(f"{P}/stations/CP1/certificate-events")).json()
        assert [(h["kind"], h["data"]["reason"]) for h in history] == [
            ("CertificateRevoked", "keyCompromise")
        ]
        audit = (await a.get(f"{P}/audit", params={"action": "certificate.revoke"})).json()
        assert [(e["result"], e["actor"]) for e in audit] == [
            ("ok", "admin"),
            ("refused", "admin"),  # an unknown reason (the model's)
            ("refused", "admin"),  # no certificate abc (the service's)
            ("refused", "admin"),  # no own CA
        ]


async def test_firmware_and_logs_through_the_api(api: Api, tmp_path: Path) -> None:
    import asyncio

    from tests.integration.security.conftest import open_ws
    from tests.integration.security.test_maintenance import BOOT, SIGNATURE, answer, call

    pki = Pki(tmp_path / "pki")
    firmware = {
        "location": "https://firmware.example/cp.bin",
        "retrieve_at": "2026-12-08T02:00:00+00:00",
        "signing_certificate": pki.ca.cert_file.read_text(),
        "signature": SIGNATURE,
    }
    base = f"{P}/stations/CP1"
    async with (
        api.client("admin") as a,
        api.client("fleet_manager") as f,
        open_ws(api.csms.url, "CP1", ctx=None) as ws,
    ):
        assert (await call(ws, "BootNotification", BOOT["1.6"]))[0] == 3
        request = asyncio.create_task(a.post(f"{base}/firmware", json=firmware))
        sent = await answer(ws, "SignedUpdateFirmware", {"status": "Accepted"})
        r = await request
        assert r.status_code == 200
        assert r.json() == {"request_id": sent["requestId"], "status": "Accepted", "filename": None}
        note = {"status": "Installed", "requestId": sent["requestId"]}
        assert (await call(ws, "SignedFirmwareStatusNotification", note))[2] == {}

        request = asyncio.create_task(
            a.post(
                f"{base}/logs",
                json={"log_type": "SecurityLog", "remote_location": "https://logs.example/u"},
            )
        )
        sent = await answer(ws, "GetLog", {"status": "Accepted", "filename": "sec.log"})
        assert (await request).json()["filename"] == "sec.log"

        # admin only; bad input refused with the field, nothing sent
        assert (await f.post(f"{base}/firmware", json=firmware)).status_code == 403
        naive = {**firmware, "retrieve_at": "2026-12-08T02:00:00"}
        assert (await a.post(f"{base}/firmware", json=naive)).status_code == 422
        junk = {**firmware, "signing_certificate": "junk"}
        r = await a.post(f"{base}/firmware", json=junk)
        assert r.status_code == 422 and "not a PEM" in r.text
        history = (await a.get(f"{base}/maintenance-events")).json()
        assert [h["kind"] for h in history] == [
            "FirmwareUpdateRequested",
            "SignedFirmwareStatusNotification",
            "LogRequested",
        ]
        audit = (await a.get(f"{P}/audit", params={"action": "station.firmware_update"})).json()
        assert [e["result"] for e in audit] == ["refused", "refused", "Accepted"]
        assert all("signing_certificate" not in e["request"] for e in audit)
    async with api.client("admin") as a:
        assert (await a.post(f"{base}/firmware", json=firmware)).status_code == 409  # offline


async def test_pending_profile_upgrade_shown(api: Api, tmp_path: Path) -> None:
    from simulators.tls import StationTls

    pki = Pki(tmp_path / "pki")
    runner = station_runner(
        api.csms.url, VirtualClock(start=START), version="1.6", station_id="CP1", password=None
    )
    runner.tls = StationTls(ca_file=pki.ca.cert_file)  # ready for TLS, still on ws://
    base = f"{P}/stations/CP1"
    async with running(runner), api.client("admin") as a:
        assert await eventually(lambda: runner.online)
        r = await a.post(f"{base}/security-profile", json={"profile": 2})
        assert r.status_code == 200 and r.json()["accepted"] is True
        # the station took it and now looks for wss://, which this server does not serve
        station = (await a.get(base)).json()
        assert (station["security_profile"], station["pending_security_profile"]) == (None, 2)
