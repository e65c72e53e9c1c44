"""Issue 6's bad input through a real OCPP connection: a station's odd samples are stored in
their normalized form or kept out of telemetry with a counted, logged reason, the station's
answer is the usual one, and the good samples of the same message land."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.config import Settings
from csms.store import MemoryStore
from csms.store.base import StationRecord
from csms.telemetry import Aggregation, Telemetry, TelemetryQuery
from tests.integration.csms.conftest import PASSWORD, PASSWORD_HASH, START
from tests.integration.csms.stations import raw_connect


def _ts(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def _csms(clock: ManualClock, tmp_path: Path) -> Csms:
    store = MemoryStore()
    await store.open()
    for sid in ("CP16", "CP201"):
        await store.put_station(StationRecord(sid, password_hash=PASSWORD_HASH))
    settings = Settings(
        server={"host": "127.0.0.1", "port": 0, "gc_freeze_interval_s": None},  # type: ignore[arg-type]
        database={"url": "memory://"},  # type: ignore[arg-type]
        telemetry={  # type: ignore[arg-type]
            "embedded_path": tmp_path / "telemetry.sqlite3",
            "outbox_path": tmp_path / "outbox.sqlite3",
            "flush_interval_s": 0.01,
            "log_every_s": 0.001,
        },
    )
    return Csms(settings, clock=clock, store=store)


async def _call(ws: Any, unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
    await ws.send(json.dumps([2, unique_id, action, payload]))
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return answer


async def _flushed(telemetry: Telemetry) -> dict[str, int]:
    assert await asyncio.to_thread(telemetry.pipeline.flush, timeout_s=10)
    await asyncio.sleep(0.01)  # the next log line is due after log_every_s
    return dict(telemetry.stats.input_rejected)


async def _stored(telemetry: Telemetry) -> dict[tuple[str, str], list[float]]:
    series = await telemetry.aquery(
        TelemetryQuery(
            measurement="meter",
            field="value",
            start=START,
            stop=START + timedelta(hours=1),
            aggregation=Aggregation.LAST,
            window_s=60,
            group_by=("measurand", "unit"),
        )
    )
    return {(s.tags["measurand"], s.tags["unit"]): [v for _, v in s.points] for s in series}


def _logged(caplog: pytest.LogCaptureFixture, reason: str) -> bool:
    return any(
        r.name.startswith("csms.telemetry") and f"rejected a sample: {reason}" in r.getMessage()
        for r in caplog.records
    )


# (sampled values, reason counted or None, what else the message carries that must land)
CASES_16: list[tuple[str, list[dict[str, str]], str | None]] = [
    (
        "not a number",
        [{"value": "abc", "measurand": "Current.Import", "unit": "A"}],
        "not_a_number",
    ),
    ("wrong unit", [{"value": "230", "measurand": "Voltage", "unit": "Wh"}], "unit_mismatch"),
    ("unknown measurand", [{"value": "1", "measurand": "Power.Imaginary"}], "unknown_measurand"),
    # another spelling of a known measurand and unit: stored as the schema spells it
    ("mis-cased", [{"value": "7.4", "measurand": "power.active.import", "unit": "kw"}], None),
]


async def test_bad_samples_16_are_counted_logged_and_answered_as_usual(
    clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="csms.telemetry")
    async with await _csms(clock, tmp_path) as csms:
        telemetry = csms.telemetry
        assert telemetry is not None
        async with raw_connect(csms.url, "CP16", password=PASSWORD) as ws:
            boot = await _call(
                ws, "b", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "M"}
            )
            assert boot[2]["status"] == "Accepted"
            expected: dict[str, int] = {}
            for minute, (what, bad, reason) in enumerate(CASES_16, 1):
                good = {"value": str(1000 * minute), "unit": "Wh"}
                answer = await _call(
                    ws,
                    f"m{minute}",
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "meterValue": [{"timestamp": _ts(minute), "sampledValue": [good, *bad]}],
                    },
                )
                assert answer == [3, f"m{minute}", {}], what
                if reason is not None:
                    expected[reason] = expected.get(reason, 0) + 1
                assert await _flushed(telemetry) == expected, what
                assert reason is None or _logged(caplog, reason), what
            # far in the future / the past: rejected by time, the answer as usual
            for uid, at, reason in (
                ("f", "2099-01-01T00:00:00Z", "timestamp_future"),
                ("p", "2000-01-01T00:00:00Z", "timestamp_past"),
            ):
                answer = await _call(
                    ws,
                    uid,
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "meterValue": [{"timestamp": at, "sampledValue": [{"value": "5"}]}],
                    },
                )
                assert answer == [3, uid, {}]
                expected[reason] = 1
                assert await _flushed(telemetry) == expected
                assert _logged(caplog, reason)
        stored = await _stored(telemetry)
    assert stored == {
        ("Energy.Active.Import.Register", "Wh"): [1000.0, 2000.0, 3000.0, 4000.0],
        ("Power.Active.Import", "W"): [7400.0],
    }


async def test_bad_samples_201_are_counted_and_answered_as_usual(
    clock: ManualClock, tmp_path: Path
) -> None:
    async with await _csms(clock, tmp_path) as csms:
        telemetry = csms.telemetry
        assert telemetry is not None
        async with raw_connect(csms.url, "CP201", version="2.0.1", password=PASSWORD) as ws:
            boot = await _call(
                ws,
                "b",
                "BootNotification",
                {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "A"}},
            )
            assert boot[2]["status"] == "Accepted"
            answer = await _call(
                ws,
                "m1",
                "MeterValues",
                {
                    "evseId": 1,
                    "meterValue": [
                        {
                            "timestamp": _ts(1),
                            "sampledValue": [
                                {"value": 1500},
                                {"value": 1, "measurand": "Power.Imaginary"},
                                {
                                    "value": 230,
                                    "measurand": "Voltage",
                                    "unitOfMeasure": {"unit": "Wh"},
                                },
                                {
                                    "value": 11,
                                    "measurand": "Power.Active.Import",
                                    "unitOfMeasure": {"unit": "kW"},
                                },
                            ],
                        }
                    ],
                },
            )
            assert answer == [3, "m1", {}]
            assert await _flushed(telemetry) == {"unknown_measurand": 1, "unit_mismatch": 1}
        stored = await _stored(telemetry)
    assert stored == {
        ("Energy.Active.Import.Register", "Wh"): [1500.0],
        ("Power.Active.Import", "W"): [11000.0],
    }
