from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

import csms.config
import csms.event_loop
from csms.config import ServerSettings, Settings
from csms.event_loop import choose, loop_name, run, uvloop_available


def test_uvloop_is_installed_with_the_central_system() -> None:
    assert uvloop_available()  # a dependency except on Windows


def test_auto_is_uvloop_on_a_plain_port_and_asyncio_with_tls_or_without_uvloop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ServerSettings().event_loop == "auto"
    assert choose("auto", tls=False) == "uvloop"
    assert choose("auto", tls=True) == "asyncio"
    assert choose("asyncio", tls=False) == "asyncio"
    assert choose("uvloop", tls=False) == "uvloop"
    monkeypatch.setattr(csms.event_loop, "uvloop_available", lambda: False)
    assert choose("auto", tls=False) == "asyncio"


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
def test_run_runs_on_the_loop_named(kind: csms.event_loop.LoopKind) -> None:
    async def main() -> str:
        return loop_name(asyncio.get_running_loop())

    assert run(main(), loop=kind) == kind


def test_a_loop_not_known_or_not_installed_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="event_loop"):
        ServerSettings(event_loop="trio")  # type: ignore[arg-type]
    assert ServerSettings(event_loop="uvloop").event_loop == "uvloop"
    monkeypatch.setattr(csms.config, "uvloop_available", lambda: False)
    with pytest.raises(ValidationError, match="uvloop is not installed"):
        ServerSettings(event_loop="uvloop")
    assert ServerSettings(event_loop="asyncio").event_loop == "asyncio"


def test_uvloop_with_tls_is_refused(tmp_path: Path) -> None:
    tls = {"tls_cert_file": tmp_path / "server.pem", "tls_key_file": tmp_path / "server.key"}
    with pytest.raises(ValidationError, match="cannot serve TLS"):
        Settings(server={"event_loop": "uvloop"}, security=tls)  # type: ignore[arg-type]
    settings = Settings(security=tls)  # type: ignore[arg-type]
    assert choose(settings.server.event_loop, tls=settings.security.tls) == "asyncio"
