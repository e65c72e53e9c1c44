from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from chargegrid.clock import ManualClock
from csms.telemetry import Telemetry, TelemetrySettings, open_telemetry
from csms.telemetry.http import telemetry_router

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Telemetry, httpx.AsyncClient]]:
    telemetry = open_telemetry(
        TelemetrySettings(
            embedded_path=tmp_path / "t.sqlite3",
            outbox_path=tmp_path / "o.sqlite3",
            batch_interval_s=0.01,
        ),
        clock=ManualClock(start=T0),
    )
    telemetry.start()
    for i, pv in enumerate((1000.0, 3000.0, 5000.0)):
        telemetry.recorder.record_site(at=T0 + timedelta(seconds=30 * i), pv_w=pv, site="s1")
    assert telemetry.pipeline.flush(timeout_s=5)
    app = FastAPI()
    app.include_router(telemetry_router(telemetry))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield telemetry, client
    await telemetry.aclose()


async def test_metrics_and_health(setup: tuple[Telemetry, httpx.AsyncClient]) -> None:
    _, client = setup
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "chargegrid_telemetry_points_written_total 3\n" in response.text
    health = (await client.get("/telemetry/health")).json()
    assert health["ok"] is True and health["backend"] == "embedded"
    assert health["points_written"] == 3 and health["outbox_depth"] == 0


async def test_query(setup: tuple[Telemetry, httpx.AsyncClient]) -> None:
    _, client = setup
    params: dict[str, str | list[str]] = {
        "measurement": "site",
        "field": "pv_w",
        "start": T0.isoformat(),
        "stop": (T0 + timedelta(minutes=2)).isoformat(),
        "aggregation": "max",
        "window_s": "60",
        "group_by": ["site"],
        "where": ["site=s1"],
    }
    response = await client.get("/telemetry/query", params=params)
    assert response.status_code == 200
    assert response.json() == [
        {
            "tags": {"site": "s1"},
            "points": [
                ["2026-03-01T00:00:00+00:00", 3000.0],
                ["2026-03-01T00:01:00+00:00", 5000.0],
            ],
        }
    ]
    bad = await client.get("/telemetry/query", params={**params, "aggregation": "median"})
    assert bad.status_code == 422
    backwards = await client.get("/telemetry/query", params={**params, "stop": params["start"]})
    assert backwards.status_code == 422
    no_eq = await client.get("/telemetry/query", params={**params, "where": ["site"]})
    assert no_eq.status_code == 422
