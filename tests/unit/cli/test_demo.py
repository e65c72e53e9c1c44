"""``chargegrid demo``'s options: where its data and telemetry go, its ports, bad values."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from chargegrid.cli import build_parser, main
from csms.cli.demo import demo_settings
from csms.demo import DemoError, PortInUse, check_ports


def _args(*argv: str) -> object:
    return build_parser(["demo"]).parse_args(["demo", *argv])


def test_embedded_defaults_in_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the demo's own database whatever the environment says
    monkeypatch.setenv("CHARGEGRID_DATABASE__URL", "postgresql+asyncpg://x@db.example/prod")
    s = demo_settings(_args(), tmp_path)
    assert s.database.url == f"sqlite+aiosqlite:///{tmp_path / 'chargegrid.sqlite3'}"
    assert s.telemetry.url is None
    assert s.telemetry.embedded_path == tmp_path / "telemetry.sqlite3"
    assert s.telemetry.outbox_path == tmp_path / "telemetry-outbox.sqlite3"
    assert (s.server.host, s.server.port, s.server.unknown_stations) == (
        "127.0.0.1",
        9000,
        "reject",
    )
    assert (s.api.enabled, s.api.host, s.api.port) == (True, "127.0.0.1", 8000)


def test_a_real_influxdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGEGRID_TELEMETRY__PASSWORD", "from-env")
    s = demo_settings(
        _args(
            "--influx-url",
            "http://127.0.0.1:8086",
            "--influx-database",
            "fleet",
            "--influx-username",
            "cg",
            "--port",
            "0",
            "--api-port",
            "8100",
        ),
        tmp_path,
    )
    t = s.telemetry
    assert (t.url, t.database, t.username) == ("http://127.0.0.1:8086", "fleet", "cg")
    assert t.password is not None and t.password.get_secret_value() == "from-env"
    assert (s.server.port, s.api.port) == (0, 8100)
    v2 = demo_settings(
        _args(
            "--influx-url",
            "http://i:8086",
            "--influx-org",
            "o",
            "--influx-bucket",
            "b",
            "--influx-token",
            "t",
        ),
        tmp_path,
    ).telemetry
    assert (v2.org, v2.bucket) == ("o", "b")
    assert v2.token is not None and v2.token.get_secret_value() == "t"


@pytest.mark.parametrize(
    "argv",
    [["--speed", "0"], ["--speed", "nan"], ["--hours", "-1"], ["--port", "70000"]],
)
def test_bad_values_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["demo", *argv])
    assert exit_.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_ports_are_checked_before_anything_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 \\(OCPP\\)"):
            check_ports("127.0.0.1", [(port, "OCPP", "--port")])
    check_ports("127.0.0.1", [(0, "OCPP", "--port"), (0, "HTTP API", "--api-port")])
    with pytest.raises(DemoError, match="must differ"):
        check_ports("127.0.0.1", [(9100, "OCPP", "--port"), (9100, "HTTP API", "--api-port")])
