from __future__ import annotations

import csms.telemetry


def test_public_api_is_exactly_this() -> None:
    assert sorted(csms.telemetry.__all__) == sorted(
        [
            "SCHEMA_VERSION",
            "Aggregation",
            "Backoff",
            "EmbeddedStore",
            "Encoded",
            "Field",
            "InfluxQLBackend",
            "InfluxV1Sink",
            "InfluxV2Sink",
            "LineProtocolError",
            "LineSink",
            "Measurement",
            "MemorySink",
            "Outbox",
            "PlanStep",
            "PointEncoder",
            "QueryBackend",
            "QueryError",
            "Reject",
            "SeriesResult",
            "ServerUnavailable",
            "Tag",
            "Telemetry",
            "TelemetryConfigError",
            "TelemetryError",
            "TelemetryPipeline",
            "TelemetryQuery",
            "TelemetryRecorder",
            "TelemetrySettings",
            "TelemetrySink",
            "TelemetryStats",
            "WriteError",
            "WriteRejected",
            "detect_api",
            "expected_series",
            "open_telemetry",
            "render_prometheus",
        ]
    )
    for name in csms.telemetry.__all__:
        assert getattr(csms.telemetry, name) is not None
