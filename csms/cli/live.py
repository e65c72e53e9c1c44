"""``chargegrid station start|stop|reset|...``: commands to live stations, through the
running server's admin channel (:func:`csms.cli.common.send_to_station`).

They need ``server.admin_token`` (or ``--admin-token``) and reach
``ws://HOST:PORT/admin`` from the settings (or ``--server``); see :mod:`csms.ocpp.admin`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from csms.cli.common import (
    Handler,
    add_config_arguments,
    fail,
    send_to_station,
    settings_from_args,
)
from csms.quantities import MAX_POWER_W, finite_option

__all__ = ["add_live_commands"]

Build = Callable[[argparse.Namespace], dict[str, Any]]
#: ``live(name, help, admin command, payload builder)``: one live command's parser
Live = Callable[[str, str, str, Build], argparse.ArgumentParser]


def _admin(command: str, build: Build) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        from csms.exceptions import CsmsError

        try:
            settings = settings_from_args(args)
        except CsmsError as exc:
            return fail(exc, 2)
        return send_to_station(args, settings, command, build(args))

    return handler


def _json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc


def add_live_commands(station_sub: Any) -> None:
    """Register ``station start|stop|reset|...`` on the ``station`` subparsers."""

    def live(name: str, help_text: str, command: str, build: Build) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = station_sub.add_parser(
            name, help=help_text, description=help_text
        )
        add_config_arguments(p)
        p.add_argument("station_id", metavar="STATION")
        p.add_argument(
            "--server",
            metavar="URL",
            default=None,
            help="admin URL of the running server (default ws://HOST:PORT/admin from the settings)",
        )
        p.add_argument("--admin-token", default=None, help="override server.admin_token")
        p.set_defaults(func=_admin(command, build))
        return p

    _add_session_commands(live)
    _add_configuration_commands(live)
    _add_profile_commands(live)


def _add_session_commands(live: Live) -> None:
    """Transactions, resets, availability, connectors, messages, the cache."""
    p = live(
        "start",
        "remote start; prints the transaction once the station started it",
        "remote_start",
        lambda a: {"id_token": a.id_token, "evse_id": a.evse},
    )
    p.add_argument("--id-token", required=True)
    p.add_argument("--evse", type=int, default=None)
    p = live(
        "stop",
        "remote stop of a transaction",
        "remote_stop",
        lambda a: {"transaction_id": a.transaction},
    )
    p.add_argument("--transaction", type=int, required=True, help="CSMS transaction id")
    p = live("reset", "reset the station", "reset", lambda a: {"hard": a.hard})
    p.add_argument("--hard", action="store_true", help="hard (1.6) / immediate (2.0.1) reset")
    p = live(
        "availability",
        "change availability of the station or an EVSE",
        "change_availability",
        lambda a: {"evse_id": a.evse, "operative": not a.inoperative},
    )
    p.add_argument("--evse", type=int, default=0)
    p.add_argument("--inoperative", action="store_true")
    p = live(
        "unlock",
        "unlock a connector",
        "unlock_connector",
        lambda a: {"evse_id": a.evse, "connector_id": a.connector},
    )
    p.add_argument("--evse", type=int, required=True)
    p.add_argument("--connector", type=int, default=1)
    p = live(
        "trigger",
        "ask the station to send a message",
        "trigger_message",
        lambda a: {"message": a.message, "evse_id": a.evse},
    )
    p.add_argument("message", help="e.g. StatusNotification, MeterValues, BootNotification")
    p.add_argument("--evse", type=int, default=None)
    live("clear-cache", "clear the station's authorization cache", "clear_cache", lambda a: {})


def _add_configuration_commands(live: Live) -> None:
    """1.6 configuration keys, 2.0.1 variables and reports."""
    p = live(
        "get-config", "OCPP 1.6 GetConfiguration", "get_configuration", lambda a: {"keys": a.keys}
    )
    p.add_argument("keys", nargs="*")
    p = live(
        "set-config",
        "OCPP 1.6 ChangeConfiguration",
        "change_configuration",
        lambda a: {"key": a.key, "value": a.value},
    )
    p.add_argument("key")
    p.add_argument("value")
    p = live(
        "get-vars",
        "OCPP 2.0.1 GetVariables of COMPONENT.VARIABLE names",
        "get_variables",
        lambda a: {"items": [v.split(".", 1) for v in a.names]},
    )
    p.add_argument("names", nargs="+", metavar="COMPONENT.VARIABLE")
    p = live(
        "set-var",
        "OCPP 2.0.1 SetVariables",
        "set_variables",
        lambda a: {"items": [[*a.name.split(".", 1), a.value]]},
    )
    p.add_argument("name", metavar="COMPONENT.VARIABLE")
    p.add_argument("value")
    p = live(
        "report", "OCPP 2.0.1 GetBaseReport", "get_base_report", lambda a: {"report_base": a.base}
    )
    p.add_argument(
        "--base",
        default="FullInventory",
        choices=["ConfigurationInventory", "FullInventory", "SummaryInventory"],
    )


def _add_profile_commands(live: Live) -> None:
    """Charging limits and schedules; any action as raw JSON."""
    p = live(
        "limit",
        "send a charging limit (SetChargingProfile)",
        "set_charging_profile",
        lambda a: {
            "evse_id": a.evse,
            "unit": a.unit,
            "schedule": [[0, a.limit, None]],
            "purpose": a.purpose,
            "stack_level": a.stack_level,
            "transaction_id": a.transaction,
        },
    )
    p.add_argument("--evse", type=int, default=0)
    p.add_argument(
        "--limit",
        type=finite_option("--limit", low=0, high=MAX_POWER_W),
        required=True,
        help="limit in --unit",
    )
    p.add_argument("--unit", choices=["A", "W"], default="A")
    p.add_argument(
        "--purpose",
        default="TxDefaultProfile",
        choices=["TxDefaultProfile", "TxProfile", "ChargingStationMaxProfile"],
    )
    p.add_argument("--stack-level", type=int, default=0)
    p.add_argument("--transaction", type=int, default=None)
    p = live(
        "clear-limit",
        "ClearChargingProfile",
        "clear_charging_profile",
        lambda a: {"profile_id": a.profile, "evse_id": a.evse},
    )
    p.add_argument("--profile", type=int, default=None)
    p.add_argument("--evse", type=int, default=None)
    p = live(
        "schedule",
        "GetCompositeSchedule",
        "get_composite_schedule",
        lambda a: {"evse_id": a.evse, "duration_s": a.duration_s},
    )
    p.add_argument("--evse", type=int, default=1)
    p.add_argument("--duration-s", type=int, default=3600)
    p = live(
        "call",
        "send any OCPP action with a camelCase JSON payload",
        "send_raw",
        lambda a: {"action": a.action, "payload": a.payload},
    )
    p.add_argument("action")
    p.add_argument("payload", type=_json_arg)
