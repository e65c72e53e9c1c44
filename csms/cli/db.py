"""``chargegrid db upgrade``: the database schema."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from csms.cli.common import add_config_arguments, fail, settings_from_args

__all__ = ["add_commands"]


def _db_upgrade(args: argparse.Namespace) -> int:
    from csms.exceptions import CsmsError

    try:
        settings = settings_from_args(args)
        migrate = importlib.import_module("csms.store.migrate")
        migrate.upgrade(settings.database.url)
    except ModuleNotFoundError:
        return fail("this build has no SQL migrations")
    except CsmsError as exc:
        return fail(exc)
    print("database at the latest schema")
    return 0


def add_commands(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="database schema", description="Database schema.")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    p = db_sub.add_parser(
        "upgrade",
        help="migrate the database to the latest schema",
        description="Run the Alembic migrations up to the latest revision.",
    )
    add_config_arguments(p)
    p.set_defaults(func=_db_upgrade)
