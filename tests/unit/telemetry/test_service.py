from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydantic
import pytest

from chargegrid.clock import ManualClock
from csms.domain import MeterSample
from csms.events import EventBus, MeterValuesReceived
from csms.telemetry import (
    Aggregation,
    PlanStep,
    SeriesResult,
    TelemetryQuery,
    TelemetrySettings,
    open_telemetry,
)
from csms.telemetry.exceptions import ServerUnavailable, WriteRejected
from csms.telemetry.writers import _raise_for_status, choose_api

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("version", "has_bucket", "api"),
    [
        ("1.6.7~rc0", False, "v1"),
        ("1.6.7~rc0", True, "v1"),
        ("1.8.10", False, "v1"),
        ("v2.7.11", True, "v2"),
        ("2.7.1", False, "v2"),
        ("3.0.2", True, "v2"),
        (None, True, "v2"),
        (None, False, "v1"),
        ("weird", False, "v1"),
    ],
)
def test_choose_api(version: str | None, has_bucket: bool, api: str) -> None:
    assert choose_api(version, has_bucket=has_bucket) == api


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, WriteRejected),
        (413, WriteRejected),
        (401, ServerUnavailable),
        (404, ServerUnavailable),
        (429, ServerUnavailable),
        (500, ServerUnavailable),
        (503, ServerUnavailable),
    ],
)
def test_status_mapping(status: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        _raise_for_status(status, "msg")
    _raise_for_status(204, "")


def test_settings_defaults_and_validation() -> None:
    s = TelemetrySettings()
    assert s.url is None and s.api == "auto" and s.precision == "ms"
    assert s.batch_size_points == 5000 and s.drop_policy == "drop_oldest"
    with pytest.raises(pydantic.ValidationError):
        TelemetrySettings(url="http://x", api="v2")
    with pytest.raises(pydantic.ValidationError):
        TelemetrySettings(batch_size_points=0)
    with pytest.raises(pydantic.ValidationError):
        TelemetrySettings(unknown_option=1)  # type: ignore[call-arg]


def test_embedded_default_end_to_end(tmp_path: Path) -> None:
    settings = TelemetrySettings(
        embedded_path=tmp_path / "t.sqlite3",
        outbox_path=tmp_path / "o.sqlite3",
        batch_interval_s=0.01,
    )
    clock = ManualClock(start=T0)
    telemetry = open_telemetry(settings, clock=clock)
    assert telemetry.backend == "embedded"
    bus = EventBus()
    telemetry.recorder.attach(bus)
    telemetry.start()
    for i in range(4):
        bus.publish(
            MeterValuesReceived(
                "CP1",
                1,
                1,
                None,
                (MeterSample(T0 + timedelta(seconds=30 * i), "Power.Active.Import", i, "kW"),),
            )
        )
    telemetry.recorder.record_plan(
        asset_kind="storage", asset="B1", steps=[PlanStep(T0 + timedelta(hours=2), -5000.0)]
    )
    assert telemetry.pipeline.flush(timeout_s=5)
    q = TelemetryQuery(
        measurement="meter",
        field="value",
        start=T0,
        stop=T0 + timedelta(minutes=2),
        aggregation=Aggregation.MEAN,
        window_s=60,
    )
    assert telemetry.query(q) == [
        SeriesResult({}, [(T0, 500.0), (T0 + timedelta(seconds=60), 2500.0)])
    ]
    plan = TelemetryQuery(
        measurement="plan",
        field="power_w",
        start=T0,
        stop=T0 + timedelta(hours=3),
        group_by=("asset",),
    )
    assert telemetry.query(plan) == [SeriesResult({"asset": "B1"}, [(T0, -5000.0)])]
    assert "chargegrid_telemetry_points_written_total 5" in telemetry.metrics_text()
    telemetry.close()


def test_disabled_telemetry_records_nothing_and_touches_no_file(tmp_path: Path) -> None:
    settings = TelemetrySettings(
        enabled=False,
        url="http://127.0.0.1:9",
        embedded_path=tmp_path / "t.sqlite3",
        outbox_path=tmp_path / "o.sqlite3",
    )
    telemetry = open_telemetry(settings)
    assert telemetry.backend == "disabled"
    telemetry.start()
    telemetry.recorder.on_event(
        MeterValuesReceived("CP1", 1, 1, None, (MeterSample(T0, "SoC", 1.0, "%"),))
    )
    telemetry.recorder.record_site(at=T0, pv_w=1.0)
    assert telemetry.recorder.pending == 0
    assert telemetry.stats.points_dropped == 0
    telemetry.close()
    assert list(tmp_path.iterdir()) == []


async def test_async_query_and_close(tmp_path: Path) -> None:
    telemetry = open_telemetry(
        TelemetrySettings(
            embedded_path=tmp_path / "t.sqlite3",
            outbox_path=tmp_path / "o.sqlite3",
            batch_interval_s=0.01,
        ),
        clock=ManualClock(start=T0),
    )
    telemetry.start()
    telemetry.recorder.record_site(at=T0, pv_w=4200.0)
    assert telemetry.pipeline.flush(timeout_s=5)
    q = TelemetryQuery(measurement="site", field="pv_w", start=T0, stop=T0 + timedelta(1))
    assert await telemetry.aquery(q) == [SeriesResult({}, [(T0, 4200.0)])]
    await telemetry.aclose()
