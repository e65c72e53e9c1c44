"""Exceptions of the telemetry package.

::

    TelemetryError
     ├── TelemetryConfigError        settings that cannot work (no bucket for v2, bad URL)
     ├── LineProtocolError           a line that does not parse
     ├── WriteError                  a batch was not written
     │    ├── ServerUnavailable      no answer, 5xx, 429, auth or missing database: retry later
     │    └── WriteRejected          the server refused the data itself (400, 413): bisect
     └── QueryError                  a dashboard query failed or is invalid
"""

from __future__ import annotations

__all__ = [
    "LineProtocolError",
    "QueryError",
    "ServerUnavailable",
    "TelemetryConfigError",
    "TelemetryError",
    "WriteError",
    "WriteRejected",
]


class TelemetryError(Exception):
    """Base class of every error the telemetry package raises on purpose."""


class TelemetryConfigError(TelemetryError):
    """The telemetry settings cannot work."""


class LineProtocolError(TelemetryError):
    """A line of line protocol is malformed."""


class WriteError(TelemetryError):
    """A batch was not written."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerUnavailable(WriteError):
    """The server could not take the batch now; the same batch may be retried later."""


class WriteRejected(WriteError):
    """The server refused the content of the batch (HTTP 400 or 413); retrying as is won't help."""


class QueryError(TelemetryError):
    """A query could not be run or returned something unexpected."""
