"""``chargegrid token``: id tokens (RFID cards, app tokens) in the database."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from csms.cli.common import add_config_arguments, format_time, run_with_store

__all__ = ["add_commands"]


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

    return run_with_store(args, body)


def _token_list(args: argparse.Namespace) -> int:
    async def body(store: Any) -> int:
        print(f"{'TOKEN':<24} {'KIND':<12} {'STATUS':<10} {'EXPIRES':<20} GROUP")
        for t in await store.list_id_tokens():
            print(
                f"{t.token:<24} {t.kind:<12} {t.status.value:<10} "
                f"{format_time(t.expires_at):<20} {t.group_id or '-'}"
            )
        return 0

    return run_with_store(args, body)


def _token_remove(args: argparse.Namespace) -> int:
    async def body(store: Any) -> int:
        await store.delete_id_token(args.token)
        print(f"id token {args.token} removed")
        return 0

    return run_with_store(args, body)


def add_commands(subparsers: Any) -> None:
    token = subparsers.add_parser(
        "token", help="manage id tokens (RFID cards, app tokens)", description="Manage id tokens."
    )
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    p = token_sub.add_parser(
        "add", help="add or update an id token", description="Add or update an id token."
    )
    add_config_arguments(p)
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
    add_config_arguments(p)
    p.set_defaults(func=_token_list)
    p = token_sub.add_parser("remove", help="delete an id token", description="Delete an id token.")
    add_config_arguments(p)
    p.add_argument("token")
    p.set_defaults(func=_token_remove)
