"""``chargegrid demo``: the whole system on embedded defaults, with a simulated day.

One process: the central system with SQLite and the embedded telemetry store (or a real
InfluxDB with ``--influx-url``), the planner, the HTTP API and dashboard, two sites with a
mixed OCPP 1.6J / 2.0.1 / 2.1 fleet, PV, and a grid operator's caps; all on one virtual clock.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
from pathlib import Path
from typing import Any

from chargegrid.cli import add_clock_arguments, number_option

__all__ = ["add_commands", "demo_settings"]

logger = logging.getLogger(__name__)


_positive = number_option(
    float, lambda value: value > 0 and math.isfinite(value), "must be a positive number"
)
_port = number_option(int, lambda value: 0 <= value <= 65535, "not a port number (0-65535)")


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole system with simulated sites for a day (start here)",
        description="Start the central system (SQLite, embedded telemetry store), the planner, "
        "the HTTP API and dashboard, and a simulated day at two sites: a bus depot and an "
        "office car park with OCPP 1.6J, 2.0.1 and 2.1 stations, PV, and a grid operator's "
        "caps that appear and lift. Prints the dashboard link with a ready admin token and "
        "the progress; Ctrl-C stops everything.",
    )
    parser.add_argument(
        "--speed",
        type=_positive,
        default=None,
        metavar="X",
        help="shorthand for --clock-speed: simulated seconds per real second "
        "(default 60: a simulated hour per minute)",
    )
    parser.add_argument(
        "--hours",
        type=_positive,
        default=24.0,
        help="simulated hours to run the fleets (default 24); the API stays up afterwards",
    )
    parser.add_argument(
        "--exit-when-done", action="store_true", help="stop when the simulated day is over"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the database and telemetry here (default: a temporary folder removed at exit)",
    )
    parser.add_argument(
        "--port", type=_port, default=9000, help="OCPP WebSocket port (default 9000; 0 = any)"
    )
    parser.add_argument(
        "--api-port", type=_port, default=8000, help="HTTP API port (default 8000; 0 = any)"
    )
    _add_influx_arguments(parser)
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="TOML settings for everything else (e.g. [planning]); the demo sets the database, "
        "the ports and where telemetry goes",
    )
    parser.add_argument(
        "--progress-s",
        type=_positive,
        default=None,
        metavar="S",
        help="real seconds between progress lines (default 1 on a terminal, 5 otherwise)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the system's log, not only warnings"
    )
    add_clock_arguments(
        parser,
        title="clock (the central system and the fleets share it)",
        start_default="06:00 today in the sites' time zone, Europe/Berlin",
        speed_default=60.0,
    )
    parser.set_defaults(func=_run)


def _add_influx_arguments(parser: argparse.ArgumentParser) -> None:
    influx = parser.add_argument_group(
        "InfluxDB (instead of the embedded telemetry store)",
        "1.x: --influx-database with --influx-username/--influx-password; 2.x: --influx-org, "
        "--influx-bucket and --influx-token. The [telemetry] settings (CHARGEGRID_TELEMETRY__*) "
        "supply what is not given here.",
    )
    influx.add_argument("--influx-url", metavar="URL", help="e.g. http://127.0.0.1:8086")
    influx.add_argument("--influx-database", metavar="DB", help="1.x database (default chargegrid)")
    influx.add_argument("--influx-username", metavar="USER", help="1.x user")
    influx.add_argument(
        "--influx-password",
        metavar="PASSWORD",
        help="1.x password (visible to other users; prefer CHARGEGRID_TELEMETRY__PASSWORD)",
    )
    influx.add_argument(
        "--influx-token",
        metavar="TOKEN",
        help="2.x / 3.x token (visible to other users; prefer CHARGEGRID_TELEMETRY__TOKEN)",
    )
    influx.add_argument("--influx-org", metavar="ORG", help="2.x organization")
    influx.add_argument("--influx-bucket", metavar="BUCKET", help="2.x / 3.x bucket")


def demo_settings(args: argparse.Namespace, data_dir: Path) -> Any:
    """The settings the demo runs with: ``--config`` and the environment, with the demo's
    database, ports and telemetry in ``data_dir`` put over them."""
    from csms.config import load_settings
    from csms.telemetry import TelemetrySettings

    base = load_settings(args.config)
    telemetry = base.telemetry.model_dump()
    telemetry.update(
        url=args.influx_url,
        embedded_path=data_dir / "telemetry.sqlite3",
        outbox_path=data_dir / "telemetry-outbox.sqlite3",
    )
    given = {
        "database": args.influx_database,
        "username": args.influx_username,
        "password": args.influx_password,
        "token": args.influx_token,
        "org": args.influx_org,
        "bucket": args.influx_bucket,
    }
    telemetry.update({k: v for k, v in given.items() if v is not None})
    db_url = f"sqlite+aiosqlite:///{data_dir / 'chargegrid.sqlite3'}"
    return base.model_copy(
        update={
            "database": base.database.model_copy(update={"url": db_url}),
            "server": base.server.model_copy(
                update={"host": "127.0.0.1", "port": args.port, "unknown_stations": "reject"}
            ),
            "api": base.api.model_copy(
                update={"enabled": True, "host": "127.0.0.1", "port": args.api_port}
            ),
            "telemetry": TelemetrySettings.model_validate(telemetry),
        }
    )


def _run(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from pydantic import ValidationError

    from csms.demo.runner import check_ports
    from csms.exceptions import CsmsError

    try:
        check_ports(
            "127.0.0.1", [(args.port, "OCPP", "--port"), (args.api_port, "HTTP API", "--api-port")]
        )
    except CsmsError as exc:
        print(f"chargegrid demo: {exc}", file=sys.stderr)
        return 1
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="chargegrid-demo-")) if temporary else args.data_dir
    try:
        try:
            settings = demo_settings(args, data_dir)
        except (CsmsError, ValidationError) as exc:
            print(f"chargegrid demo: {exc}", file=sys.stderr)
            return 2
        if not args.verbose:
            logging.getLogger().setLevel(logging.WARNING)
            # The simulated stations' own complaints repeat what the central system logs.
            logging.getLogger("simulators").setLevel(logging.ERROR)
            logging.getLogger("ocpp").setLevel(logging.ERROR)
        return _serve(args, settings, data_dir, temporary)
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


def _serve(args: argparse.Namespace, settings: Any, data_dir: Path, temporary: bool) -> int:

    from chargegrid.clock import clock_from_settings
    from csms.demo.day import DEFAULT_DAY, day_start
    from csms.demo.terminal import Terminal, run_demo
    from csms.event_loop import choose, run
    from csms.exceptions import CsmsError

    day = dataclasses.replace(DEFAULT_DAY, hours=args.hours)
    speed = args.speed if args.speed is not None else args.clock_speed
    if args.clock_start is not None:
        start = args.clock_start
    else:
        from datetime import datetime

        start = day_start(day, datetime.now(day.zone).date())
    clock = clock_from_settings(start=start, speed=speed, anchor=args.clock_anchor)
    tty = sys.stdout.isatty()
    terminal = Terminal(
        out=sys.stdout,
        tty=tty,
        every_s=args.progress_s or (1.0 if tty else 5.0),
        data_dir=None if temporary else data_dir,
        exit_when_done=args.exit_when_done,
    )
    try:
        return run(
            run_demo(settings, day=day, clock=clock, terminal=terminal),
            loop=choose(settings.server.event_loop, tls=settings.security.tls),
        )
    except CsmsError as exc:
        print(f"chargegrid demo: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"chargegrid demo: cannot listen: {exc}", file=sys.stderr)
        return 1
