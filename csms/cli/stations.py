"""``chargegrid station``: register stations in the database, list them; with
:mod:`csms.cli.live`, send commands to live stations through the running server."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from csms.cli.common import Handler, add_config_arguments, fail, format_time, run_with_store
from csms.cli.live import add_live_commands
from csms.ids import STATION_ID_MAX_LENGTH, id_option

__all__ = ["add_commands"]


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
            return fail(
                f"station {args.station_id!r} is named by site {naming!r}; leave out --site, "
                f"or take it out of that site before registering it to {args.site!r}",
                2,
            )
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

    return run_with_store(args, body)


def _station_registration(status: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        import dataclasses

        from csms.domain import RegistrationStatus

        async def body(store: Any) -> int:
            record = await store.get_station(args.station_id)
            if record is None:
                return fail(f"no station {args.station_id!r}")
            await store.put_station(
                dataclasses.replace(record, registration=RegistrationStatus(status))
            )
            print(f"station {args.station_id} {status.lower()}")
            return 0

        return run_with_store(args, body)

    return handler


def _station_remove(args: argparse.Namespace) -> int:
    async def body(store: Any) -> int:
        await store.delete_station(args.station_id)
        print(f"station {args.station_id} removed")
        return 0

    return run_with_store(args, body)


def _station_list(args: argparse.Namespace) -> int:
    async def body(store: Any) -> int:
        rows = []
        for rec in await store.list_stations():
            statuses = await store.connector_statuses(rec.station_id)
            rows.append((rec, statuses))
        if args.json:
            from csms.jsonable import to_json

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
                f"{rec.site_id or '-':<10} {format_time(rec.last_seen_at):<20} {conns or '-'}"
            )
        return 0

    return run_with_store(args, body)


def _add_station_add(station_sub: Any) -> None:
    p = station_sub.add_parser(
        "add", help="register (or update) a station", description="Register or update a station."
    )
    add_config_arguments(p)
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


def add_commands(subparsers: Any) -> None:
    station = subparsers.add_parser(
        "station",
        help="register stations, list them, send them commands",
        description="Manage stations in the database; send commands to live stations "
        "through a running server.",
    )
    station_sub = station.add_subparsers(dest="station_command", metavar="ACTION", required=True)
    _add_station_add(station_sub)
    for name, status in (("accept", "Accepted"), ("reject", "Rejected")):
        p = station_sub.add_parser(
            name,
            help=f"set the registration to {status}",
            description=f"Set the station's registration to {status}.",
        )
        add_config_arguments(p)
        p.add_argument("station_id", metavar="STATION")
        p.set_defaults(func=_station_registration(status))
    p = station_sub.add_parser("remove", help="delete a station", description="Delete a station.")
    add_config_arguments(p)
    p.add_argument("station_id", metavar="STATION")
    p.set_defaults(func=_station_remove)
    p = station_sub.add_parser(
        "list",
        help="list stations with their live status",
        description="List stations, connection and connector status.",
    )
    add_config_arguments(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_station_list)
    add_live_commands(station_sub)
