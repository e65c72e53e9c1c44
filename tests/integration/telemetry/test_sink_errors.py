"""How the sinks map real HTTP answers: a small loopback server plays InfluxDB."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from csms.telemetry import (
    InfluxV1Sink,
    InfluxV2Sink,
    Outbox,
    ServerUnavailable,
    TelemetryPipeline,
    WriteRejected,
)
from csms.telemetry.writers import TelemetrySink


class FakeInflux(BaseHTTPRequestHandler):
    """204 for good lines, 400 for a batch with a line containing 'bad', a forced status
    otherwise; records what it accepted."""

    accepted: list[str] = []
    status: int = 204
    paths: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).paths.append(self.path.split("?")[0])
        lines = body.split("\n")
        status = type(self).status
        if status == 204 and any("bad" in line for line in lines):
            status = 400
        self.send_response(status)
        if status >= 300:
            payload = b'{"error":"unable to parse"}'
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        type(self).accepted.extend(lines)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_influx() -> Iterator[str]:
    FakeInflux.accepted = []
    FakeInflux.paths = []
    FakeInflux.status = 204
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeInflux)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _sinks(url: str) -> list[TelemetrySink]:
    return [
        InfluxV1Sink(url, database="d", create_database=False),
        InfluxV2Sink(url, token="t", org="o", bucket="b"),
    ]


@pytest.mark.parametrize("kind", [0, 1], ids=["v1", "v2"])
def test_status_codes_map_to_retry_or_reject(fake_influx: str, kind: int) -> None:
    sink = _sinks(fake_influx)[kind]
    for status, error in (
        (503, ServerUnavailable),
        (401, ServerUnavailable),
        (429, ServerUnavailable),
        (413, WriteRejected),
    ):
        FakeInflux.status = status
        with pytest.raises(error) as info:
            sink.write(["m v=1 1"])
        assert info.value.status == status
    FakeInflux.status = 204
    with pytest.raises(WriteRejected):
        sink.write(["m v=1 1", "bad"])
    sink.write(["m v=2 2"])
    assert FakeInflux.accepted == ["m v=2 2"]
    assert FakeInflux.paths[-1] == ("/write", "/api/v2/write")[kind]
    sink.close()


def test_the_v2_path_isolates_a_refused_line(fake_influx: str, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o")
    lines = [f"m v={i} {i}" for i in range(20)]
    lines[5] = "bad line"
    outbox.append(lines)
    pipe = TelemetryPipeline(
        sink=InfluxV2Sink(fake_influx, token="t", org="o", bucket="b"),
        outbox=outbox,
        batch_interval_s=0.01,
    )
    pipe.start()
    assert pipe.flush(timeout_s=5)
    pipe.close()
    assert FakeInflux.accepted == [line for i, line in enumerate(lines) if i != 5]
    assert pipe.stats.points_server_rejected == 1
