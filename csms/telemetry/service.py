"""Assembling telemetry from settings: sink, outbox, pipeline, query backend.

::

    telemetry = open_telemetry(settings.telemetry, clock=clock)
    telemetry.recorder.attach(bus)   # the CSMS core's EventBus
    telemetry.start()
    ...
    telemetry.close()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chargegrid.clock import Clock
from csms.backoff import Backoff
from csms.telemetry.embedded import EmbeddedStore
from csms.telemetry.exceptions import ServerUnavailable
from csms.telemetry.metrics import TelemetryStats, render_prometheus
from csms.telemetry.outbox import Outbox
from csms.telemetry.pipeline import TelemetryPipeline
from csms.telemetry.points import PointEncoder
from csms.telemetry.query import InfluxQLBackend, QueryBackend, SeriesResult, TelemetryQuery
from csms.telemetry.recorder import TelemetryRecorder
from csms.telemetry.settings import TelemetrySettings
from csms.telemetry.writers import InfluxV1Sink, InfluxV2Sink, TelemetrySink, detect_api

__all__ = ["Telemetry", "open_telemetry"]

logger = logging.getLogger(__name__)


@dataclass
class Telemetry:
    """The assembled telemetry of one CSMS process."""

    settings: TelemetrySettings
    backend: Literal["disabled", "embedded", "v1", "v2"]
    recorder: TelemetryRecorder
    pipeline: TelemetryPipeline
    query_backend: QueryBackend

    @property
    def stats(self) -> TelemetryStats:
        return self.recorder.stats

    def start(self) -> None:
        if self.backend != "disabled":
            self.pipeline.start()

    def close(self) -> None:
        self.pipeline.close(timeout_s=self.settings.close_timeout_s)
        closer = getattr(self.query_backend, "close", None)
        sink: object = self.pipeline.sink
        if closer is not None and self.query_backend is not sink:
            closer()  # the sink (closed by the pipeline) may answer the queries itself

    def query(self, q: TelemetryQuery) -> list[SeriesResult]:
        """Run a dashboard query (blocking: HTTP or SQLite)."""
        return self.query_backend.query(q)

    async def aquery(self, q: TelemetryQuery) -> list[SeriesResult]:
        """:meth:`query` on a worker thread, for the asyncio HTTP API."""
        return await asyncio.to_thread(self.query_backend.query, q)

    async def aclose(self) -> None:
        """:meth:`close` on a worker thread, for an asyncio shutdown hook."""
        await asyncio.to_thread(self.close)

    def metrics_text(self) -> str:
        """The counters in Prometheus text format (for a ``/metrics`` endpoint)."""
        return render_prometheus(self.stats)


def _choose_backend(settings: TelemetrySettings) -> Literal["embedded", "v1", "v2"]:
    if not settings.url:
        return "embedded"
    if settings.api != "auto":
        return settings.api
    try:
        return detect_api(settings.url, has_bucket=bool(settings.bucket), timeout_s=2.0)
    except ServerUnavailable as exc:
        fallback: Literal["v1", "v2"] = "v2" if settings.bucket else "v1"
        logger.warning("cannot detect the InfluxDB version (%s); assuming %s", exc, fallback)
        return fallback


def open_telemetry(
    settings: TelemetrySettings,
    *,
    clock: Clock | None = None,
    site_of: Callable[[str], str | None] | None = None,
) -> Telemetry:
    """Build (but do not start) telemetry as configured. ``site_of`` gives a station's site
    for the points of records that do not carry it (swap sessions).

    With ``enabled = false`` the recorder ignores everything and nothing touches disk or
    network, so callers need no special case.
    """
    if not settings.enabled:
        memory = Path(":memory:")
        settings = settings.model_copy(
            update={"url": None, "embedded_path": memory, "outbox_path": memory}
        )
    backend = _choose_backend(settings)
    sink, query_backend = _OPENERS[backend](settings)
    recorder = TelemetryRecorder(
        enabled=settings.enabled,
        stats=TelemetryStats(),
        max_buffer_items=settings.max_buffer_items,
        site=settings.site,
        log_every_s=settings.log_every_s,
    )
    logger.info("telemetry: %s backend, outbox %s", backend, settings.outbox_path)
    return Telemetry(
        settings=settings,
        backend=backend if settings.enabled else "disabled",
        recorder=recorder,
        pipeline=_pipeline(settings, sink, recorder, clock, site_of),
        query_backend=query_backend,
    )


def _open_embedded(settings: TelemetrySettings) -> tuple[TelemetrySink, QueryBackend]:
    store = EmbeddedStore(
        settings.embedded_path,
        precision=settings.precision,
        retention_s=settings.embedded_retention_s,
    )
    return store, store


def _open_v1(settings: TelemetrySettings) -> tuple[TelemetrySink, QueryBackend]:
    assert settings.url is not None
    password = settings.password.get_secret_value() if settings.password else None
    database: dict[str, Any] = {
        "database": settings.database,
        "retention_policy": settings.retention_policy,
        "username": settings.username,
        "password": password,
    }
    sink = InfluxV1Sink(
        settings.url,
        **database,
        precision=settings.precision,
        timeout_s=settings.timeout_s,
        create_database=settings.create_database,
    )
    return sink, InfluxQLBackend(settings.url, **database)


def _open_v2(settings: TelemetrySettings) -> tuple[TelemetrySink, QueryBackend]:
    assert settings.url is not None and settings.bucket is not None
    token = settings.token.get_secret_value() if settings.token else None
    sink = InfluxV2Sink(
        settings.url,
        token=token,
        org=settings.org,
        bucket=settings.bucket,
        precision=settings.precision,
        timeout_s=settings.timeout_s,
    )
    return sink, InfluxQLBackend(settings.url, database=settings.bucket, token=token)


#: Each backend's sink and query backend, from the settings.
_OPENERS: dict[str, Callable[[TelemetrySettings], tuple[TelemetrySink, QueryBackend]]] = {
    "embedded": _open_embedded,
    "v1": _open_v1,
    "v2": _open_v2,
}


def _pipeline(
    settings: TelemetrySettings,
    sink: TelemetrySink,
    recorder: TelemetryRecorder,
    clock: Clock | None,
    site_of: Callable[[str], str | None] | None = None,
) -> TelemetryPipeline:
    """The pipeline between ``recorder`` and ``sink``, with its encoder and outbox."""
    encoder = PointEncoder(
        precision=settings.precision,
        now_s=(lambda: clock.now().timestamp()) if clock is not None else time.time,
        max_future_s=settings.max_future_s,
        max_past_s=settings.max_past_s,
        plan_steps=settings.plan_steps,
        site_of=site_of,
    )
    outbox = Outbox(
        settings.outbox_path,
        max_bytes=settings.outbox_max_bytes,
        drop_policy=settings.drop_policy,
        synchronous=settings.outbox_synchronous,
    )
    backoff = Backoff(
        initial_s=settings.retry_initial_s,
        max_s=settings.retry_max_s,
        multiplier=settings.retry_multiplier,
    )
    return TelemetryPipeline(
        sink=sink,
        outbox=outbox,
        recorder=recorder,
        encoder=encoder,
        batch_size_points=settings.batch_size_points,
        batch_interval_s=settings.batch_interval_s,
        flush_interval_s=settings.flush_interval_s,
        backoff=backoff,
        log_every_s=settings.log_every_s,
    )
