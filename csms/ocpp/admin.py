"""The admin channel: commands to live stations from another process (the CLI).

A WebSocket at ``/admin`` (subprotocol ``chargegrid.admin``), enabled only when
``server.admin_token`` is set and authenticated with ``Authorization: Bearer <token>``.
Each text frame is one request ``{"id": 1, "command": "reset", "station_id": "CP1",
"args": {...}}`` answered by ``{"id": 1, "ok": true, "result": ...}`` or ``{"id": 1,
"ok": false, "error": "StationOffline", "message": "..."}``. Commands are the methods of
:class:`csms.core.commands.Commands`; requests run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from datetime import datetime
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms.core.commands import Commands
from csms.domain import ChargingLimit, ChargingRateUnit
from csms.exceptions import CsmsError
from csms.jsonable import to_json

__all__ = ["ADMIN_PATH", "ADMIN_SUBPROTOCOL", "COMMANDS", "check_token", "serve_admin"]

logger = logging.getLogger(__name__)

ADMIN_PATH = "/admin"
ADMIN_SUBPROTOCOL = "chargegrid.admin"

COMMANDS = frozenset(
    {
        "remote_start",
        "remote_stop",
        "reset",
        "change_availability",
        "unlock_connector",
        "trigger_message",
        "clear_cache",
        "set_charging_profile",
        "clear_charging_profile",
        "get_composite_schedule",
        "get_configuration",
        "change_configuration",
        "get_variables",
        "set_variables",
        "get_base_report",
        "send_raw",
    }
)
#: station certificate commands (csms.security.CertificateService): renew, install, list,
#: delete; each is logged and recorded as the station event ``CertificateCommand``
CERTIFICATE_COMMANDS = frozenset(
    {
        "certificate_renew",
        "certificate_install",
        "certificate_list",
        "certificate_delete",
        "certificate_revoke",
        "firmware_update",
        "log_get",
        "password_rotate",
        "profile_upgrade",
    }
)


def check_token(header: str | None, token: str) -> bool:
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


def _limit(station_id: str, args: dict[str, Any]) -> ChargingLimit:
    data = dict(args)
    data["unit"] = ChargingRateUnit(data.get("unit", "A"))
    data["schedule"] = tuple(
        (int(p[0]), float(p[1]), None if len(p) < 3 or p[2] is None else int(p[2]))
        for p in data["schedule"]
    )
    for key in ("valid_from", "valid_to", "start_at"):
        if data.get(key):
            data[key] = datetime.fromisoformat(data[key])
    return ChargingLimit(station_id=station_id, **data)


async def _run(commands: Commands, request: dict[str, Any], certificates: Any = None) -> Any:
    command = request.get("command")
    station_id = str(request["station_id"])
    args = dict(request.get("args") or {})
    if command in CERTIFICATE_COMMANDS and certificates is not None:
        return await _certificate_command(certificates, str(command), station_id, args)
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}")
    if command == "set_charging_profile":
        return await commands.set_charging_profile(_limit(station_id, args))
    if command == "get_composite_schedule" and args.get("unit"):
        args["unit"] = ChargingRateUnit(args["unit"])
    if command in ("get_variables", "set_variables"):
        args["items"] = [tuple(i) for i in args["items"]]
    return await getattr(commands, command)(station_id, **args)


async def _certificate_command(
    certificates: Any, command: str, station_id: str, args: dict[str, Any]
) -> Any:
    logger.info("admin: %s %s %s", command, station_id, sorted(args))
    if command == "certificate_renew":
        result = await certificates.renew(station_id)
    elif command == "certificate_install":
        result = await certificates.install(
            station_id, str(args["certificate_type"]), str(args["certificate"])
        )
    elif command == "certificate_list":
        result = await certificates.installed(station_id, list(args.get("types") or ()))
    elif command == "certificate_revoke":
        result = await certificates.revoke(
            station_id, args.get("serial_number"), reason=str(args.get("reason", "unspecified"))
        )
    elif command == "firmware_update":
        result = await certificates.maintenance.update_firmware(station_id, **_times(args))
    elif command == "log_get":
        result = await certificates.maintenance.get_log(station_id, **_times(args))
    elif command == "password_rotate":
        result = await certificates.credentials.rotate_password(station_id)
    elif command == "profile_upgrade":
        result = await certificates.credentials.upgrade_profile(
            station_id, int(args["profile"]), csms_url=args.get("csms_url")
        )
    else:
        result = await certificates.delete(station_id, dict(args["hash_data"]))
    summary = {k: v for k, v in args.items() if k not in ("certificate", "signing_certificate")}
    await certificates.central.record_event(
        station_id,
        "CertificateCommand" if command.startswith("certificate_") else "SecurityCommand",
        {"command": command, "by": "admin channel", "args": to_json(summary)},
    )
    return result


def _times(args: dict[str, Any]) -> dict[str, Any]:
    """ISO 8601 strings of the ``*_at`` / ``oldest`` / ``latest`` arguments as datetimes."""
    out = dict(args)
    for key in ("retrieve_at", "install_at", "oldest", "latest"):
        if isinstance(out.get(key), str):
            out[key] = datetime.fromisoformat(out[key])
    return out


async def serve_admin(ws: ServerConnection, commands: Commands, certificates: Any = None) -> None:
    """Answer admin requests until the client closes."""
    tasks: set[asyncio.Task[None]] = set()

    async def one(raw: str | bytes) -> None:
        req_id: Any = None
        try:
            request = json.loads(raw)
            req_id = request.get("id")
            result = await _run(commands, request, certificates)
            answer = {"id": req_id, "ok": True, "result": to_json(result)}
        except CsmsError as exc:
            answer = {"id": req_id, "ok": False, "error": type(exc).__name__, "message": str(exc)}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            answer = {"id": req_id, "ok": False, "error": "BadRequest", "message": str(exc)}
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(answer))

    try:
        async for raw in ws:
            task = asyncio.create_task(one(raw))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    except ConnectionClosed:
        pass
    finally:
        for task in tasks:
            task.cancel()
