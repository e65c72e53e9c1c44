"""Counters of the telemetry pipeline and their Prometheus text rendering.

The counters are plain integers updated by the pipeline's threads (each counter has one
writer); readers get a consistent-enough snapshot for health checks and scraping.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["TelemetryStats", "render_prometheus"]


@dataclass
class TelemetryStats:
    """What the pipeline did since it started (``outbox_*`` are current levels)."""

    points_recorded: int = 0
    points_written: int = 0
    points_retried: int = 0
    points_server_rejected: int = 0
    write_requests: int = 0
    write_failures: int = 0
    outbox_depth: int = 0
    outbox_bytes: int = 0
    buffer_depth: int = 0
    last_write_ok_unix_s: float = 0.0
    input_rejected: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def reject_input(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self.input_rejected[str(reason)] += count

    def drop(self, reason: str, count: int) -> None:
        with self._lock:
            self.dropped[str(reason)] += count

    @property
    def points_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def points_input_rejected(self) -> int:
        return sum(self.input_rejected.values())

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly snapshot (for the API's health endpoint)."""
        with self._lock:
            return {
                "points_recorded": self.points_recorded,
                "points_written": self.points_written,
                "points_retried": self.points_retried,
                "points_server_rejected": self.points_server_rejected,
                "points_dropped": dict(self.dropped),
                "points_input_rejected": dict(self.input_rejected),
                "write_requests": self.write_requests,
                "write_failures": self.write_failures,
                "outbox_depth": self.outbox_depth,
                "outbox_bytes": self.outbox_bytes,
                "buffer_depth": self.buffer_depth,
                "last_write_ok_unix_s": self.last_write_ok_unix_s,
            }


_HELP: tuple[tuple[str, str, str, str], ...] = (
    ("points_recorded", "counter", "points_recorded_total", "Points handed to the pipeline."),
    ("points_written", "counter", "points_written_total", "Points the server accepted."),
    ("points_retried", "counter", "points_retried_total", "Points sent again after a failure."),
    (
        "points_server_rejected",
        "counter",
        "points_server_rejected_total",
        "Points the server refused (HTTP 400), isolated and set aside.",
    ),
    ("write_requests", "counter", "write_requests_total", "Write requests sent."),
    ("write_failures", "counter", "write_failures_total", "Write requests that failed."),
    ("outbox_depth", "gauge", "outbox_depth_points", "Points waiting in the durable outbox."),
    ("outbox_bytes", "gauge", "outbox_bytes", "Line-protocol bytes waiting in the outbox."),
    ("buffer_depth", "gauge", "buffer_depth_items", "Events waiting to enter the outbox."),
    (
        "last_write_ok_unix_s",
        "gauge",
        "last_write_ok_timestamp_seconds",
        "When the server last accepted a batch.",
    ),
)


def _label(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def render_prometheus(stats: TelemetryStats, *, prefix: str = "chargegrid_telemetry_") -> str:
    """The counters in the Prometheus text exposition format (version 0.0.4)."""
    snap = stats.as_dict()
    lines: list[str] = []
    for key, kind, name, help_text in _HELP:
        metric = prefix + name
        lines.append(f"# HELP {metric} {help_text}")
        lines.append(f"# TYPE {metric} {kind}")
        lines.append(f"{metric} {snap[key]}")
    for key, name, help_text in (
        ("points_dropped", "points_dropped_total", "Points dropped, by reason."),
        (
            "points_input_rejected",
            "points_input_rejected_total",
            "Samples kept out of telemetry as bad input, by reason.",
        ),
    ):
        metric = prefix + name
        lines.append(f"# HELP {metric} {help_text}")
        lines.append(f"# TYPE {metric} counter")
        by_reason = snap[key]
        assert isinstance(by_reason, dict)
        for reason, count in sorted(by_reason.items()):
            lines.append(f'{metric}{{reason="{_label(reason)}"}} {count}')
    return "\n".join(lines) + "\n"
