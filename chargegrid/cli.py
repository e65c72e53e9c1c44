"""The ``chargegrid`` command line.

Each part contributes its own subcommands through an ``add_commands(subparsers)`` function in
its ``cli`` module; heavy imports happen inside the command functions, so ``--help`` is fast,
and a command line that names a command imports only that command's module (``COMMANDS``).
Logging is configured here and only here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from chargegrid import __version__
from chargegrid.clock import Clock, clock_from_settings, utc

__all__ = [
    "COMMANDS",
    "add_clock_arguments",
    "build_parser",
    "clock_from_args",
    "main",
    "number_option",
]

#: Each command and the module whose ``add_commands(subparsers)`` registers it, in help
#: order. A command line that names a command imports that module only: ``chargegrid sim``
#: does not load the central system's web and database stack.
COMMANDS = {
    "demo": "csms.cli.demo",
    "serve": "csms.cli.serve",
    "station": "csms.cli.stations",
    "token": "csms.cli.tokens",
    "db": "csms.cli.db",
    "site": "csms.cli.sites",
    "api-token": "csms.cli.api_tokens",
    "telemetry": "csms.cli.telemetry",
    "ca": "csms.cli.security",
    "cert": "csms.cli.security",
    "credentials": "csms.cli.security",
    "firmware": "csms.cli.security",
    "sim": "simulators.cli",
    "optimize": "optimizer.cli",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))

Command = Callable[[argparse.Namespace], int]


def _iso_datetime(text: str) -> datetime:
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date and time: {text!r}") from exc


N = TypeVar("N", int, float)


def number_option(
    kind: type[N], accepts: Callable[[N], bool], refusal: str, *, unparsable: str | None = None
) -> Callable[[str], N]:
    """An argparse type: ``kind(text)`` when ``accepts`` it, else an error ``refusal: 'text'``
    (argparse exits 2 naming the option); text that is no ``kind`` at all is refused the
    same way, or as ``unparsable: 'text'`` when that is given."""

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{unparsable or refusal}: {text!r}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"{refusal}: {text!r}")
        return value

    return parse


_positive_float = number_option(
    float,
    lambda value: math.isfinite(value) and value > 0,
    "must be a positive finite number",
    unparsable="not a number",
)


def add_clock_arguments(
    parser: argparse.ArgumentParser,
    *,
    title: str = "clock (give serve and sim the same values to agree)",
    start_default: str = "the wall clock",
    speed_default: float = 1.0,
) -> None:
    """The clock options that ``serve``, ``sim`` and ``demo`` share (``demo`` names its own
    defaults in the help)."""
    group = parser.add_argument_group(title)
    group.add_argument(
        "--clock-start",
        type=_iso_datetime,
        default=None,
        metavar="ISO",
        help=f"virtual time at the anchor instant (default: {start_default})",
    )
    group.add_argument(
        "--clock-speed",
        type=_positive_float,
        default=speed_default,
        metavar="X",
        help="virtual seconds per real second, e.g. 60 = a simulated hour per minute "
        f"(default {speed_default:g})",
    )
    group.add_argument(
        "--clock-anchor",
        type=_iso_datetime,
        default=None,
        metavar="ISO",
        help="wall-clock instant at which virtual time equals --clock-start "
        "(default: when the process starts)",
    )


def clock_from_args(args: argparse.Namespace) -> Clock:
    return clock_from_settings(
        start=args.clock_start, speed=args.clock_speed, anchor=args.clock_anchor
    )


def _command_in(argv: Sequence[str]) -> str | None:
    """The command an argument list names (the first word that is not a top-level option)."""
    args = iter(argv)
    for arg in args:
        if arg == "--log-level":
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or, when ``argv`` names a known command, with the
    commands of its module only."""
    parser = argparse.ArgumentParser(
        prog="chargegrid",
        description="Run EV charging networks: OCPP central system with its HTTP API, "
        "charging planner, simulators and telemetry.",
    )
    parser.add_argument("--version", action="version", version=f"chargegrid {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging threshold (default INFO)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show the libraries' progress lines (database migrations, ...), "
        "which are quiet by default",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    command = _command_in(sys.argv[1:] if argv is None else argv)
    modules = (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES
    for module_name in modules:
        module = importlib.import_module(module_name)
        module.add_commands(subparsers)
    return parser


#: Libraries whose INFO lines are progress chatter (alembic announces its plugins and every
#: migration step on each command); shown with ``--verbose`` or ``--log-level DEBUG``.
CHATTY_LIBRARIES = ("alembic",)


def configure_logging(level: str, *, verbose: bool = False) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    quiet = not verbose and logging.getLevelName(level) != logging.DEBUG
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    configure_logging(args.log_level, verbose=args.verbose)
    func: Command = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
