"""``chargegrid serve``: the OCPP central system and the HTTP API."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from chargegrid.cli import add_clock_arguments, clock_from_args
from csms.cli.common import add_config_arguments, fail, settings_from_args

__all__ = ["add_commands"]

logger = logging.getLogger(__name__)


def _serve(args: argparse.Namespace) -> int:
    from csms.app import serving
    from csms.event_loop import choose, loop_name, run
    from csms.exceptions import CsmsError

    try:
        settings = settings_from_args(
            args, host=args.host, port=args.port, unknown_stations=args.unknown_stations
        )
    except CsmsError as exc:
        return fail(exc, 2)
    clock = clock_from_args(args)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        logger.info("event loop: %s", loop_name(loop))
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
        return run(main(), loop=choose(settings.server.event_loop, tls=settings.security.tls))
    except CsmsError as exc:
        return fail(exc)
    except OSError as exc:
        return fail(f"cannot listen: {exc}")


def add_commands(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the OCPP central system and the HTTP API",
        description="Run the OCPP 1.6J / 2.0.1 / 2.1 central system at "
        "ws://HOST:PORT/ocpp/{id} and the HTTP API (default http://127.0.0.1:8000, see [api]).",
    )
    add_config_arguments(serve)
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
