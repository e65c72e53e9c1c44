"""What the central system's commands share: the settings options, opening the store, error
lines, and the running server's admin channel.

Commands to a live station go through ``ws://HOST:PORT/admin`` (see :mod:`csms.ocpp.admin`)
and need ``server.admin_token`` (or ``--admin-token``) on both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

__all__ = [
    "Handler",
    "add_config_arguments",
    "admin_request",
    "fail",
    "format_time",
    "run_with_store",
    "send_to_station",
    "settings_from_args",
]

Handler = Callable[[argparse.Namespace], int]


def fail(message: object, code: int = 1) -> int:
    """Print ``chargegrid: message`` on standard error; return the exit code."""
    print(f"chargegrid: {message}", file=sys.stderr)
    return code


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` and ``--database-url URL``, read by :func:`settings_from_args`."""
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


def settings_from_args(args: argparse.Namespace, **server: Any) -> Any:
    """The settings of ``--config`` and the environment, with ``--database-url`` and the
    given ``server`` options (those not None) put over them."""
    from csms.config import load_settings

    overrides: dict[str, Any] = {}
    base = load_settings(args.config)
    if args.database_url:
        overrides["database"] = base.database.model_copy(update={"url": args.database_url})
    server = {k: v for k, v in server.items() if v is not None}
    if server:
        overrides["server"] = base.server.model_copy(update=server)
    return base.model_copy(update=overrides) if overrides else base


def run_with_store(args: argparse.Namespace, body: Callable[[Any], Awaitable[int]]) -> int:
    """Open the store from the settings, run ``body(store)``, report errors cleanly."""
    from csms.exceptions import CsmsError
    from csms.store import open_store

    async def main() -> int:
        settings = settings_from_args(args)
        store = open_store(settings.database.url)
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except CsmsError as exc:
        return fail(exc)


def format_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def send_to_station(
    args: argparse.Namespace,
    settings: Any,
    command: str,
    payload: dict[str, Any],
    *,
    cafile: str | None = None,
) -> int:
    """Send one admin command for ``args.station_id`` to the running server (``--server``,
    or the settings' host and port) and print its answer; ``cafile``: the CA that signed the
    server's TLS certificate (default: the system's CAs)."""
    token = args.admin_token or settings.server.admin_token
    if not token:
        return fail("set server.admin_token (or --admin-token) to reach a running server", 2)
    scheme = "wss" if settings.security.tls else "ws"
    url = args.server or f"{scheme}://{settings.server.host}:{settings.server.port}/admin"
    context = None
    if url.startswith("wss://"):
        import ssl

        context = ssl.create_default_context(cafile=cafile)
    answer = asyncio.run(admin_request(url, token, command, args.station_id, payload, ssl=context))
    if answer.get("ok"):
        print(json.dumps(answer.get("result"), indent=2))
        return 0
    return fail(f"{answer.get('error')}: {answer.get('message')}")


async def admin_request(
    url: str,
    token: str,
    command: str,
    station_id: str,
    args: dict[str, Any],
    *,
    ssl: Any = None,
) -> dict[str, Any]:
    """One admin request; ``ssl``: the client TLS context for a ``wss://`` server."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    try:
        async with connect(
            url,
            subprotocols=["chargegrid.admin"],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=5,
            ssl=ssl,
        ) as ws:
            await ws.send(
                json.dumps({"id": 1, "command": command, "station_id": station_id, "args": args})
            )
            answer: dict[str, Any] = json.loads(await ws.recv())
            return answer
    except InvalidStatus as exc:
        return {"ok": False, "error": "AdminRefused", "message": str(exc)}
    except OSError as exc:
        return {"ok": False, "error": "ServerUnreachable", "message": f"{url}: {exc}"}
