"""The site day's central system as a process of its own (the kill run of
benchmarks/site_day.py): the real ``Csms`` on an SQLite store and the day's virtual clock
(the same start, speed and wall-clock anchor as the harness), with the site's energy
management reporting the PV every meter interval. ``--prepare`` sets the day up first
(tokens, packs, site file, cap); without it, it starts on the store as it was left. Prints
``ready`` once it listens.

    python -m benchmarks.site_day_csms --database-url URL --port P --options JSON [--prepare]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from benchmarks.site_day_run import DayOptions, RunSpec, prepare, report_pv, settings
from benchmarks.site_day_world import DayShape, swap_arrivals
from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import DatabaseSettings

__all__ = ["main", "options_from"]


def options_from(data: dict[str, Any]) -> DayOptions:
    """The :class:`DayOptions` of :func:`benchmarks.site_day_faults.options_json`."""
    shape = dict(data["shape"])
    shape["cap_from"] = time.fromisoformat(shape["cap_from"])
    return DayOptions(**{**data, "shape": DayShape(**shape)})


async def serve(
    run: RunSpec, opt: DayOptions, anchor: datetime, *, url: str, port: int, set_up: bool
) -> None:
    clock = VirtualClock(start=opt.start, speed=opt.speed, anchor=anchor)
    base = settings(opt)
    config = base.model_copy(
        update={
            "server": base.server.model_copy(update={"port": port}),
            "database": DatabaseSettings(url=url),
        }
    )
    async with Csms(config, clock=clock) as csms:
        if set_up:
            await prepare(csms, csms.store, swap_arrivals(opt.shape, opt.start), run, opt)
        print("ready", flush=True)
        pv = opt.shape.pv()
        while True:
            now = clock.now()
            report_pv(csms, now, pv.power_w(now))
            await clock.sleep(opt.meter_s)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.site_day_csms", description=__doc__)
    p.add_argument("--database-url", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--options", required=True, help="the run, its options and the anchor")
    p.add_argument("--prepare", action="store_true", help="set the day up first")
    args = p.parse_args(argv)
    data = json.loads(args.options)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(
        serve(
            RunSpec(**data["run"]),
            options_from(data["options"]),
            datetime.fromisoformat(data["anchor"]),
            url=args.database_url,
            port=args.port,
            set_up=args.prepare,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
