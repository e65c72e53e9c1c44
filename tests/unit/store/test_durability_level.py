"""The durability level (decision 0251): unknown levels are refused where they enter, and
``serve`` opens its store with the configured one."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from csms.app import Csms
from csms.config import DatabaseSettings, Settings
from csms.exceptions import ConfigError
from csms.store import SqlStore, open_store
from csms.store.engine import DURABILITY_LEVELS, check_durability, create_sqlite_writer_engine

UNKNOWN = ["", "none", "power_loss", "CRASH", "FULL", "off"]


@pytest.mark.parametrize("level", UNKNOWN)
def test_an_unknown_level_is_refused(level: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="durability"):
        DatabaseSettings(durability=level)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="durability"):
        open_store(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", durability=level)
    with pytest.raises(ConfigError, match="durability"):
        open_store("postgresql+asyncpg://u@127.0.0.1/d", durability=level)
    with pytest.raises(ConfigError, match="durability"):
        create_sqlite_writer_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", durability=level)
    assert not (tmp_path / "d.db").exists()  # refused before anything was opened


def test_the_levels_and_the_default() -> None:
    assert DURABILITY_LEVELS == ("power-loss", "crash")
    assert [check_durability(level) for level in DURABILITY_LEVELS] == list(DURABILITY_LEVELS)
    assert DatabaseSettings().durability == "power-loss"


@pytest.mark.parametrize("level", DURABILITY_LEVELS)
def test_the_server_opens_its_store_with_the_configured_level(level: str, tmp_path: Path) -> None:
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", "durability": level}
    )
    csms = Csms(settings)
    assert isinstance(csms.store, SqlStore)
    assert csms.store.durability == level


def test_the_level_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGEGRID_DATABASE__DURABILITY", "crash")
    assert Settings().database.durability == "crash"
    monkeypatch.setenv("CHARGEGRID_DATABASE__DURABILITY", "sometimes")
    with pytest.raises(ValidationError, match="durability"):
        Settings()
