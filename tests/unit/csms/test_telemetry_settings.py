from __future__ import annotations

from pathlib import Path

import pytest

from csms.config import Settings, load_settings, telemetry_settings


def _paths(settings: Settings) -> tuple[Path, Path]:
    t = telemetry_settings(settings)
    return t.embedded_path, t.outbox_path


def test_default_files_go_beside_the_sqlite_database_or_stay_in_memory() -> None:
    sqlite = Settings(database={"url": "sqlite+aiosqlite:///var/cg/csms.db"})  # type: ignore[arg-type]
    assert _paths(sqlite) == (
        Path("var/cg/telemetry.sqlite3"),
        Path("var/cg/telemetry-outbox.sqlite3"),
    )
    assert _paths(Settings()) == (Path("telemetry.sqlite3"), Path("telemetry-outbox.sqlite3"))
    memory = Settings(database={"url": "memory://"})  # type: ignore[arg-type]
    assert _paths(memory) == (Path(":memory:"), Path(":memory:"))
    pg = Settings(database={"url": "postgresql+asyncpg://u@h/db"})  # type: ignore[arg-type]
    assert _paths(pg) == (Path("data/telemetry.sqlite3"), Path("data/telemetry-outbox.sqlite3"))


def test_explicit_paths_are_kept() -> None:
    s = Settings(
        database={"url": "memory://"},  # type: ignore[arg-type]
        telemetry={"outbox_path": "/srv/outbox.db"},  # type: ignore[arg-type]
    )
    assert _paths(s) == (Path(":memory:"), Path("/srv/outbox.db"))


def test_telemetry_options_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGEGRID_TELEMETRY__URL", "http://127.0.0.1:8086")
    monkeypatch.setenv("CHARGEGRID_TELEMETRY__BATCH_SIZE_POINTS", "250")
    s = load_settings()
    assert s.telemetry.url == "http://127.0.0.1:8086"
    assert s.telemetry.batch_size_points == 250
