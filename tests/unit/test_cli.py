"""The ``chargegrid`` entry point: every command is where ``COMMANDS`` says, and a command
loads only its own part."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from chargegrid.cli import COMMANDS, build_parser


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_the_command_map_is_what_the_modules_register() -> None:
    assert _commands(build_parser([])) == set(COMMANDS)
    for command, module in COMMANDS.items():
        same_module = {c for c, m in COMMANDS.items() if m == module}
        assert _commands(build_parser(["--log-level", "DEBUG", command])) == same_module


@pytest.mark.parametrize(
    ("argv", "before", "loaded"),
    [
        (["sim", "--help"], "", False),
        (["optimize", "--help"], "", False),
        (["serve", "--help"], "", False),
        (["--help"], "", False),
        # the check itself: the central system's app does load them
        (["--help"], "import csms.app", True),
    ],
)
def test_a_command_loads_only_its_part(argv: list[str], before: str, loaded: bool) -> None:
    """Building the parser (``--help``) loads no web, database or telemetry stack."""
    code = (
        "import sys\n"
        f"{before}\n"
        "from chargegrid.cli import build_parser\n"
        f"build_parser({argv!r})\n"
        "print(any(m in sys.modules for m in ('fastapi', 'sqlalchemy', 'influxdb_client')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == str(loaded)


@pytest.mark.parametrize(("flags", "chatty"), [([], False), (["-v"], True)])
def test_commands_are_quiet_about_migrations_unless_verbose(
    tmp_path: Path, flags: list[str], chatty: bool
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3"
    out = subprocess.run(
        [sys.executable, "-m", "chargegrid", *flags, "station", "list", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert ("alembic" in out.stderr) is chatty, out.stderr
