"""``chargegrid telemetry``: look at the telemetry store and the outbox from the shell.

::

    chargegrid telemetry ping http://127.0.0.1:8086
    chargegrid telemetry outbox data/telemetry-outbox.sqlite3 [--rejected]
    chargegrid telemetry query [--config chargegrid.toml | --url URL --database DB |
                                --embedded PATH] --measurement meter --field value
                               [--since 1h | --start ISO] [--stop ISO]
                               --aggregation mean --window-s 60 --group-by station
                               --where measurand=Power.Active.Import
    chargegrid telemetry series --stations 10000
    chargegrid telemetry grafana [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chargegrid.clock import utc

__all__ = ["add_commands"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration like 90s, 15m, 1h, 7d: {text!r}")
    return timedelta(seconds=float(match.group(1)) * _SECONDS[match.group(2)])


def _instant(text: str) -> datetime:
    """An ISO-8601 instant (UTC when it names no offset), e.g. 2026-03-05T18:00:00+01:00."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 time like 2026-03-05T18:00:00Z: {text!r}"
        ) from None
    return utc(value)


def _pair(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected TAG=VALUE: {text!r}")
    return key, value


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "telemetry", help="inspect telemetry: server version, outbox, queries, series count"
    )
    sub = parser.add_subparsers(dest="telemetry_command", metavar="SUBCOMMAND", required=True)

    ping = sub.add_parser("ping", help="show an InfluxDB's version and the write API to use")
    ping.add_argument("url", help="base URL, e.g. http://127.0.0.1:8086")
    ping.add_argument("--bucket", action="store_true", help="a bucket is configured")
    ping.set_defaults(func=_cmd_ping)

    outbox = sub.add_parser("outbox", help="show what waits in a telemetry outbox file")
    outbox.add_argument("path", type=Path, help="the outbox file (outbox_path)")
    outbox.add_argument("--rejected", action="store_true", help="list points the server refused")
    outbox.set_defaults(func=_cmd_outbox)

    query = sub.add_parser("query", help="run a dashboard query and print JSON")
    source = query.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="a TOML file with a [telemetry] table")
    source.add_argument("--url", help="InfluxDB base URL (InfluxQL over /query)")
    source.add_argument("--embedded", type=Path, help="an embedded store file")
    query.add_argument("--database", default="chargegrid", help="InfluxQL database or bucket")
    query.add_argument("--measurement", required=True)
    query.add_argument("--field", default="value")
    query.add_argument(
        "--since",
        type=_duration,
        default=None,
        help="how far back from --stop (default 1h), e.g. 15m; not with --start",
    )
    query.add_argument(
        "--start", type=_instant, default=None, metavar="ISO", help="from (UTC if naive)"
    )
    query.add_argument(
        "--stop", type=_instant, default=None, metavar="ISO", help="until (default: now)"
    )
    query.add_argument(
        "--aggregation", default="mean", choices=["mean", "max", "min", "sum", "last", "count"]
    )
    query.add_argument("--window-s", type=int, default=None)
    query.add_argument("--group-by", action="append", default=[], metavar="TAG")
    query.add_argument("--where", action="append", type=_pair, default=[], metavar="TAG=VALUE")
    query.set_defaults(func=_cmd_query)

    series = sub.add_parser("series", help="expected InfluxDB series count for a fleet")
    series.add_argument("--stations", type=int, default=10_000)
    series.add_argument("--evses-per-station", type=int, default=2)
    series.add_argument("--sites", type=int, default=100)
    series.set_defaults(func=_cmd_series)

    grafana = sub.add_parser(
        "grafana",
        help="write the Grafana dashboard and provisioning files",
        description="Write the Grafana fleet dashboard (JSON) and its provisioning files "
        "(InfluxDB 1.x and 2.x datasources, dashboard provider), generated from the telemetry "
        "schema, into DIR. With --check, write nothing and exit 1 if DIR differs.",
    )
    grafana.add_argument(
        "--out",
        type=Path,
        default=Path("dashboards/grafana"),
        metavar="DIR",
        help="where to write them (default dashboards/grafana)",
    )
    grafana.add_argument("--check", action="store_true", help="compare with DIR instead of writing")
    grafana.set_defaults(func=_cmd_grafana)


def _cmd_grafana(args: argparse.Namespace) -> int:
    from csms.telemetry.grafana import render_files

    files = render_files()
    if args.check:
        stale = []
        for name, text in files.items():
            path = args.out / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        if stale:
            print("run: chargegrid telemetry grafana --out " + str(args.out), file=sys.stderr)
        return 1 if stale else 0
    for name, text in files.items():
        path = args.out / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(path)
    return 0


def _cmd_ping(args: argparse.Namespace) -> int:
    from csms.telemetry.exceptions import ServerUnavailable
    from csms.telemetry.writers import choose_api, ping

    try:
        version = ping(args.url)
    except ServerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    api = choose_api(version, has_bucket=args.bucket)
    print(f"version {version or 'unknown (no X-Influxdb-Version header)'}; write API {api}")
    return 0


def _cmd_outbox(args: argparse.Namespace) -> int:
    from csms.telemetry.outbox import Outbox

    if not args.path.exists():
        print(f"error: no outbox file at {args.path}", file=sys.stderr)
        return 1
    box = Outbox(args.path)
    try:
        oldest = box.peek(1)
        print(f"points waiting: {box.depth}")
        print(f"bytes waiting:  {box.size_bytes}")
        if oldest:
            print(f"oldest:         {oldest[0][1][:200]}")
        rejected = box.rejected()
        print(f"refused by the server (kept): {len(rejected)}")
        if args.rejected:
            for line, reason in rejected:
                print(f"  {reason}: {line}")
    finally:
        box.close()
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from csms.telemetry.embedded import EmbeddedStore
    from csms.telemetry.exceptions import QueryError
    from csms.telemetry.query import InfluxQLBackend, QueryBackend, TelemetryQuery

    if args.start is not None and args.since is not None:
        print("error: give --start or --since, not both", file=sys.stderr)
        return 2
    stop = args.stop if args.stop is not None else datetime.now(UTC)
    start = args.start if args.start is not None else stop - (args.since or timedelta(hours=1))
    if not start < stop:
        print(
            f"error: --start {start.isoformat()} is not before --stop {stop.isoformat()}",
            file=sys.stderr,
        )
        return 2

    backend: QueryBackend
    if args.config is not None:
        from csms.config import load_settings, telemetry_settings
        from csms.exceptions import ConfigError

        try:
            # The CSMS's own reading of the file, so default paths resolve as `serve` does.
            settings = telemetry_settings(load_settings(args.config))
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if settings.url:
            token = settings.token.get_secret_value() if settings.token else None
            password = settings.password.get_secret_value() if settings.password else None
            backend = InfluxQLBackend(
                settings.url,
                database=settings.bucket
                if settings.api == "v2" and settings.bucket
                else settings.database,
                retention_policy=settings.retention_policy,
                username=settings.username,
                password=password,
                token=token,
            )
        else:
            backend = EmbeddedStore(settings.embedded_path, precision=settings.precision)
    elif args.url:
        backend = InfluxQLBackend(args.url, database=args.database)
    else:
        if not args.embedded.exists():
            print(f"error: no embedded store at {args.embedded}", file=sys.stderr)
            return 1
        backend = EmbeddedStore(args.embedded)
    try:
        q = TelemetryQuery(
            measurement=args.measurement,
            field=args.field,
            start=start,
            stop=stop,
            aggregation=args.aggregation,
            window_s=args.window_s,
            group_by=tuple(args.group_by),
            where=dict(args.where),
        )
        result = backend.query(q)
    except QueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        closer = getattr(backend, "close", None)
        if closer is not None:
            closer()
    print(json.dumps([s.as_json() for s in result], indent=2))
    return 0


def _cmd_series(args: argparse.Namespace) -> int:
    from csms.telemetry.schema import SCHEMA_VERSION, expected_series

    estimate = expected_series(
        stations=args.stations, evses_per_station=args.evses_per_station, sites=args.sites
    )
    print(f"schema version {SCHEMA_VERSION}")
    for measurement, count in estimate.per_measurement.items():
        print(f"{measurement:<16} {count:>10,}")
    print(f"{'total':<16} {estimate.total:>10,}")
    return 0
