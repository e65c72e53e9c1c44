"""Telemetry: every measurement lands in InfluxDB (or the embedded store), and none is lost.

The OCPP path only appends events to a buffer (:class:`TelemetryRecorder`); a background
pipeline encodes them into the versioned schema (:mod:`csms.telemetry.schema`), keeps them in
a durable SQLite outbox and writes them in batches to InfluxDB 1.x (``/write``), 2.x / 3.x
(v2 API through influxdb-client) or the embedded store. See ``docs/telemetry.md``.
"""

from __future__ import annotations

from csms.backoff import Backoff
from csms.telemetry.embedded import EmbeddedStore
from csms.telemetry.exceptions import (
    LineProtocolError,
    QueryError,
    ServerUnavailable,
    TelemetryConfigError,
    TelemetryError,
    WriteError,
    WriteRejected,
)
from csms.telemetry.lineprotocol import Encoded
from csms.telemetry.metrics import TelemetryStats, render_prometheus
from csms.telemetry.normalize import Reject
from csms.telemetry.outbox import Outbox
from csms.telemetry.pipeline import TelemetryPipeline
from csms.telemetry.points import PointEncoder
from csms.telemetry.query import (
    Aggregation,
    InfluxQLBackend,
    QueryBackend,
    SeriesResult,
    TelemetryQuery,
)
from csms.telemetry.recorder import TelemetryRecorder
from csms.telemetry.records import PlanStep
from csms.telemetry.schema import SCHEMA_VERSION, Field, Measurement, Tag, expected_series
from csms.telemetry.service import Telemetry, open_telemetry
from csms.telemetry.settings import TelemetrySettings
from csms.telemetry.writers import (
    InfluxV1Sink,
    InfluxV2Sink,
    LineSink,
    MemorySink,
    TelemetrySink,
    detect_api,
)

__all__ = [
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
