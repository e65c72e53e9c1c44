"""``chargegrid api-token create|list|revoke``: API tokens in the database of the settings.

The token string is printed once at creation; only its hash is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from chargegrid.clock import utc
from csms.cli.common import add_config_arguments, settings_from_args

__all__ = ["add_commands", "parse_expiry"]

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_expiry(text: str, now: datetime) -> datetime | None:
    """``never``, a duration (``90d``, ``12h``, ``30m``) or an ISO 8601 time with offset."""
    if text == "never":
        return None
    match = _DURATION.match(text)
    if match:
        return now + timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--expires: not 'never', a duration like 90d, or an ISO time: {text!r}"
        ) from None
    return utc(value)


async def _unknown_sites(store: Any, site_ids: list[str]) -> list[str]:
    """The granted sites (but ``*``) that no site document defines."""
    from chargegrid.clock import WallClock
    from csms.events import EventBus
    from csms.sites import SiteService, repository_for

    sites = SiteService(repository_for(store), bus=EventBus(), clock=WallClock())
    return [s for s in site_ids if s != "*" and await sites.revision(s) == 0]


def _run_with_tokens(args: argparse.Namespace, body: Any, *, check_sites: bool = False) -> int:
    from csms.api.exceptions import ApiError
    from csms.api.repository import open_repository
    from csms.api.tokens import TokenService
    from csms.exceptions import CsmsError
    from csms.store import open_store

    async def main() -> int:
        settings = settings_from_args(args)
        if settings.database.url.startswith("memory://"):
            print(
                "chargegrid: API tokens need a database (memory:// keeps nothing)", file=sys.stderr
            )
            return 2
        store = open_store(settings.database.url)
        await store.open()
        try:
            unknown = await _unknown_sites(store, args.site or []) if check_sites else []
            if unknown:
                print(
                    f"chargegrid: no site {', '.join(map(repr, unknown))} (apply its site file "
                    "first: chargegrid site apply)",
                    file=sys.stderr,
                )
                return 2
            tokens = TokenService(open_repository(store), now=lambda: datetime.now(UTC))
            result: int = await body(tokens)
            return result
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (CsmsError, ApiError) as exc:
        print(f"chargegrid: {exc}", file=sys.stderr)
        return 1


def _create(args: argparse.Namespace) -> int:
    try:
        expires_at = parse_expiry(args.expires, datetime.now(UTC))
    except argparse.ArgumentTypeError as exc:
        print(f"chargegrid: {exc}", file=sys.stderr)
        return 2

    async def body(tokens: Any) -> int:
        token, text = await tokens.create(
            role=args.role, name=args.name or args.role, sites=args.site, expires_at=expires_at
        )
        if args.json:
            print(json.dumps({"token_id": token.token_id, "token": text}))
        else:
            print(text)
            print(
                f"token {token.token_id} ({token.role.value}) created; it is shown only once",
                file=sys.stderr,
            )
        return 0

    return _run_with_tokens(args, body, check_sites=True)


def _list(args: argparse.Namespace) -> int:
    async def body(tokens: Any) -> int:
        rows = await tokens.list()
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "token_id": t.token_id,
                            "name": t.name,
                            "role": t.role.value,
                            "sites": None if t.sites is None else sorted(t.sites),
                            "created_at": t.created_at.isoformat(),
                            "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
                        }
                        for t in rows
                    ],
                    indent=2,
                )
            )
            return 0
        print(f"{'TOKEN ID':<14} {'ROLE':<14} {'NAME':<20} {'EXPIRES':<20} {'STATE':<8} SITES")
        now = datetime.now(UTC)
        for t in rows:
            state = (
                "revoked"
                if t.revoked_at
                else "expired"
                if t.expires_at and t.expires_at <= now
                else "active"
            )
            expires = t.expires_at.strftime("%Y-%m-%d %H:%M:%S") if t.expires_at else "never"
            sites = "*" if t.sites is None else ",".join(sorted(t.sites))
            print(
                f"{t.token_id:<14} {t.role.value:<14} {t.name:<20} {expires:<20} {state:<8} {sites}"
            )
        return 0

    return _run_with_tokens(args, body)


def _revoke(args: argparse.Namespace) -> int:
    async def body(tokens: Any) -> int:
        if not await tokens.revoke(args.token_id):
            print(f"chargegrid: no API token {args.token_id!r}", file=sys.stderr)
            return 1
        print(f"API token {args.token_id} revoked")
        return 0

    return _run_with_tokens(args, body)


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "api-token", help="create, list and revoke HTTP API tokens", description=__doc__
    )
    sub = parser.add_subparsers(dest="api_token_command", metavar="ACTION", required=True)

    create = sub.add_parser("create", help="create a token and print it (once)")
    add_config_arguments(create)
    create.add_argument(
        "--role",
        required=True,
        choices=["admin", "grid_operator", "fleet_manager", "viewer"],
        help="what the token may do",
    )
    create.add_argument(
        "--site",
        action="append",
        default=[],
        metavar="SITE",
        help="grant a site (repeat for several; '*' = every site); needed except for admin",
    )
    create.add_argument(
        "--expires",
        default="90d",
        metavar="WHEN",
        help="'never', a duration (90d, 12h, 30m) or an ISO 8601 time (default 90d)",
    )
    create.add_argument("--name", default=None, help="a label for listings and the audit log")
    create.add_argument("--json", action="store_true", help="print {token_id, token} as JSON")
    create.set_defaults(func=_create)

    listing = sub.add_parser("list", help="list tokens (never their secrets)")
    add_config_arguments(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_list)

    revoke = sub.add_parser("revoke", help="revoke a token at once")
    add_config_arguments(revoke)
    revoke.add_argument("token_id", help="the id shown by create/list")
    revoke.set_defaults(func=_revoke)
