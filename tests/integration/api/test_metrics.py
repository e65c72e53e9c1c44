"""``/metrics``: the telemetry pipeline's health in Prometheus text, behind an API token."""

from __future__ import annotations

from tests.integration.api.conftest import Api


async def test_metrics_show_the_telemetry_counters_to_any_token(api: Api) -> None:
    async with api.client("viewer") as viewer, api.client() as anonymous:
        answer = await viewer.get("/metrics")
        refused = await anonymous.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    # every metric is declared; the dropped counter has a sample per drop reason once any occur
    names = {line.split()[2] for line in answer.text.splitlines() if line.startswith("# TYPE ")}
    assert {
        "chargegrid_telemetry_outbox_depth_points",
        "chargegrid_telemetry_points_written_total",
        "chargegrid_telemetry_points_retried_total",
        "chargegrid_telemetry_points_dropped_total",
    } <= names
    assert refused.status_code == 401
