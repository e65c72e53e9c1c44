"""``chargegrid site apply FILE`` and ``chargegrid site show [SITE]``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from csms.cli.common import add_config_arguments, run_with_store

__all__ = ["add_commands"]


def _site_apply(args: argparse.Namespace) -> int:
    from chargegrid.clock import WallClock
    from csms.events import EventBus
    from csms.sites import (
        SiteFileError,
        SiteService,
        format_diff,
        load_site_file,
        repository_for,
    )

    try:
        site, warnings = load_site_file(args.file)
    except SiteFileError as exc:
        print(f"chargegrid: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)

    async def body(store: Any) -> int:
        sites = SiteService(
            repository_for(store), bus=EventBus(), clock=WallClock(), stations=store
        )
        result = await (sites.preview(site) if args.dry_run else sites.apply(site))
        print(format_diff(list(result.changes)))
        verb = "would apply" if args.dry_run else "applied"
        if result.changes:
            print(
                f"site {site.id}: {verb} {len(result.changes)} changes (revision {result.revision})"
            )
        else:
            print(f"site {site.id}: up to date (revision {result.revision})")
        return 0

    return run_with_store(args, body)


def _site_show(args: argparse.Namespace) -> int:
    from chargegrid.clock import WallClock
    from csms.events import EventBus
    from csms.sites import SiteService, repository_for
    from csms.sites.tomlfile import dump_site_toml

    async def body(store: Any) -> int:
        sites = SiteService(repository_for(store), bus=EventBus(), clock=WallClock())
        if args.site_id is None:
            for site in await sites.list_sites():
                evses = sum(len(s.evses) for s in site.stations)
                root = site.root
                cap = (
                    ""
                    if root is None or root.max_import_w is None
                    else f", {root.max_import_w / 1000:g} kW"
                )
                print(f"{site.id}\t{site.name}\t{len(site.nodes)} nodes, {evses} EVSEs{cap}")
            return 0
        site = await sites.get_site(args.site_id)
        if args.json:
            print(json.dumps(site.model_dump(mode="json"), indent=2))
        else:
            print(dump_site_toml(site), end="")
        return 0

    return run_with_store(args, body)


def add_commands(subparsers: Any) -> None:
    site: argparse.ArgumentParser = subparsers.add_parser(
        "site", help="site model: limit tree, stations, tariff (apply a site file, show)"
    )
    sub = site.add_subparsers(dest="site_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser(
        "apply",
        help="create or update a site from a TOML site file (idempotent; prints the diff)",
    )
    p.add_argument("file", metavar="FILE", help="site file (see docs/sites.md)")
    p.add_argument("--dry-run", action="store_true", help="show the diff, change nothing")
    add_config_arguments(p)
    p.set_defaults(func=_site_apply)
    p = sub.add_parser("show", help="list the sites, or print one as a site file")
    p.add_argument("site_id", metavar="SITE", nargs="?", default=None)
    p.add_argument("--json", action="store_true", help="print JSON (W, Wh) instead of TOML")
    add_config_arguments(p)
    p.set_defaults(func=_site_show)
