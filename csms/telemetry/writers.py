"""Where batches go: the :class:`TelemetrySink` protocol and its implementations.

A sink's ``write(lines)`` is synchronous and blocking (the pipeline calls it from its sender
thread) and either returns (the server accepted every line) or raises
:class:`ServerUnavailable` (try the same batch later) or :class:`WriteRejected` (the content is
refused; the pipeline bisects to find the bad line). A ``durable`` sink (the embedded store,
a file on this machine) also takes each encoded batch as it is (``write_encoded``), straight
from the pipeline's ingest thread: the outbox only keeps what it could not store.

- :class:`InfluxV1Sink`: InfluxDB 1.x ``/write`` (database, retention policy, user/password);
  works with every 1.x, including those before 1.8 that have no v2 endpoint.
- :class:`InfluxV2Sink`: the v2 write API ``/api/v2/write`` through influxdb-client's
  synchronous ``WriteApi`` (InfluxDB 2.x, 3.x, 1.8+, VictoriaMetrics).
- :class:`MemorySink`: an in-memory fake for tests.
- :class:`~csms.telemetry.embedded.EmbeddedStore`: SQLite on this machine, the durable one.

:func:`detect_api` picks v1 or v2 from the ``X-Influxdb-Version`` header of ``/ping``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import httpx

from csms.telemetry.exceptions import ServerUnavailable, TelemetryConfigError, WriteRejected
from csms.telemetry.lineprotocol import Encoded, Precision

__all__ = [
    "InfluxV1Sink",
    "InfluxV2Sink",
    "LineSink",
    "MemorySink",
    "TelemetrySink",
    "choose_api",
    "detect_api",
    "influx_client",
    "ping",
]

logger = logging.getLogger(__name__)

_V1_PRECISION = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}


@runtime_checkable
class TelemetrySink(Protocol):
    """A destination for batches of points."""

    @property
    def durable(self) -> bool:
        """Whether the sink is itself durable storage on this machine: the pipeline then
        stores each encoded batch into it from the ingest thread (``write_encoded``) instead
        of keeping it in the outbox first."""

    def write(self, lines: Sequence[str]) -> None:
        """Write every line or raise ServerUnavailable / WriteRejected."""

    def write_encoded(self, encoded: Encoded) -> None:
        """Write an encoded batch (meter and field points as they are, and lines); raises
        like :meth:`write`, after storing the good points when one is refused."""

    def close(self) -> None:
        """Release connections."""


class LineSink:
    """Base of the sinks that take line protocol over the network (or keep it in memory):
    not durable, so the pipeline keeps their points in the outbox until a write succeeds."""

    durable = False

    def write(self, lines: Sequence[str]) -> None:
        raise NotImplementedError

    def write_encoded(self, encoded: Encoded) -> None:
        self.write(encoded.all_lines())

    def close(self) -> None:
        pass


def influx_client(
    url: str,
    *,
    timeout_s: float,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
) -> httpx.Client:
    """An HTTP client for InfluxDB's 1.x API (``/write``, ``/query``): basic auth with
    ``username`` (and ``password``), or a ``token`` header (2.x / 3.x)."""
    headers = {"Authorization": f"Token {token}"} if token else None
    auth = (username, password or "") if username else None
    return httpx.Client(base_url=url.rstrip("/"), auth=auth, headers=headers, timeout=timeout_s)


def _raise_for_status(status: int, body: str) -> None:
    if status < 300:
        return
    message = body.strip()[:500] or f"HTTP {status}"
    if status in (400, 413, 422):
        raise WriteRejected(message, status=status)
    # 401/403 (credentials), 404 (no database yet), 408, 429, 5xx and anything else:
    # nothing is wrong with the points, so keep them and try again later.
    raise ServerUnavailable(message, status=status)


class InfluxV1Sink(LineSink):
    """InfluxDB 1.x ``/write``; creates the database on first use when ``create_database``."""

    def __init__(
        self,
        url: str,
        *,
        database: str,
        retention_policy: str | None = None,
        username: str | None = None,
        password: str | None = None,
        precision: Precision = "ms",
        timeout_s: float = 10.0,
        create_database: bool = True,
    ) -> None:
        self._client = influx_client(url, timeout_s=timeout_s, username=username, password=password)
        # InfluxDB 1.x before 1.8 reads "ns"/"us" as nanoseconds; "n"/"u" work on every 1.x
        self._params: dict[str, str] = {"db": database, "precision": _V1_PRECISION[precision]}
        if retention_policy:
            self._params["rp"] = retention_policy
        self.database = database
        self._create_database = create_database
        self._database_ready = not create_database

    def _ensure_database(self) -> None:
        query = 'CREATE DATABASE "' + self.database.replace('"', r"\"") + '"'
        try:
            response = self._client.post("/query", data={"q": query})
        except httpx.HTTPError as exc:
            raise ServerUnavailable(f"InfluxDB unreachable: {exc}") from exc
        if response.status_code >= 300:
            logger.warning("could not create database %s: %s", self.database, response.text[:200])
        self._database_ready = True

    def write(self, lines: Sequence[str]) -> None:
        if not self._database_ready:
            self._ensure_database()
        body = "\n".join(lines).encode()
        try:
            response = self._client.post("/write", params=self._params, content=body)
        except httpx.HTTPError as exc:
            raise ServerUnavailable(f"InfluxDB unreachable: {exc}") from exc
        if response.status_code == 404 and self._create_database:
            self._database_ready = False
        _raise_for_status(response.status_code, response.text)

    def close(self) -> None:
        self._client.close()


class InfluxV2Sink(LineSink):
    """The v2 write API through influxdb-client's synchronous ``WriteApi``.

    The batching ``WriteApi`` would retry on its own thread and report through callbacks;
    the synchronous one tells this caller exactly which batch was accepted, which is what
    the outbox needs before it deletes anything.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        org: str,
        bucket: str,
        precision: Precision = "ms",
        timeout_s: float = 10.0,
    ) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS
        from influxdb_client.domain.write_precision import WritePrecision

        if not bucket:
            raise TelemetryConfigError("the v2 write API needs a bucket")
        self._client = InfluxDBClient(
            url=url, token=token or "", org=org, timeout=int(timeout_s * 1000)
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        self._bucket = bucket
        self._org = org
        self._precision: Any = {
            "ns": WritePrecision.NS,
            "us": WritePrecision.US,
            "ms": WritePrecision.MS,
            "s": WritePrecision.S,
        }[precision]

    def write(self, lines: Sequence[str]) -> None:
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        try:
            self._api.write(
                bucket=self._bucket,
                org=self._org,
                record="\n".join(lines),
                write_precision=self._precision,
            )
        except ApiException as exc:
            _raise_for_status(int(exc.status or 500), str(exc.body or exc.reason or ""))
        except (Urllib3Error, OSError) as exc:
            raise ServerUnavailable(f"InfluxDB unreachable: {exc}") from exc

    def close(self) -> None:
        self._api.close()
        self._client.close()


class MemorySink(LineSink):
    """An in-memory sink for tests: keeps what it accepted; ``fail`` decides per batch.

    ``fail(lines)`` may raise ServerUnavailable / WriteRejected to simulate a server.
    """

    def __init__(self, fail: Callable[[Sequence[str]], None] | None = None) -> None:
        self.lines: list[str] = []
        self.batches: list[int] = []
        self.fail = fail
        self._lock = threading.Lock()

    def write(self, lines: Sequence[str]) -> None:
        if self.fail is not None:
            self.fail(lines)
        with self._lock:
            self.lines.extend(lines)
            self.batches.append(len(lines))


def ping(url: str, *, timeout_s: float = 5.0, headers: dict[str, str] | None = None) -> str | None:
    """The server's ``X-Influxdb-Version`` from ``/ping`` (``None`` if it sends none);
    raises ServerUnavailable if there is no answer."""
    try:
        response = httpx.get(url.rstrip("/") + "/ping", timeout=timeout_s, headers=headers)
    except httpx.HTTPError as exc:
        raise ServerUnavailable(f"no answer from {url}/ping: {exc}") from exc
    if response.status_code >= 300:
        raise ServerUnavailable(f"{url}/ping answered {response.status_code}")
    version: str | None = response.headers.get("X-Influxdb-Version")
    return version


def choose_api(version: str | None, *, has_bucket: bool) -> Literal["v1", "v2"]:
    """v1 for an InfluxDB 1.x (``/write`` works on all of them), v2 for 2.x / 3.x; a server
    without a version header (VictoriaMetrics, proxies) gets v2 when a bucket is configured."""
    if version:
        text = version.lstrip("vV").strip()
        major = text.split(".", 1)[0]
        if major == "1":
            return "v1"
        if major.isdigit():
            return "v2"
    return "v2" if has_bucket else "v1"


def detect_api(url: str, *, has_bucket: bool, timeout_s: float = 5.0) -> Literal["v1", "v2"]:
    """Ping the server and choose the write API for it."""
    version = ping(url, timeout_s=timeout_s)
    api = choose_api(version, has_bucket=has_bucket)
    logger.info("InfluxDB at %s reports version %s: using the %s write API", url, version, api)
    return api
