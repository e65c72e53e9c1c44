"""``chargegrid serve``, the admin commands, and commands to live stations.

Admin commands (``station``, ``token``, ``db``) work on the database named by the settings;
commands to a live station (``station reset`` and friends) go through the running server's
admin channel, which needs ``server.admin_token`` set on both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from chargegrid.cli import add_clock_arguments, clock_from_args
from csms.ids import STATION_ID_MAX_LENGTH, id_option

__all__ = ["add_commands"]

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="TOML settings file (CHARGEGRID_* environment variables override it)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        default=None,
        help="override database.url (sqlite+aiosqlite:///FILE, postgresql+asyncpg://..., "
        "memory://)",
    )


def _settings(args: argparse.Namespace, **server: Any) -> Any:
    from csms.config import load_settings

    overrides: dict[str, Any] = {}
    base = load_settings(args.config)
    if args.database_url:
        overrides["database"] = base.database.model_copy(update={"url": args.database_url})
    server = {k: v for k, v in server.items() if v is not None}
    if server:
        overrides["server"] = base.server.model_copy(update=server)
    return base.model_copy(update=overrides) if overrides else base


def _run(args: argparse.Namespace, body: Callable[[Any], Awaitable[int]]) -> int:
    """Open the store from the settings, run ``body(store)``, report errors cleanly."""
    from csms.exceptions import CsmsError
    from csms.store import open_store

    async def main() -> int:
        settings = _settings(args)
        store = open_store(settings.database.url)
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except CsmsError as exc:
        print(f"chargegrid: {exc}", file=sys.stderr)
        return 1


# -- serve ------------------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    from csms.app import serving
    from csms.exceptions import CsmsError

    try:
        settings = _settings(
            args, host=args.host, port=args.port, unknown_stations=args.unknown_stations
        )
    except CsmsError as exc:
        print(f"chargegrid: {exc}", file=sys.stderr)
        return 2
    clock = clock_from_args(args)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        served = settings
        if getattr(args, "api_port", None) is not None:
            served = settings.model_copy(
                update={"api": settings.api.model_copy(update={"port": args.api_port})}
            )
        async with serving(served, clock=clock, api=not getattr(args, "no_api", False)):
            await stop.wait()
            logger.info("shutting down")
        return 0

    try:
        return asyncio.run(main())
    except CsmsError as exc:
        print(f"chargegrid: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"chargegrid: cannot listen: {exc}", file=sys.stderr)
        return 1


# -- stations ---------------------------------------------------------------------------
def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if args.password is not None:
        return str(args.password)
    if args.ask_password:
        return getpass.getpass(f"password for {args.station_id}: ")
    return None


def _station_add(args: argparse.Namespace) -> int:
    from csms.core.passwords import hash_password
    from csms.domain import RegistrationStatus
    from csms.store.base import StationRecord

    password = _read_password(args)
    hashed = hash_password(password) if password else None

    async def body(store: Any) -> int:
        from chargegrid.clock import WallClock
        from csms.events import EventBus
        from csms.sites import SiteService, repository_for

        sites = SiteService(repository_for(store), bus=EventBus(), clock=WallClock())
        # A station a site file names belongs to that site (docs/sites.md).
        naming = await sites.site_naming(args.station_id)
        if naming is not None and args.site is not None and args.site != naming:
            print(
                f"chargegrid: station {args.station_id!r} is named by site {naming!r}; leave "
                f"out --site, or take it out of that site before registering it to {args.site!r}",
                file=sys.stderr,
            )
            return 2
        site_id = args.site if args.site is not None else naming
        await store.put_station(
            StationRecord(
                station_id=args.station_id,
                password_hash=hashed,
                site_id=site_id,
                registration=RegistrationStatus.PENDING
                if args.pending
                else RegistrationStatus.ACCEPTED,
                security_profile=args.security_profile,
            )
        )
        auth = "password set" if hashed else "NO password (security profile 0)"
        if args.security_profile is not None:
            auth += f", must connect with security profile {args.security_profile}"
        placed = f", site {site_id}" if site_id is not None else ""
        print(f"station {args.station_id} registered ({auth}{placed})")
        return 0

    return _run(args, body)


def _station_registration(status: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        import dataclasses

        from csms.domain import RegistrationStatus

        async def body(store: Any) -> int:
            record = await store.get_station(args.station_id)
            if record is None:
                print(f"chargegrid: no station {args.station_id!r}", file=sys.stderr)
                return 1
            await store.put_station(
                dataclasses.replace(record, registration=RegistrationStatus(status))
            )
            print(f"station {args.station_id} {status.lower()}")
            return 0

        return _run(args, body)

    return handler


def _station_remove(args: argparse.Namespace) -> int:
    async def body(store: Any) -> int:
        await store.delete_station(args.station_id)
        print(f"station {args.station_id} removed")
        return 0

    return _run(args, body)


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _station_list(args: argparse.Namespace) -> int:
    async def body(store: Any) -> int:
        rows = []
        for rec in await store.list_stations():
            statuses = await store.connector_statuses(rec.station_id)
            rows.append((rec, statuses))
        if args.json:
            from csms.ocpp.admin import to_json

            print(
                json.dumps(
                    [
                        {
                            **to_json(rec),
                            "password_hash": bool(rec.password_hash),
                            "connectors": to_json(st),
                        }
                        for rec, st in rows
                    ],
                    indent=2,
                )
            )
            return 0
        print(
            f"{'STATION':<20} {'REG':<9} {'ONLINE':<7} {'OCPP':<6} {'SITE':<10} "
            f"{'LAST SEEN':<20} CONNECTORS"
        )
        for rec, st in rows:
            conns = " ".join(
                f"{s.evse_id}/{s.connector_id}={s.status.value}"
                + (f"({s.error_code})" if s.error_code not in (None, "NoError") else "")
                for s in st
            )
            print(
                f"{rec.station_id:<20} {rec.registration.value:<9} "
                f"{'yes' if rec.connected else 'no':<7} {rec.ocpp_version or '-':<6} "
                f"{rec.site_id or '-':<10} {_fmt_time(rec.last_seen_at):<20} {conns or '-'}"
            )
        return 0

    return _run(args, body)


# -- tokens -----------------------------------------------------------------------------
def _token_add(args: argparse.Namespace) -> int:
    from chargegrid.clock import utc
    from csms.domain import AuthorizationStatus, IdToken

    token = IdToken(
        token=args.token,
        kind=args.kind,
        status=AuthorizationStatus(args.status),
        expires_at=utc(datetime.fromisoformat(args.expires)) if args.expires else None,
        group_id=args.group,
    )

    async def body(store: Any) -> int:
        await store.put_id_token(token)
        print(f"id token {args.token} saved ({token.status.value})")
        return 0

    return _run(args, body)


def _token_list(args: argparse.Namespace) -> int:
    async def body(store: Any) -> int:
        print(f"{'TOKEN':<24} {'KIND':<12} {'STATUS':<10} {'EXPIRES':<20} GROUP")
        for t in await store.list_id_tokens():
            print(
                f"{t.token:<24} {t.kind:<12} {t.status.value:<10} "
                f"{_fmt_time(t.expires_at):<20} {t.group_id or '-'}"
            )
        return 0

    return _run(args, body)


def _token_remove(args: argparse.Namespace) -> int:
    async def body(store: Any) -> int:
        await store.delete_id_token(args.token)
        print(f"id token {args.token} removed")
        return 0

    return _run(args, body)


# -- database ---------------------------------------------------------------------------
def _db_upgrade(args: argparse.Namespace) -> int:
    import importlib

    from csms.exceptions import CsmsError

    try:
        settings = _settings(args)
        migrate = importlib.import_module("csms.store.migrate")
        migrate.upgrade(settings.database.url)
    except ModuleNotFoundError:
        print("chargegrid: this build has no SQL migrations", file=sys.stderr)
        return 1
    except CsmsError as exc:
        print(f"chargegrid: {exc}", file=sys.stderr)
        return 1
    print("database at the latest schema")
    return 0


# -- parser -----------------------------------------------------------------------------
def add_commands(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the OCPP central system and the HTTP API",
        description="Run the OCPP 1.6J / 2.0.1 / 2.1 central system at "
        "ws://HOST:PORT/ocpp/{id} and the HTTP API (default http://127.0.0.1:8000, see [api]).",
    )
    _config_args(serve)
    serve.add_argument("--host", default=None, help="override server.host")
    serve.add_argument("--port", type=int, default=None, help="override server.port")
    serve.add_argument(
        "--unknown-stations",
        choices=["reject", "pending", "accept"],
        default=None,
        help="override server.unknown_stations",
    )
    serve.add_argument(
        "--api-port", type=int, default=None, help="override api.port (the HTTP API)"
    )
    serve.add_argument("--no-api", action="store_true", help="do not serve the HTTP API")
    add_clock_arguments(serve)
    serve.set_defaults(func=_serve)

    station = subparsers.add_parser(
        "station",
        help="register stations, list them, send them commands",
        description="Manage stations in the database; send commands to live stations "
        "through a running server.",
    )
    station_sub = station.add_subparsers(dest="station_command", metavar="ACTION", required=True)
    p = station_sub.add_parser(
        "add", help="register (or update) a station", description="Register or update a station."
    )
    _config_args(p)
    p.add_argument(
        "station_id",
        metavar="STATION",
        type=id_option("station id", max_length=STATION_ID_MAX_LENGTH),
        help="1 to 48 of a-z A-Z 0-9 * - _ = : + | @ . (what stations connect as)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--password",
        default=None,
        help="Basic-auth password (visible to other users; prefer the others)",
    )
    group.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    group.add_argument("--ask-password", action="store_true", help="prompt for the password")
    p.add_argument(
        "--site",
        default=None,
        type=id_option("site id"),
        help="site id (default: the site whose site file names the station, if any)",
    )
    p.add_argument(
        "--pending",
        action="store_true",
        help="register as Pending (BootNotification answered Pending until 'station accept')",
    )
    p.add_argument(
        "--security-profile",
        type=int,
        choices=(1, 2, 3),
        default=None,
        help="the OCPP security profile the station must connect with (1: ws + password, "
        "2: TLS + password, 3: TLS + station certificate); default: security.minimum_profile",
    )
    p.set_defaults(func=_station_add)
    for name, status in (("accept", "Accepted"), ("reject", "Rejected")):
        p = station_sub.add_parser(
            name,
            help=f"set the registration to {status}",
            description=f"Set the station's registration to {status}.",
        )
        _config_args(p)
        p.add_argument("station_id", metavar="STATION")
        p.set_defaults(func=_station_registration(status))
    p = station_sub.add_parser("remove", help="delete a station", description="Delete a station.")
    _config_args(p)
    p.add_argument("station_id", metavar="STATION")
    p.set_defaults(func=_station_remove)
    p = station_sub.add_parser(
        "list",
        help="list stations with their live status",
        description="List stations, connection and connector status.",
    )
    _config_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_station_list)
    from csms.remote import add_live_commands

    add_live_commands(station_sub, _config_args, _settings)

    token = subparsers.add_parser(
        "token", help="manage id tokens (RFID cards, app tokens)", description="Manage id tokens."
    )
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    p = token_sub.add_parser(
        "add", help="add or update an id token", description="Add or update an id token."
    )
    _config_args(p)
    p.add_argument("token")
    p.add_argument(
        "--kind",
        default="ISO14443",
        help="ISO14443 (RFID), ISO15693, eMAID, Central, KeyCode, ... (default ISO14443)",
    )
    p.add_argument(
        "--status",
        default="Accepted",
        choices=["Accepted", "Blocked", "Expired", "Invalid", "NoCredit"],
    )
    p.add_argument("--expires", default=None, metavar="ISO", help="expiry (UTC if naive)")
    p.add_argument("--group", default=None, help="group / parent id tag")
    p.set_defaults(func=_token_add)
    p = token_sub.add_parser("list", help="list id tokens", description="List id tokens.")
    _config_args(p)
    p.set_defaults(func=_token_list)
    p = token_sub.add_parser("remove", help="delete an id token", description="Delete an id token.")
    _config_args(p)
    p.add_argument("token")
    p.set_defaults(func=_token_remove)

    db = subparsers.add_parser("db", help="database schema", description="Database schema.")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    p = db_sub.add_parser(
        "upgrade",
        help="migrate the database to the latest schema",
        description="Run the Alembic migrations up to the latest revision.",
    )
    _config_args(p)
    p.set_defaults(func=_db_upgrade)
