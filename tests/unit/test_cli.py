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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sim", "--v2g-share", "1.5"], "argument --v2g-share: must be a fraction between 0 and 1"),
        (["sim", "--v2g-share", "x"], "argument --v2g-share: must be a fraction between 0 and 1"),
        (
            ["sim", "--swap-time-s", "-1"],
            "argument --swap-time-s: must be a finite number of at least 0",
        ),
        (
            ["sim", "--swap-time-s", "inf"],
            "argument --swap-time-s: must be a finite number of at least 0",
        ),
        (
            ["sim", "--storage-capacity-wh", "nan"],
            "argument --storage-capacity-wh: must be a positive number",
        ),
        (["demo", "--port", "70000"], "argument --port: not a port number (0-65535)"),
        (["demo", "--port", "80.5"], "argument --port: not a port number (0-65535)"),
        (["sim", "--clock-speed", "0"], "argument --clock-speed: must be a positive finite number"),
        (["sim", "--clock-speed", "fast"], "argument --clock-speed: not a number"),
    ],
)
def test_number_options_refuse_naming_the_option(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser(argv).parse_args(argv)
    assert done.value.code == 2
    assert message in capsys.readouterr().err


def test_number_options_take_what_they_accept() -> None:
    args = build_parser(["demo"]).parse_args(["demo", "--port", "0"])
    assert args.port == 0
    args = build_parser(["sim"]).parse_args(["sim", "--v2g-share", "0.25", "--swap-time-s", "0"])
    assert (args.v2g_share, args.swap_time_s) == (0.25, 0.0)
