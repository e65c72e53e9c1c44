"""The embedded telemetry store: SQLite, for a machine without InfluxDB.

It is a :class:`~csms.telemetry.writers.TelemetrySink` (so the pipeline, outbox and counters
work the same) and a :class:`~csms.telemetry.query.QueryBackend` that answers
:class:`~csms.telemetry.query.TelemetryQuery` with InfluxQL's semantics: a point is keyed by
measurement, tag set, field and time (writing it again overwrites), windows are aligned to the
epoch, empty windows are left out, ``last`` is the value at the latest time. With
``retention_s`` it deletes points that much older than the newest one (checked every
``prune_every_s`` while writing), so the file does not grow for ever.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from csms.telemetry.exceptions import (
    LineProtocolError,
    QueryError,
    ServerUnavailable,
    WriteRejected,
)
from csms.telemetry.lineprotocol import (
    PRECISION_NS,
    Encoded,
    FieldPoint,
    MeterPoint,
    Precision,
    parse_line,
)
from csms.telemetry.query import Aggregation, SeriesResult, TelemetryQuery, from_epoch_ns

__all__ = ["EmbeddedStore"]

logger = logging.getLogger(__name__)

_SQL_AGG = {
    Aggregation.MEAN: "avg(num)",
    Aggregation.MAX: "max(num)",
    Aggregation.MIN: "min(num)",
    Aggregation.SUM: "sum(num)",
    Aggregation.COUNT: "count(*)",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    measurement TEXT NOT NULL,
    series TEXT NOT NULL,
    field TEXT NOT NULL,
    time INTEGER NOT NULL,
    tags TEXT NOT NULL,
    num REAL,
    text TEXT,
    PRIMARY KEY (time, measurement, field, series)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_by_time ON points (measurement, field, time);
"""
# The key starts with the time, so new points append to the end of the table (and of the
# index) instead of landing in every series' part of it: keyed by series first, the cost of
# an insert grew with the file (about 6 us per point empty, 30-50 us at 100k points, 1,000
# stations). Files created with that older key keep it (and their ``points_time`` index);
# both layouts hold the same rows and answer the same queries.

#: Rows per INSERT: a batch goes in statements of this many rows (one prepared statement,
#: reused) and one for the rest; 7 parameters a row stays far below SQLite's limit.
_ROWS_PER_INSERT = 64
_ROW_WIDTH = 7


@functools.cache
def _insert_sql(rows: int) -> str:
    """``INSERT OR REPLACE`` of ``rows`` rows, flattened parameters in row order."""
    return "INSERT OR REPLACE INTO points VALUES " + ",".join(["(?,?,?,?,?,?,?)"] * rows)


#: measurement, series, field, time (ns), tags JSON, number, text
_Row = tuple[str, str, str, int, str, float | None, str | None]


def _field_row(
    measurement: str, series: str, key: str, at: int, tags_json: str, value: str | float
) -> _Row:
    """The row of one field: a string in ``text``, a number in ``num``."""
    if isinstance(value, str):
        return (measurement, series, key, at, tags_json, None, value)
    return (measurement, series, key, at, tags_json, float(value), None)


def _series(tags: dict[str, str]) -> tuple[str, str]:
    """The series key (tags in key order) and the tags as JSON of a point."""
    ordered = dict(sorted(tags.items()))
    series = "\x1f".join(f"{k}={v}" for k, v in ordered.items())
    return series, json.dumps(ordered, separators=(",", ":"))


class EmbeddedStore:
    """Telemetry in an SQLite file (``":memory:"`` for tests)."""

    def __init__(
        self,
        path: str | Path,
        *,
        precision: Precision = "ms",
        retention_s: float | None = None,
        prune_every_s: float = 60.0,
    ) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._scale = PRECISION_NS[precision]
        self.retention_s = retention_s
        self.prune_every_s = prune_every_s
        self._last_prune = time.monotonic()
        self._newest_ns = 0
        self._prefixes: dict[str, tuple[str, str, str]] = {}

    # -- TelemetrySink -------------------------------------------------------------------

    #: a file on this machine: the pipeline stores into it without the outbox
    durable = True

    def write(self, lines: Sequence[str]) -> None:
        self.write_encoded(Encoded(list(lines)))

    def write_encoded(self, encoded: Encoded) -> None:
        """Store meter points given as :data:`~csms.telemetry.lineprotocol.MeterPoint`,
        other points as :data:`~csms.telemetry.lineprotocol.FieldPoint` (no line to parse)
        and lines, in one transaction; the same rows as writing their lines. Raises
        :class:`WriteRejected` after storing the good ones if a line is bad."""
        rows: list[_Row] = []
        bad: list[str] = []
        newest = max(
            self._newest_ns,
            self._meter_rows(encoded.meter or (), rows),
            self._field_rows(encoded.fields or (), rows),
            self._line_rows(encoded.lines, rows, bad),
        )
        self._insert(rows)
        self._newest_ns = newest
        if self.retention_s is not None and (
            time.monotonic() - self._last_prune >= self.prune_every_s
        ):
            self.prune()
        if bad:
            # like InfluxDB 1.x: the good lines are stored, the answer names the bad ones
            raise WriteRejected("; ".join(bad)[:500], status=400)

    def _meter_rows(self, meter: Sequence[MeterPoint], rows: list[_Row]) -> int:
        """Append the rows of ``meter``; returns the newest time (ns) among them, or 0."""
        scale = self._scale
        newest = 0
        series_of = self._series_of
        append = rows.append
        for prefix, at, tx, number, context in meter:
            measurement, series, tags_json = series_of(prefix)
            at *= scale
            if at > newest:
                newest = at
            append((measurement, series, "value", at, tags_json, float(number), None))
            if tx is not None:
                append((measurement, series, "transaction_id", at, tags_json, float(tx), None))
            if context is not None:
                append((measurement, series, "context", at, tags_json, None, context))
        return newest

    def _field_rows(self, fields: Sequence[FieldPoint], rows: list[_Row]) -> int:
        """Append the rows of ``fields``; returns the newest time (ns) among them, or 0."""
        newest = 0
        for prefix, at, values in fields:
            measurement, series, tags_json = self._series_of(prefix)
            at *= self._scale
            newest = max(newest, at)
            rows.extend(_field_row(measurement, series, k, at, tags_json, v) for k, v in values)
        return newest

    def _line_rows(self, lines: Sequence[str], rows: list[_Row], bad: list[str]) -> int:
        """Append the rows of ``lines`` (the unreadable ones to ``bad``); returns the newest
        time (ns) among them, or 0."""
        newest = 0
        for line in lines:
            try:
                parsed = parse_line(line)
            except LineProtocolError as exc:
                bad.append(str(exc))
                continue
            if parsed.time is None:
                bad.append(f"no timestamp: {line!r}")
                continue
            t = parsed.time * self._scale
            newest = max(newest, t)
            series, tags_json = _series(parsed.tags)
            m = parsed.measurement
            rows.extend(_field_row(m, series, k, t, tags_json, v) for k, v in parsed.fields.items())
        return newest

    def _insert(self, rows: list[_Row]) -> None:
        # Many rows per statement: executemany would release and take back the GIL around
        # every row (a hand-over the event loop waits on); a JSON array unpacked by SQLite
        # (json_each) cost twice the CPU, each row's fields parsed out of it one by one.
        flat = list(itertools.chain.from_iterable(rows))
        step = _ROWS_PER_INSERT * _ROW_WIDTH
        whole = len(flat) - len(flat) % step
        with self._lock:
            try:
                self._db.execute("BEGIN")
                for start in range(0, whole, step):
                    self._db.execute(_insert_sql(_ROWS_PER_INSERT), flat[start : start + step])
                if whole < len(flat):
                    rest = flat[whole:]
                    self._db.execute(_insert_sql(len(rest) // _ROW_WIDTH), rest)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:  # disk full, I/O error, locked: keep and retry
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise ServerUnavailable(f"embedded store cannot write: {exc}") from exc

    def _series_of(self, prefix: str) -> tuple[str, str, str]:
        """Measurement, series key and tags JSON of a line prefix (cached)."""
        entry = self._prefixes.get(prefix)
        if entry is None:
            parsed = parse_line(prefix + "value=0 0")
            series, tags_json = _series(parsed.tags)
            if len(self._prefixes) >= 200_000:
                self._prefixes.clear()
            entry = self._prefixes[prefix] = (parsed.measurement, series, tags_json)
        return entry

    def prune(self) -> int:
        """Delete points older than ``retention_s`` before the newest point written; returns
        how many rows went. Runs by itself every ``prune_every_s`` during writes."""
        self._last_prune = time.monotonic()
        if self.retention_s is None or not self._newest_ns:
            return 0
        cutoff = self._newest_ns - int(self.retention_s * 1_000_000_000)
        with self._lock:
            removed = self._db.execute("DELETE FROM points WHERE time < ?", (cutoff,)).rowcount
        if removed:
            logger.info("embedded telemetry store: pruned %d rows older than retention", removed)
        return int(removed)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- QueryBackend --------------------------------------------------------------------

    def query(self, q: TelemetryQuery) -> list[SeriesResult]:
        agg = Aggregation(q.aggregation)
        params: list[object] = []
        group_cols = [
            f"coalesce(json_extract(tags, '$.\"' || ? || '\"'), '') AS g{i}"
            for i in range(len(q.group_by))
        ]
        params += list(q.group_by)
        if q.window_s:
            bucket = "(time - (time % ?))"
            params.append(q.window_s * 1_000_000_000)
        else:
            bucket = "?"
            params.append(q.start_ns)
        value = "num" if agg is Aggregation.LAST else _SQL_AGG[agg]
        select = ", ".join([*group_cols, f"{bucket} AS bucket", value])
        if agg is Aggregation.LAST:
            select += ", max(time)"
        where = ["measurement = ?", "field = ?", "time >= ?", "time < ?"]
        if agg is not Aggregation.COUNT:  # count() counts text values too, as InfluxQL does
            where.append("num IS NOT NULL")
        params += [q.measurement, q.field, q.start_ns, q.stop_ns]
        for key, val in sorted(q.where.items()):
            where.append("json_extract(tags, '$.\"' || ? || '\"') = ?")
            params += [key, val]
        keys = [f"g{i}" for i in range(len(q.group_by))]
        sql = (
            f"SELECT {select} FROM points WHERE {' AND '.join(where)}"
            f" GROUP BY {', '.join([*keys, 'bucket'])} ORDER BY {', '.join([*keys, 'bucket'])}"
        )
        try:
            with self._lock:
                rows = self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise QueryError(str(exc)) from exc
        out: list[SeriesResult] = []
        n = len(q.group_by)
        for row in rows:
            tags = {tag: str(row[i]) for i, tag in enumerate(q.group_by)}
            point = (from_epoch_ns(int(row[n])), float(row[n + 1]))
            if out and out[-1].tags == tags:
                out[-1].points.append(point)
            else:
                out.append(SeriesResult(tags=tags, points=[point]))
        return out
