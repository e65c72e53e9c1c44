"""Signed firmware updates and log uploads with scripted stations: the 1.6 security
extension (SignedUpdateFirmware, GetLog, SignedFirmwareStatusNotification,
LogStatusNotification) and 2.0.1 (UpdateFirmware, GetLog, FirmwareStatusNotification,
LogStatusNotification); bad input refused before anything is sent."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from csms.store import MemoryStore
from tests.fixtures.pki import Pki
from tests.integration.security.conftest import PASSWORD, eventually, open_ws
from tests.integration.security.test_credentials import plain_csms

SIGNATURE = base64.b64encode(b"\x30" * 70).decode()
LOCATION = "https://firmware.example/cp-2.1.bin"
_ids = itertools.count(1)

BOOT = {
    "1.6": {"chargePointVendor": "V", "chargePointModel": "M"},
    "2.0.1": {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
}


async def _next(ws: ClientConnection, wanted: Callable[[list[Any]], bool]) -> list[Any]:
    """The next frame ``wanted`` accepts; the central system's other CALLs meanwhile (a
    site's planner asks for the configuration) are answered NotSupported."""
    while True:
        frame: list[Any] = json.loads(await ws.recv())
        if wanted(frame):
            return frame
        assert frame[0] == 2, frame
        await ws.send(json.dumps([4, frame[1], "NotSupported", "not in this script", {}]))


async def call(ws: ClientConnection, action: str, payload: dict[str, Any]) -> list[Any]:
    """The station sends a CALL and reads the answer."""
    message_id = f"st-{next(_ids)}"
    await ws.send(json.dumps([2, message_id, action, payload]))
    return await _next(ws, lambda f: f[0] in (3, 4) and f[1] == message_id)


async def answer(ws: ClientConnection, action: str, response: dict[str, Any]) -> dict[str, Any]:
    """The station reads the central system's CALL of ``action`` and answers it."""
    frame = await _next(ws, lambda f: f[0] == 2 and f[2] == action)
    await ws.send(json.dumps([3, frame[1], response]))
    payload: dict[str, Any] = frame[3]
    return payload


async def answered(
    ws: ClientConnection, action: str, response: dict[str, Any], command: Any
) -> tuple[dict[str, Any], Any]:
    """Run ``command`` (a coroutine sending ``action``) while the station answers it."""
    task = asyncio.create_task(command)
    payload = await answer(ws, action, response)
    return payload, await task


def firmware_args(pki: Pki, **changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "location": LOCATION,
        "retrieve_at": datetime(2026, 12, 8, 2, 0, tzinfo=UTC),
        "install_at": datetime(2026, 12, 8, 3, 0, tzinfo=UTC),
        "signing_certificate": pki.ca.cert_file.read_text(),
        "signature": SIGNATURE,
        "retries": 3,
        "retry_interval_s": 60,
    }
    args.update(changes)
    return args


async def kinds(store: MemoryStore, station_id: str, *names: str) -> list[tuple[str, Any]]:
    out = []
    for name in names:
        out += [(e.kind, e.data) for e in await store.station_events(station_id, name)]
    return out


@pytest.mark.parametrize(
    ("version", "station_id", "update", "status_note"),
    [
        ("1.6", "CP16", "SignedUpdateFirmware", "SignedFirmwareStatusNotification"),
        ("2.0.1", "CP201", "UpdateFirmware", "FirmwareStatusNotification"),
    ],
)
async def test_signed_firmware_and_logs(
    pki: Pki, store: MemoryStore, version: str, station_id: str, update: str, status_note: str
) -> None:
    async with plain_csms(store) as csms:
        maintenance = csms.maintenance
        async with open_ws(
            csms.url, station_id, ctx=None, password=PASSWORD, version=version
        ) as ws:
            assert (await call(ws, "BootNotification", BOOT[version]))[0] == 3
            sent, result = await answered(
                ws,
                update,
                {"status": "Accepted"},
                maintenance.update_firmware(station_id, **firmware_args(pki)),
            )
            assert sent == {
                "requestId": result.request_id,
                "firmware": {
                    "location": LOCATION,
                    "retrieveDateTime": "2026-12-08T02:00:00.000Z",
                    "installDateTime": "2026-12-08T03:00:00.000Z",
                    "signingCertificate": pki.ca.cert_file.read_text(),
                    "signature": SIGNATURE,
                },
                "retries": 3,
                "retryInterval": 60,
            }
            assert result.status == "Accepted"
            for status in ("Downloading", "InvalidSignature"):
                got = await call(
                    ws, status_note, {"status": status, "requestId": result.request_id}
                )
                assert got == [3, got[1], {}]

            sent, log = await answered(
                ws,
                "GetLog",
                {"status": "Accepted", "filename": "security.log"},
                maintenance.get_log(
                    station_id,
                    log_type="SecurityLog",
                    remote_location="sftp://logs.example/upload",
                    oldest=datetime(2026, 12, 1, tzinfo=UTC),
                ),
            )
            assert sent == {
                "logType": "SecurityLog",
                "requestId": log.request_id,
                "log": {
                    "remoteLocation": "sftp://logs.example/upload",
                    "oldestTimestamp": "2026-12-01T00:00:00.000Z",
                },
            }
            assert (log.status, log.filename) == ("Accepted", "security.log")
            got = await call(
                ws, "LogStatusNotification", {"status": "Uploaded", "requestId": log.request_id}
            )
            assert got[0] == 3 and got[2] == {}

            # a refusal by the station is reported as it is
            _, refused = await answered(
                ws,
                update,
                {"status": "InvalidCertificate"},
                maintenance.update_firmware(station_id, **firmware_args(pki, retries=None)),
            )
            assert refused.status == "InvalidCertificate"

        recorded = await kinds(
            store,
            station_id,
            "FirmwareUpdateRequested",
            status_note,
            "LogRequested",
            "LogStatusNotification",
        )
        rid, lid = result.request_id, log.request_id
        assert recorded == [
            (
                "FirmwareUpdateRequested",
                {"request_id": rid, "location": LOCATION, "status": "Accepted"},
            ),
            (
                "FirmwareUpdateRequested",
                {
                    "request_id": refused.request_id,
                    "location": LOCATION,
                    "status": "InvalidCertificate",
                },
            ),
            (status_note, {"status": "Downloading", "request_id": rid}),
            (status_note, {"status": "InvalidSignature", "request_id": rid}),
            (
                "LogRequested",
                {
                    "request_id": lid,
                    "log_type": "SecurityLog",
                    "status": "Accepted",
                    "filename": "security.log",
                },
            ),
            ("LogStatusNotification", {"status": "Uploaded", "request_id": lid}),
        ]


BAD: list[tuple[Callable[[Pki], dict[str, Any]], str]] = [
    (lambda pki: firmware_args(pki, location="file:///etc/passwd"), "absolute URL"),
    (lambda pki: firmware_args(pki, location="https://x/" + "a" * 600), "512"),
    (lambda pki: firmware_args(pki, signature="not base64!"), "not base64"),
    (lambda pki: firmware_args(pki, signing_certificate="junk"), "not a PEM"),
    (
        lambda pki: firmware_args(
            pki, signing_certificate=pki.issue("x", expired=True).cert_file.read_text()
        ),
        "not valid now",
    ),
    (lambda pki: firmware_args(pki, retrieve_at=datetime(2026, 12, 8, 2, 0)), "timezone"),
    (lambda pki: firmware_args(pki, retries=2**31), "0 to"),
]


async def test_bad_input_refused_before_sending(pki: Pki, store: MemoryStore) -> None:
    async with plain_csms(store) as csms:
        async with open_ws(csms.url, "CP16", ctx=None, password=PASSWORD) as ws:
            assert (await call(ws, "BootNotification", BOOT["1.6"]))[0] == 3
            for make, reason in BAD:
                with pytest.raises(ValueError, match=reason):
                    await csms.maintenance.update_firmware("CP16", **make(pki))
            for kwargs, reason in [
                ({"log_type": "KernelLog", "remote_location": "https://l.example/"}, "log_type"),
                ({"log_type": "SecurityLog", "remote_location": "logs"}, "absolute URL"),
                (
                    {
                        "log_type": "SecurityLog",
                        "remote_location": "https://l.example/",
                        "oldest": datetime(2026, 12, 2, tzinfo=UTC),
                        "latest": datetime(2026, 12, 1, tzinfo=UTC),
                    },
                    "after latest",
                ),
            ]:
                with pytest.raises(ValueError, match=reason):
                    await csms.maintenance.get_log("CP16", **kwargs)
            # nothing was sent: the first frame the station sees is the next good request
            task = asyncio.create_task(
                csms.maintenance.get_log(
                    "CP16", log_type="DiagnosticsLog", remote_location="https://l.example/"
                )
            )
            frame = json.loads(await ws.recv())
            assert frame[:3] == [2, frame[1], "GetLog"], frame
            await ws.send(json.dumps([3, frame[1], {"status": "Rejected"}]))
            assert (await task).status == "Rejected"
        assert await eventually(lambda: not csms.commands.is_online("CP16"))
        assert await kinds(store, "CP16", "FirmwareUpdateRequested") == []
