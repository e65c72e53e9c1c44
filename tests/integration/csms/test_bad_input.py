"""Every kind of bad input gets the right CALLERROR (or a clean close), is logged with the
station id, and leaves other stations' connections alone."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from ocpp.v16 import call
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosedError

from csms.app import Csms
from tests.integration.csms.conftest import PASSWORD
from tests.integration.csms.stations import connect_station, raw_connect

BOOT16 = {"chargePointVendor": "Acme", "chargePointModel": "AC22"}
BOOT201 = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "Acme"}}


async def exchange(ws: ClientConnection, frame: str) -> list[Any]:
    await ws.send(frame)
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 2))
    return answer


async def heartbeat_ok(ws: ClientConnection, unique_id: str = "hb") -> None:
    answer = await exchange(ws, json.dumps([2, unique_id, "Heartbeat", {}]))
    assert answer[0] == 3 and answer[1] == unique_id and "currentTime" in answer[2]


CASES_16 = [
    ("malformed JSON", '[2, "m1", "Heartbeat", {', "m1", "FormationViolation"),
    ("not JSON at all", "hello", "-1", "FormationViolation"),
    ("not a list", '{"a": 1}', "-1", "ProtocolError"),
    ("CALL too short", '[2, "s1", "Heartbeat"]', "s1", "ProtocolError"),
    ("bad message type", '[7, "t1", "Heartbeat", {}]', "t1", "PropertyConstraintViolation"),
    ("unknown action", '[2, "u1", "FlyToTheMoon", {}]', "u1", "NotImplemented"),
    (
        "action without handler",
        '[2, "u2", "ClearCache", {}]',  # a central-system-to-station action
        "u2",
        "NotSupported",
    ),
    (
        "missing field",
        '[2, "r1", "StatusNotification", {"connectorId": 1, "status": "Available"}]',
        "r1",
        "ProtocolError",
    ),
    (
        "wrong type",
        '[2, "w1", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", '
        '"status": "Available"}]',
        "w1",
        "TypeConstraintViolation",
    ),
    (
        "too long",
        json.dumps([2, "l1", "Authorize", {"idTag": "X" * 21}]),
        "l1",
        "TypeConstraintViolation",
    ),
    ("extra field", json.dumps([2, "e1", "Heartbeat", {"bogus": 1}]), "e1", "FormationViolation"),
    (
        "bad enum",
        json.dumps(
            [
                2,
                "n1",
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"},
            ]
        ),
        "n1",
        "PropertyConstraintViolation",
    ),
    (
        "bad timestamp",
        json.dumps(
            [
                2,
                "d1",
                "StartTransaction",
                {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "yesterday"},
            ]
        ),
        "d1",
        "FormationViolation",
    ),
]

CASES_201 = [
    ("malformed JSON", '[2, "m1", "Heartbeat", {', "m1", "FormatViolation"),
    ("not a list", "42", "-1", "RpcFrameworkError"),
    ("bad message type", '[9, "t1", "Heartbeat", {}]', "t1", "MessageTypeNotSupported"),
    ("unknown action", '[2, "u1", "FlyToTheMoon", {}]', "u1", "NotImplemented"),
    (
        "action without handler",
        json.dumps(
            [
                2,
                "u2",
                "ReportChargingProfiles",
                {"requestId": 1, "chargingLimitSource": "EMS", "evseId": 1, "chargingProfile": []},
            ]
        ),
        "u2",
        "NotSupported",
    ),
    (
        "missing field",
        json.dumps(
            [
                2,
                "r1",
                "StatusNotification",
                {"timestamp": "2026-03-02T06:00:00Z", "connectorStatus": "Available", "evseId": 1},
            ]
        ),
        "r1",
        "OccurrenceConstraintViolation",
    ),
    (
        "wrong type",
        json.dumps(
            [
                2,
                "w1",
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": "2026-03-02T06:00:00Z",
                    "triggerReason": "Authorized",
                    "seqNo": "zero",
                    "transactionInfo": {"transactionId": "T"},
                },
            ]
        ),
        "w1",
        "TypeConstraintViolation",
    ),
    ("extra field", json.dumps([2, "e1", "Heartbeat", {"bogus": 1}]), "e1", "FormatViolation"),
]


@pytest.mark.parametrize(
    ("name", "frame", "unique_id", "code"), CASES_16, ids=[c[0] for c in CASES_16]
)
async def test_bad_frames_16(
    csms: Csms,
    caplog: pytest.LogCaptureFixture,
    name: str,
    frame: str,
    unique_id: str,
    code: str,
) -> None:
    async with (
        raw_connect(csms.url, "OTHER", password=PASSWORD) as other,
        raw_connect(csms.url, "CP16", password=PASSWORD) as ws,
    ):
        assert (await exchange(ws, json.dumps([2, "b", "BootNotification", BOOT16])))[0] == 3
        with caplog.at_level(logging.WARNING, logger="csms"):
            answer = await exchange(ws, frame)
        assert answer[:3] == [4, unique_id, code], answer
        assert any("CP16" in r.getMessage() for r in caplog.records)
        await heartbeat_ok(ws)
        await heartbeat_ok(other)


#: A message only 2.1 defines: not known (NotImplemented) on 2.0.1, known but not supported
#: by the central system (NotSupported) on 2.1.
PRIORITY = json.dumps(
    [2, "p1", "NotifyPriorityCharging", {"transactionId": "T", "activated": True}]
)


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize(
    ("name", "frame", "unique_id", "code"),
    [
        *CASES_201,
        ("2.1 message", PRIORITY, "p1", {"2.0.1": "NotImplemented", "2.1": "NotSupported"}),
    ],
    ids=[*(c[0] for c in CASES_201), "2.1 message"],
)
async def test_bad_frames_201(
    csms: Csms,
    caplog: pytest.LogCaptureFixture,
    name: str,
    frame: str,
    unique_id: str,
    code: str | dict[str, str],
    version: str,
) -> None:
    if isinstance(code, dict):
        code = code[version]
    async with (
        raw_connect(csms.url, "OTHER", password=PASSWORD) as other,
        raw_connect(csms.url, "CP201", version=version, password=PASSWORD) as ws,
    ):
        assert (await exchange(ws, json.dumps([2, "b", "BootNotification", BOOT201])))[0] == 3
        with caplog.at_level(logging.WARNING, logger="csms"):
            answer = await exchange(ws, frame)
        assert answer[:3] == [4, unique_id, code], answer
        assert any("CP201" in r.getMessage() for r in caplog.records)
        await heartbeat_ok(ws)
        await heartbeat_ok(other)


async def test_answer_to_unknown_message_id_is_dropped(
    csms: Csms, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_connect(csms.url, "CP16", password=PASSWORD) as ws:
        with caplog.at_level(logging.WARNING, logger="csms"):
            await ws.send(json.dumps([3, "never-sent", {"status": "Accepted"}]))
            await ws.send(json.dumps([4, "never-sent-2", "InternalError", "x", {}]))
            await heartbeat_ok(ws)
        messages = [r.getMessage() for r in caplog.records]
        assert sum("CP16" in m and "unknown message id" in m for m in messages) == 2
    # And it does not poison the next real call: a command still gets its own answer.
    async with connect_station(csms.url, "CP16", password=PASSWORD) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="A", charge_point_model="B"))
        await cp._connection.send(json.dumps([3, "stale", {"status": "Rejected"}]))
        assert (await csms.commands.clear_cache("CP16")).status == "Accepted"


async def test_handler_crash_is_internal_error(csms: Csms, monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(csms.central, "heartbeat", boom)
    async with raw_connect(csms.url, "CP16", password=PASSWORD) as ws:
        answer = await exchange(ws, json.dumps([2, "h1", "Heartbeat", {}]))
        assert answer[:3] == [4, "h1", "InternalError"]
        assert "disk on fire" not in json.dumps(answer)


async def test_oversized_frame_closes_with_1009(csms: Csms) -> None:
    async with (
        raw_connect(csms.url, "OTHER", password=PASSWORD) as other,
        raw_connect(csms.url, "CP16", password=PASSWORD) as ws,
    ):
        big = json.dumps([2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * 70000}])
        await ws.send(big)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 2)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        await heartbeat_ok(other)
    # Just under the limit is fine.
    async with raw_connect(csms.url, "CP16", password=PASSWORD) as ws:
        fits = json.dumps([2, "fits", "DataTransfer", {"vendorId": "v", "data": "x" * 60000}])
        answer = await exchange(ws, fits)
        assert answer[0] == 3 and answer[2] == {"status": "UnknownVendorId"}


async def test_pending_station_gets_security_error(csms: Csms) -> None:
    from csms.domain import RegistrationStatus
    from csms.store.base import StationRecord

    await csms.store.put_station(StationRecord("CP16", registration=RegistrationStatus.PENDING))
    async with raw_connect(csms.url, "CP16") as ws:
        answer = await exchange(ws, json.dumps([2, "h", "Heartbeat", {}]))
        assert answer[:3] == [4, "h", "SecurityError"]
        boot = await exchange(ws, json.dumps([2, "b", "BootNotification", BOOT16]))
        assert boot[2]["status"] == "Pending" and boot[2]["interval"] == 60
