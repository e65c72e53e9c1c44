"""Throwaway telemetry servers for the integration tests: ``influxd`` (InfluxDB 1.x) and
``victoria-metrics`` (v2 write endpoint), each in a temp dir on free loopback ports.

A test that needs one and cannot have it goes through ``tests.services.unavailable``: skip on
a developer machine, fail in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.services import free_port, unavailable

_INFLUXD_CONF = """\
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
[logging]
  level = "error"
"""


class ServerProcess:
    """A server binary run in ``root``; ``start()`` waits until ``ready_path`` answers."""

    def __init__(self, name: str, argv: list[str], root: Path, url: str, ready_path: str):
        self.name = name
        self.argv = argv
        self.root = root
        self.url = url
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / f"{name}.log"

    def start(self, timeout_s: float = 20.0) -> None:
        assert self.proc is None, "already running"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.root, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}: "
                    + self.log_path.read_text()[-2000:]
                )
            try:
                if httpx.get(self.url + self.ready_path, timeout=0.5).status_code < 300:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready in {timeout_s} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def make_influxd(root: Path) -> ServerProcess:
    """An InfluxDB 1.x in ``root`` (not started); skips/fails when influxd is missing."""
    binary = shutil.which("influxd")
    if binary is None:
        unavailable("influxd (InfluxDB 1.x) is not installed; apt-get install influxdb")
    http_port = free_port()
    rpc_port = free_port()
    conf = root / "influxdb.conf"
    conf.write_text(_INFLUXD_CONF.format(root=root, http_port=http_port, rpc_port=rpc_port))
    return ServerProcess(
        "influxd",
        [binary, "run", "-config", str(conf)],
        root,
        f"http://127.0.0.1:{http_port}",
        "/ping",
    )


def make_victoria_metrics(root: Path) -> ServerProcess:
    binary = shutil.which("victoria-metrics")
    if binary is None:
        unavailable("victoria-metrics is not installed; apt-get install victoria-metrics")
    port = free_port()
    return ServerProcess(
        "victoria-metrics",
        [
            binary,
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={root / 'data'}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ],
        root,
        f"http://127.0.0.1:{port}",
        "/health",
    )


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One InfluxDB 1.x for the session; tests use their own database names."""
    server = make_influxd(tmp_path_factory.mktemp("influxd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_influxd(tmp_path: Path) -> Iterator[ServerProcess]:
    """An InfluxDB 1.x for one test, started; the test may stop and start it."""
    server = make_influxd(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = make_victoria_metrics(tmp_path_factory.mktemp("vm"))
    server.start()
    yield server
    server.stop()
