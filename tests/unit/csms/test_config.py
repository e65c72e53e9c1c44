from __future__ import annotations

from pathlib import Path

import pytest

from csms.config import Settings, load_settings
from csms.exceptions import ConfigError


def test_defaults_are_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("CHARGEGRID_"):
            monkeypatch.delenv(name)
    s = load_settings()
    assert (s.server.host, s.server.port, s.server.unknown_stations) == (
        "127.0.0.1",
        9000,
        "reject",
    )
    assert s.server.max_frame_bytes == 65536
    assert s.ocpp.call_timeout_s == 30.0
    assert s.server.admin_token is None


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[server]\nport = 9100\nhost = "0.0.0.0"\n[ocpp]\ncall_timeout_s = 5\n')
    monkeypatch.setenv("CHARGEGRID_SERVER__PORT", "9200")
    monkeypatch.setenv("CHARGEGRID_DATABASE__URL", "memory://")
    s = load_settings(path)
    assert (s.server.host, s.server.port) == ("0.0.0.0", 9200)
    assert s.ocpp.call_timeout_s == 5.0
    assert s.database.url == "memory://"
    assert isinstance(s, Settings)


def test_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml.*line 2"):
        load_settings(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[server]\nunknown_stations = "maybe"\n')
    with pytest.raises(ConfigError, match=r"wrong\.toml: server\.unknown_stations"):
        load_settings(wrong)
    extra = tmp_path / "extra.toml"
    extra.write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"server\.prot"):
        load_settings(extra)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")


def test_every_option_is_documented_with_its_default_and_variable() -> None:
    doc = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for section, field in Settings.model_fields.items():
        model = field.default_factory
        assert model is not None
        for name, option in model.model_fields.items():  # type: ignore[attr-defined]
            row = next(
                (line for line in doc.splitlines() if line.startswith(f"| `{section}.{name}` |")),
                None,
            )
            assert row is not None, f"{section}.{name} missing from the README configuration table"
            assert f"CHARGEGRID_{section.upper()}__{name.upper()}" in row
            default = "unset" if option.default is None else str(option.default)
            assert f"`{default}`" in row or default in row, (section, name, default)


@pytest.mark.parametrize(
    ("section", "option"),
    [
        ("server", "ping_interval_s"),
        ("ocpp", "call_timeout_s"),
        ("database", "retry_max_s"),
        ("api", "stream_keepalive_s"),
        ("security", "handshake_timeout_s"),
        ("planning", "replan_interval_s"),
        ("telemetry", "timeout_s"),
    ],
)
def test_infinite_and_nan_numbers_are_refused_naming_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, option: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[{section}]\n{option} = inf\n")
    with pytest.raises(ConfigError, match=rf"c\.toml: {section}\.{option}: .*finite"):
        load_settings(path)
    monkeypatch.setenv(f"CHARGEGRID_{section.upper()}__{option.upper()}", "nan")
    with pytest.raises(ConfigError, match=rf"environment: {section}\.{option}: .*finite"):
        load_settings()
