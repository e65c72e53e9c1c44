"""The dashboards' query interface: time range, window, aggregation, grouping by tag.

:class:`TelemetryQuery` is backend-neutral. :class:`InfluxQLBackend` runs it as InfluxQL over
``/query`` (InfluxDB 1.x, 2.x through its v1 compatibility API, 3.x);
:class:`~csms.telemetry.embedded.EmbeddedStore` runs the same query in SQLite. Both return
series sorted by their group tags, windows aligned to the epoch (InfluxQL's default), empty
windows left out (``fill(none)``), and the window start as each point's time; without a
window there is one point per group, stamped with the query's ``start`` (for every
aggregation, also the selectors ``max``, ``min`` and ``last``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import httpx

from csms.telemetry.exceptions import QueryError
from csms.telemetry.writers import influx_client

__all__ = [
    "Aggregation",
    "InfluxQLBackend",
    "QueryBackend",
    "SeriesResult",
    "TelemetryQuery",
    "build_influxql",
    "from_epoch_ns",
    "parse_influxql_response",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Aggregation(enum.StrEnum):
    MEAN = "mean"
    MAX = "max"
    MIN = "min"
    SUM = "sum"
    LAST = "last"
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class TelemetryQuery:
    """``aggregation(field)`` of ``measurement`` over ``[start, stop)`` per window and group."""

    measurement: str
    field: str
    start: datetime
    stop: datetime
    aggregation: Aggregation = Aggregation.MEAN
    window_s: int | None = None
    group_by: tuple[str, ...] = ()
    where: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stop <= self.start:
            raise QueryError("stop must be after start")
        if self.window_s is not None and self.window_s <= 0:
            raise QueryError("window_s must be positive")
        Aggregation(self.aggregation)

    @property
    def start_ns(self) -> int:
        return _to_ns(self.start)

    @property
    def stop_ns(self) -> int:
        return _to_ns(self.stop)


@dataclass(frozen=True, slots=True)
class SeriesResult:
    """One group's points: ``(window start, value)`` in time order."""

    tags: dict[str, str]
    points: list[tuple[datetime, float]]

    def as_json(self) -> dict[str, Any]:
        """The group as the HTTP query and ``chargegrid telemetry query`` answer it: its
        tags and its points as ``[ISO 8601 time, value]`` pairs."""
        return {"tags": self.tags, "points": [[t.isoformat(), v] for t, v in self.points]}


@runtime_checkable
class QueryBackend(Protocol):
    def query(self, q: TelemetryQuery) -> list[SeriesResult]:
        """Run ``q``."""


def _to_ns(at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return ((at - _EPOCH) // timedelta(microseconds=1)) * 1000


def from_epoch_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def build_influxql(q: TelemetryQuery, *, retention_policy: str | None = None) -> str:
    """The InfluxQL statement for ``q`` (identifiers and literals quoted and escaped)."""
    source = _ident(q.measurement)
    if retention_policy:
        source = _ident(retention_policy) + "." + source
    conditions = [f"time >= {q.start_ns}", f"time < {q.stop_ns}"]
    conditions += [f"{_ident(k)} = {_literal(v)}" for k, v in sorted(q.where.items())]
    groups = [f"time({q.window_s}s)"] if q.window_s else []
    groups += [_ident(tag) for tag in q.group_by]
    text = (
        f"SELECT {Aggregation(q.aggregation).value}({_ident(q.field)}) FROM {source}"
        f" WHERE {' AND '.join(conditions)}"
    )
    if groups:
        text += " GROUP BY " + ", ".join(groups)
    return text + " fill(none)"


def parse_influxql_response(payload: Any, q: TelemetryQuery) -> list[SeriesResult]:
    """Turn a ``/query?epoch=ns`` JSON answer into sorted :class:`SeriesResult` s."""
    if not isinstance(payload, dict):
        raise QueryError(f"unexpected answer: {payload!r:.200}")
    if "error" in payload:
        raise QueryError(str(payload["error"]))
    results = payload.get("results") or [{}]
    first = results[0]
    if "error" in first:
        raise QueryError(str(first["error"]))
    out: list[SeriesResult] = []
    for series in first.get("series", []):
        tags = {k: str(v) for k, v in (series.get("tags") or {}).items()}
        tags = {tag: tags.get(tag, "") for tag in q.group_by}
        # without GROUP BY time(), InfluxQL stamps selectors (max, min, last) with the selected
        # point's time and aggregates with the range start; the interface always uses the start
        points = [
            (from_epoch_ns(int(row[0])) if q.window_s else q.start, float(row[1]))
            for row in series.get("values", [])
            if row[1] is not None
        ]
        if points:
            out.append(SeriesResult(tags=tags, points=points))
    out.sort(key=lambda s: tuple(s.tags[t] for t in q.group_by))
    return out


class InfluxQLBackend:
    """Queries over ``/query``: ``database`` (and ``retention_policy``) for 1.x, the mapped
    database name for 2.x / 3.x; ``username``/``password`` or ``token`` for auth."""

    def __init__(
        self,
        url: str,
        *,
        database: str,
        retention_policy: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._client = influx_client(
            url, timeout_s=timeout_s, username=username, password=password, token=token
        )
        self.database = database
        self.retention_policy = retention_policy

    def query(self, q: TelemetryQuery) -> list[SeriesResult]:
        statement = build_influxql(q, retention_policy=self.retention_policy)
        try:
            response = self._client.get(
                "/query", params={"db": self.database, "q": statement, "epoch": "ns"}
            )
        except httpx.HTTPError as exc:
            raise QueryError(f"InfluxDB unreachable: {exc}") from exc
        try:
            payload = response.json()
        except ValueError as exc:
            raise QueryError(f"HTTP {response.status_code}: {response.text[:200]}") from exc
        if response.status_code >= 300 and "error" not in payload:
            raise QueryError(f"HTTP {response.status_code}: {response.text[:200]}")
        return parse_influxql_response(payload, q)

    def close(self) -> None:
        self._client.close()
