"""The demo in a terminal: start it, print where everything is, show the progress, stop it
cleanly on Ctrl-C or SIGTERM (a second Ctrl-C interrupts the shutdown itself)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from chargegrid.clock import Clock
from csms.config import Settings
from csms.demo.day import DemoDay
from csms.demo.runner import Demo

__all__ = ["Terminal", "run_demo"]


@dataclass
class Terminal:
    out: TextIO
    tty: bool
    every_s: float
    #: the kept data folder (None: a temporary one, removed at exit)
    data_dir: Path | None = None
    exit_when_done: bool = False

    def say(self, text: str = "") -> None:
        if self.tty:
            self.out.write("\r\x1b[2K")
        self.out.write(text + "\n")
        self.out.flush()

    def status(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[2K" + text)
        else:
            self.out.write(text + "\n")
        self.out.flush()


def _welcome(demo: Demo, terminal: Terminal) -> None:
    telemetry = demo.settings.telemetry
    where = (
        f"InfluxDB at {telemetry.url}"
        if telemetry.url
        else f"the embedded store ({telemetry.embedded_path.name})"
    )
    start = demo.start_at.astimezone(demo.day.zone)
    say = terminal.say
    say("chargegrid demo: two sites, a simulated day")
    say(f"  OCPP:      {demo.ocpp_url}{{station_id}}")
    say(f"  API:       {demo.api_url}/api/v1 (docs at {demo.api_url}/docs)")
    say(f"  dashboard: {demo.dashboard_url}")
    say(f"  API token (admin, revoked at exit): {demo.token}")
    say(f"  telemetry: {where}")
    say(f"  data:      {terminal.data_dir or 'a temporary folder, removed at exit'}")
    say(
        f"  day:       {start:%Y-%m-%d %H:%M} {demo.day.timezone}, {demo.day.hours:g} h at "
        f"speed {demo.clock.speed:g}; sites "
        + ", ".join(f"{s} ({len(demo.sites[s].stations)} stations)" for s in demo.sites)
    )
    say("Ctrl-C stops everything.")


async def run_demo(settings: Settings, *, day: DemoDay, clock: Clock, terminal: Terminal) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal() -> None:
        stop.set()
        for sig in signals:  # a second one interrupts the shutdown
            loop.remove_signal_handler(sig)

    for sig in signals:
        loop.add_signal_handler(sig, on_signal)
    demo = Demo(settings, day=day, clock=clock)
    try:
        await demo.start()
        _welcome(demo, terminal)
        told_over = False
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), terminal.every_s)
            progress = await demo.progress()
            if not told_over:
                terminal.status(progress.line())
            if demo.over and not told_over:
                told_over = True
                terminal.say(progress.line())
                if terminal.exit_when_done:
                    break
                terminal.say("the simulated day is over; the API stays up until Ctrl-C")
        terminal.say("stopping ...")
        final = await demo.progress()
    finally:
        await demo.stop()
        for sig in signals:
            loop.remove_signal_handler(sig)
    for site_id, fleet in demo.fleets.items():
        for problem in fleet.problems(limit=3):
            terminal.say(f"  {site_id}: {problem}")
    terminal.say(
        f"stopped at {final.at:%a %H:%M}: {final.sessions_done} of {final.sessions_total} "
        f"sessions done, {final.energy_wh / 1000:.1f} kWh charged; nothing left running"
    )
    return 0
