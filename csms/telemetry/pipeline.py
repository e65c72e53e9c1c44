"""The telemetry pipeline: recorder -> encoder -> durable outbox -> sink.

Two threads do the work so the OCPP event loop never waits:

- the **ingest** thread drains the recorder every ``flush_interval_s``, encodes the records
  into line protocol (rejecting bad samples with a counted reason) and appends them to the
  outbox in one SQLite transaction;
- the **sender** thread takes the oldest ``batch_size_points`` from the outbox when that many
  are waiting or ``batch_interval_s`` has passed, writes them through the sink and removes
  them only once the server accepted them. A failure keeps the batch and retries it with
  exponential backoff, so after an outage (or a restart on the same outbox file) the points
  are replayed oldest first. A batch the server refuses (HTTP 400) is bisected: the bad lines
  are set aside and reported, the rest are written.

InfluxDB overwrites a point with the same series and timestamp, so writing a batch again after
an ambiguous failure (a timeout after the server stored it) does not duplicate anything.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence

from csms.backoff import Backoff
from csms.telemetry.exceptions import ServerUnavailable, WriteRejected
from csms.telemetry.lineprotocol import Encoded
from csms.telemetry.metrics import TelemetryStats
from csms.telemetry.normalize import Reject
from csms.telemetry.outbox import Outbox
from csms.telemetry.points import PointEncoder
from csms.telemetry.recorder import TelemetryRecorder
from csms.telemetry.writers import TelemetrySink

__all__ = ["TelemetryPipeline", "write_isolating"]

logger = logging.getLogger(__name__)


def write_isolating(
    write: Callable[[Sequence[str]], None], lines: Sequence[str]
) -> list[tuple[int, WriteRejected]]:
    """Write ``lines``; when the server refuses the batch, bisect until the refused lines are
    found. Returns their indices with the server's error; every other line was written.
    :class:`ServerUnavailable` propagates (the caller retries the whole batch later)."""
    try:
        write(lines)
        return []
    except WriteRejected as exc:
        if len(lines) == 1:
            return [(0, exc)]
    mid = len(lines) // 2
    left = write_isolating(write, lines[:mid])
    right = write_isolating(write, lines[mid:])
    return left + [(i + mid, e) for i, e in right]


class _Throttled:
    """Logs a warning at most every ``every_s`` seconds, with the count since the last one."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last = -1e18
        self._count = 0

    def __call__(self, count: int, message: str, *args: object) -> None:
        self._count += count
        now = time.monotonic()
        if now - self._last >= self.every_s:
            logger.warning(message + " (%d since last report)", *args, self._count)
            self._last = now
            self._count = 0


class TelemetryPipeline:
    """Runs the ingest and sender threads between a recorder, an outbox and a sink."""

    def __init__(
        self,
        *,
        sink: TelemetrySink,
        outbox: Outbox,
        recorder: TelemetryRecorder | None = None,
        encoder: PointEncoder | None = None,
        batch_size_points: int = 5000,
        batch_interval_s: float = 1.0,
        flush_interval_s: float = 0.05,
        backoff: Backoff | None = None,
        log_every_s: float = 10.0,
    ) -> None:
        self.recorder = recorder if recorder is not None else TelemetryRecorder()
        self.stats: TelemetryStats = self.recorder.stats
        self.sink = sink
        self.outbox = outbox
        self._drop_log = _Throttled(log_every_s)
        self._reject_log = _Throttled(log_every_s)
        self.encoder = encoder if encoder is not None else PointEncoder()
        self.encoder.on_reject = self._on_reject
        self.batch_size_points = batch_size_points
        self.batch_interval_s = batch_interval_s
        self.flush_interval_s = flush_interval_s
        self.backoff = backoff if backoff is not None else Backoff()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._urgent = False
        self._ingest_busy = False
        self._deadline = float("inf")
        self._threads: list[threading.Thread] = []
        self.stats.outbox_depth = outbox.depth
        self.stats.outbox_bytes = outbox.size_bytes
        #: A durable sink (the embedded store, a file itself): the ingest thread stores into
        #: it directly, and the outbox only takes what that write could not store (and holds
        #: what an older process left).
        self.direct = sink.durable

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        for name, target in (("ingest", self._ingest_loop), ("sender", self._send_loop)):
            thread = threading.Thread(target=target, name=f"telemetry-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def dead_threads(self) -> list[str]:
        """The names of this pipeline's threads that stopped although it was not closed."""
        if self._stop.is_set():
            return []
        return [t.name for t in self._threads if not t.is_alive()]

    def close(self, *, timeout_s: float = 10.0) -> None:
        """Move everything recorded into the outbox, try for up to ``timeout_s`` to send it,
        then stop; whatever was not accepted stays in the outbox for the next start."""
        self._deadline = time.monotonic() + timeout_s
        self._urgent = True
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=max(0.1, self._deadline - time.monotonic()) + 5.0)
        self._threads = []
        while self.recorder.pending:  # never started, or the ingest thread had no time
            self._ingest_once()
        self.sink.close()
        self.outbox.close()

    def flush(self, *, timeout_s: float = 10.0) -> bool:
        """Wait until everything recorded so far is on the server; False on timeout."""
        deadline = time.monotonic() + timeout_s
        self._urgent = True
        try:
            while time.monotonic() < deadline:
                self._wake.set()
                if self.recorder.pending == 0 and not self._ingest_busy and self.outbox.depth == 0:
                    return True
                time.sleep(0.005)
            return False
        finally:
            self._urgent = False

    # -- ingest ---------------------------------------------------------------------------

    def _on_reject(self, reason: Reject, detail: str) -> None:
        self.stats.reject_input(reason)
        self._reject_log(1, "telemetry rejected a sample: %s: %s", reason.value, detail)

    def _ingest_once(self, chunk: int = 20_000) -> int:
        self._ingest_busy = True
        try:
            records = self.recorder.drain(chunk)
            if not records:
                return 0
            encoded = Encoded([], [], []) if self.direct else Encoded([])
            self.encoder.encode(records, encoded)
            self.stats.points_recorded += encoded.count()
            if not self.direct:
                self._to_outbox(encoded.lines)
            elif not self._store_direct(encoded):
                self._to_outbox(encoded.all_lines())
            else:
                self.stats.buffer_depth = self.recorder.pending
            return len(records)
        finally:
            self._ingest_busy = False

    def _store_direct(self, encoded: Encoded) -> bool:
        """Store into the durable sink; False if it failed (the caller keeps the points in
        the outbox, whose sender retries them like any failed write)."""
        sink = self.sink
        count = encoded.count()
        self.stats.write_requests += 1
        try:
            sink.write_encoded(encoded)
        except WriteRejected as exc:  # a bad line: the rest are stored (never meter points)
            refused = 0
            for line in encoded.lines:
                try:
                    sink.write((line,))
                except WriteRejected as one:
                    refused += 1
                    self.outbox.set_aside(None, line, str(one))
                    logger.error("telemetry store refused a point (%s): %s", one, line[:300])
            self.stats.write_failures += 1
            self.stats.points_server_rejected += refused
            self.stats.points_written += count - refused
            logger.debug("telemetry store write rejected lines: %s", exc)
        except Exception as exc:
            self.stats.write_failures += 1
            logger.warning("telemetry store write failed (%s); kept in the outbox", exc)
            return False
        else:
            self.stats.points_written += count
        self.stats.last_write_ok_unix_s = time.time()
        return True

    def _to_outbox(self, lines: list[str]) -> None:
        try:
            dropped = self.outbox.append(lines)
        except sqlite3.Error as exc:  # disk full, file removed, I/O error
            self.stats.drop("outbox_error", len(lines))
            logger.error("telemetry outbox write failed (%s): dropped %d points", exc, len(lines))
            return
        if dropped:
            self.stats.drop("outbox_full", dropped)
            self._drop_log(
                dropped,
                "telemetry outbox full (%d bytes, policy %s): dropped points",
                self.outbox.max_bytes,
                self.outbox.drop_policy,
            )
        self.stats.outbox_depth = self.outbox.depth
        self.stats.outbox_bytes = self.outbox.size_bytes
        self.stats.buffer_depth = self.recorder.pending
        if self.outbox.depth >= self.batch_size_points:
            self._wake.set()

    def _ingest_loop(self) -> None:
        while True:
            try:
                moved = self._ingest_once()
            except Exception:
                logger.exception("telemetry ingest failed; retrying")
                moved = 0
                time.sleep(self.flush_interval_s)
            if moved:
                continue
            if self._stop.is_set():
                return
            self._stop.wait(self.flush_interval_s)

    # -- sender ---------------------------------------------------------------------------

    def _counted_write(self, lines: Sequence[str]) -> None:
        self.stats.write_requests += 1
        try:
            self.sink.write(lines)
        except (ServerUnavailable, WriteRejected):
            self.stats.write_failures += 1
            raise

    def _send_once(self) -> bool:
        """Send one batch; True if it went (or partly went) out."""
        batch = self.outbox.peek(self.batch_size_points)
        if not batch:
            return False
        lines = [line for _, line in batch]
        try:
            refused = write_isolating(self._counted_write, lines)
        except ServerUnavailable as exc:
            self.stats.points_retried += len(batch)
            delay = self.backoff.next_delay()
            logger.warning(
                "telemetry write of %d points failed (%s); retrying in %.1f s (outbox %d)",
                len(batch),
                exc,
                delay,
                self.outbox.depth,
            )
            self._wait(delay)
            return False
        for index, error in refused:
            seq, line = batch[index]
            self.outbox.set_aside(seq, line, str(error))
            logger.error("InfluxDB refused a point (%s); set aside: %s", error, line[:300])
        self.stats.points_server_rejected += len(refused)
        refused_at = {i for i, _ in refused}
        kept = [line for i, line in enumerate(lines) if i not in refused_at] if refused else lines
        self.outbox.remove(batch[0][0], batch[-1][0], count=len(kept), nbytes=sum(map(len, kept)))
        self.stats.points_written += len(batch) - len(refused)
        self.stats.last_write_ok_unix_s = time.time()
        self.stats.outbox_depth = self.outbox.depth
        self.stats.outbox_bytes = self.outbox.size_bytes
        self.backoff.reset()
        return True

    def _wait(self, seconds: float) -> None:
        end = min(time.monotonic() + seconds, self._deadline)
        while (left := end - time.monotonic()) > 0:
            self._wake.wait(left)
            self._wake.clear()
            if time.monotonic() >= self._deadline:
                return

    def _send_loop(self) -> None:
        last_send = time.monotonic()
        while True:
            stopping = self._stop.is_set()
            if stopping and time.monotonic() >= self._deadline:
                return
            depth = self.outbox.depth
            if depth == 0:
                if stopping and not any(
                    t.name == "telemetry-ingest" and t.is_alive() for t in self._threads
                ):
                    return
                self._wake.wait(self.batch_interval_s if not stopping else 0.01)
                self._wake.clear()
                continue
            waited = time.monotonic() - last_send
            if (
                depth < self.batch_size_points
                and waited < self.batch_interval_s
                and not (self._urgent or stopping)
            ):
                self._wake.wait(self.batch_interval_s - waited)
                self._wake.clear()
                continue
            try:
                if self._send_once():
                    last_send = time.monotonic()
            except Exception:
                logger.exception("telemetry sender failed; retrying")
                self._wait(self.backoff.next_delay())
