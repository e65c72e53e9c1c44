from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chargegrid.cli import main
from csms.telemetry.embedded import EmbeddedStore
from csms.telemetry.lineprotocol import to_epoch
from csms.telemetry.outbox import Outbox
from csms.telemetry.schema import SCHEMA_VERSION, expected_series


def test_series(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["telemetry", "series"]) == 0
    out = capsys.readouterr().out
    assert f"schema version {SCHEMA_VERSION}" in out
    assert out.splitlines()[-1].split() == ["total", f"{expected_series().total:,}"]


def test_outbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    box.append(["m v=1 1", "m v=2 2", "oops"])
    seq, line = box.peek(3)[2]
    box.set_aside(seq, line, "unable to parse")
    box.close()
    assert main(["telemetry", "outbox", str(path), "--rejected"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "points waiting: 2",
        "bytes waiting:  14",
        "oldest:         m v=1 1",
        "refused by the server (kept): 1",
        "  unable to parse: oops",
    ]
    assert main(["telemetry", "outbox", str(tmp_path / "none")]) == 1


def test_query_embedded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store = EmbeddedStore(tmp_path / "e.sqlite3")
    t = to_epoch(now - timedelta(minutes=5), "ms")
    store.write([f"meter,station=A value=2 {t}", f"meter,station=A value=4 {t + 1000}"])
    store.close()
    config = tmp_path / "c.toml"
    config.write_text(f'[telemetry]\nembedded_path = "{tmp_path / "e.sqlite3"}"\n')
    args = ["--measurement", "meter", "--since", "1h", "--group-by", "station"]
    assert main(["telemetry", "query", "--config", str(config), *args]) == 0
    assert '"station": "A"' in capsys.readouterr().out
    assert (
        main(
            [
                "telemetry",
                "query",
                "--embedded",
                str(tmp_path / "e.sqlite3"),
                *args,
                "--aggregation",
                "sum",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "6.0" in out
    with pytest.raises(SystemExit):
        main(["telemetry", "query", "--embedded", "x", "--measurement", "m", "--since", "1y"])


def test_query_with_the_csms_config_reads_the_store_beside_its_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store = EmbeddedStore(tmp_path / "telemetry.sqlite3")  # where `serve` puts it by default
    store.write([f"meter,station=B value=3 {to_epoch(now - timedelta(minutes=5), 'ms')}"])
    store.close()
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "csms.db"}"\n')
    args = ["--measurement", "meter", "--since", "1h", "--group-by", "station"]
    assert main(["telemetry", "query", "--config", str(config), *args]) == 0
    assert '"station": "B"' in capsys.readouterr().out
    config.write_text("[telemetry]\nbatch_size_points = 0\n")
    assert main(["telemetry", "query", "--config", str(config), *args]) == 2
    assert "telemetry.batch_size_points" in capsys.readouterr().err


def test_query_an_absolute_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Last night's demand-response window, not a window ending now."""
    night = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    store = EmbeddedStore(tmp_path / "e.sqlite3")
    t = to_epoch(night, "ms")
    store.write([f"meter,station=A value=2 {t}", f"meter,station=A value=4 {t + 60_000}"])
    store.close()
    base = ["telemetry", "query", "--embedded", str(tmp_path / "e.sqlite3")]
    base += ["--measurement", "meter", "--aggregation", "sum"]
    start = (night - timedelta(minutes=5)).isoformat()
    stop = (night + timedelta(minutes=5)).isoformat()
    assert main([*base, "--start", start, "--stop", stop]) == 0
    assert "6.0" in capsys.readouterr().out
    assert main([*base, "--since", "1h"]) == 0  # the last hour holds none of it
    assert "6.0" not in capsys.readouterr().out
    # naive means UTC
    naive = (night - timedelta(minutes=1)).replace(tzinfo=None).isoformat()
    assert main([*base, "--start", naive, "--stop", stop]) == 0
    assert "6.0" in capsys.readouterr().out
    assert main([*base, "--start", stop, "--stop", start]) == 2
    assert "not before" in capsys.readouterr().err
    assert main([*base, "--start", start, "--since", "1h"]) == 2
    for bad in ("yesterday", "2026-13-01T00:00:00", "nan", "inf"):
        with pytest.raises(SystemExit):
            main([*base, "--start", bad])
