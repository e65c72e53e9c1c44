"""Small helpers shared by the telemetry integration tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from csms.domain import MeterSample
from csms.events import MeterValuesReceived

__all__ = ["count_points", "fleet_tick", "influxql", "recent_base", "unique_db"]


def unique_db() -> str:
    return "t_" + uuid.uuid4().hex[:12]


def influxql(url: str, db: str, statement: str) -> Any:
    response = httpx.get(url + "/query", params={"db": db, "q": statement, "epoch": "ms"})
    response.raise_for_status()
    return response.json()


def count_points(url: str, db: str, measurement: str = "meter", field: str = "value") -> int:
    payload = influxql(url, db, f'SELECT count("{field}") FROM "{measurement}"')
    series = payload["results"][0].get("series")
    return 0 if not series else int(series[0]["values"][0][1])


def fleet_tick(tick: int, *, stations: int, base: datetime) -> list[MeterValuesReceived]:
    """One round of meter values from a simulated fleet: energy, power and SoC per station,
    each sample at ``base + tick`` seconds."""
    at = base + timedelta(seconds=tick)
    return [
        MeterValuesReceived(
            station_id=f"CP{s:04d}",
            evse_id=1,
            connector_id=1,
            transaction_id=1000 + s,
            samples=(
                MeterSample(at, "Energy.Active.Import.Register", 1000.0 * tick + s, "Wh"),
                MeterSample(at, "Power.Active.Import", 7400.0 - s, "W"),
                MeterSample(at, "SoC", float(tick % 100), "Percent"),
            ),
        )
        for s in range(stations)
    ]


def recent_base() -> datetime:
    """A whole-minute start one hour back, inside the default time window."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(hours=1)
