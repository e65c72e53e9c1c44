"""``chargegrid sim``: run a fleet of simulated stations against any OCPP central system."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from chargegrid.cli import add_clock_arguments
from simulators.cli_devices import add_device_options, add_numbers, device_config, positive_option

__all__ = ["add_commands"]

logger = logging.getLogger(__name__)


_positive = positive_option


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="run simulated charging stations and EVs against an OCPP central system",
        description="Run a fleet of simulated charging stations (OCPP 1.6J / 2.0.1 / 2.1) with EVs "
        "from a generated or loaded scenario, on a virtual clock, against any CSMS. Stations "
        "are SIM-0001, SIM-0002, ... and connect to {url}/{station_id}; storage units (--storage), "
        "battery-swap stations (--swap) and PV plants (--pv) are OCPP 2.1 stations STOR-0001, "
        "..., SWAP-0001, ..., PV-0001, ...",
    )
    _add_fleet_options(parser)
    _add_security_options(parser)
    _add_station_options(parser)
    add_device_options(parser)
    _add_run_options(parser)
    add_clock_arguments(parser)
    parser.set_defaults(func=_run)


def _add_fleet_options(parser: argparse.ArgumentParser) -> None:
    """Where the stations connect, how many, with which scenario and protocol."""
    parser.add_argument(
        "--url",
        default="ws://127.0.0.1:9000/ocpp",
        help="central system WebSocket base URL (default ws://127.0.0.1:9000/ocpp)",
    )
    add_numbers(
        parser,
        ("--stations", _positive(int), 10, "number of stations"),
        ("--connectors", _positive(int), 1, "connectors (EVSEs) per station"),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--scenario",
        choices=["depot", "workplace", "public"],
        default="depot",
        help="generated scenario (default depot)",
    )
    source.add_argument("--scenario-file", metavar="CSV", help="replay a saved scenario instead")
    add_numbers(
        parser,
        ("--seed", int, 0, "random seed"),
        ("--days", _positive(int), 1, "days to generate"),
    )
    parser.add_argument(
        "--speed",
        type=_positive(float),
        default=None,
        metavar="X",
        help="shorthand for --clock-speed: 60 = a simulated hour per real minute",
    )
    parser.add_argument(
        "--ocpp",
        choices=["1.6", "2.0.1", "2.1", "mixed", "all"],
        default="1.6",
        help="protocol of the stations; mixed alternates 1.6 and 2.0.1, all cycles through "
        "1.6, 2.0.1 and 2.1 (default 1.6)",
    )


def _add_security_options(parser: argparse.ArgumentParser) -> None:
    """Basic auth, TLS and the stations' certificates."""
    parser.add_argument(
        "--password",
        default=os.environ.get("CHARGEGRID_SIM_PASSWORD"),
        help="Basic auth password of every station (user = station id; "
        "default $CHARGEGRID_SIM_PASSWORD, none when unset)",
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        default=None,
        help="TLS (security profile 2, wss:// URL): the central system's CA certificate",
    )
    parser.add_argument(
        "--certificates-dir",
        type=Path,
        default=None,
        help="with --ca-file: each station's key and certificate (<id>.pem, <id>.key) are "
        "kept here and presented (profile 3); a station without one can get one through "
        "SignCertificate",
    )
    parser.add_argument(
        "--organization",
        default=None,
        help="organization (O) in the stations' certificate requests",
    )


def _add_station_options(parser: argparse.ArgumentParser) -> None:
    """Each station's connectors and meter."""
    add_numbers(parser, ("--max-current-a", _positive(float), 32.0, "connector rating per phase"))
    parser.add_argument(
        "--phases", type=int, choices=[1, 3], default=3, help="connector phases (default 3)"
    )
    parser.add_argument(
        "--dc-power-w",
        type=_positive(float),
        default=None,
        help="make the stations DC chargers of this power (400 V; default: AC)",
    )
    add_numbers(
        parser,
        (
            "--meter-interval-s",
            _positive(float),
            60.0,
            "meter value sample interval, simulated seconds",
        ),
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """How long to run, what to write, which faults to inject."""
    parser.add_argument(
        "--duration-h",
        type=_positive(float),
        default=None,
        help="stop after this many simulated hours (default: when the last EV has left)",
    )
    parser.add_argument(
        "--drain-s",
        type=_positive(float),
        default=10.0,
        help="at the end, real seconds the stations get to deliver what they had already "
        "decided to send (default 10; what is left is counted as unsent)",
    )
    parser.add_argument("--save-scenario", metavar="CSV", help="also write the scenario used")
    parser.add_argument(
        "--summary-csv",
        metavar="CSV",
        default="sim-summary.csv",
        help="where to write the per-EV summary (default sim-summary.csv)",
    )
    parser.add_argument(
        "--progress-s",
        type=_positive(float),
        default=None,
        help="real seconds between progress updates (default 1 on a terminal, 10 otherwise)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault: KIND,STATION,HOURS[,CONNECTOR[,VALUE]] with KIND one "
        "of connector-fault, clear-fault, ev-stops-drawing, meter-jump (VALUE Wh), "
        "malformed-frame, late-answers (VALUE s), local-stop (the driver ends the session); "
        "repeatable",
    )


class _Refused(Exception):
    """A command line that cannot run: printed after ``chargegrid sim:``, exit status 2."""


def _run(args: argparse.Namespace) -> int:
    import asyncio

    try:
        speed, clock, fleet, faults, until = _prepare(args)
    except _Refused as exc:
        print(f"chargegrid sim: {exc}", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()
    every = args.progress_s if args.progress_s is not None else (1.0 if tty else 10.0)
    logger.info(
        "simulating %d stations (%s) from %s at speed %g against %s: %d EVs",
        args.stations,
        args.ocpp,
        clock.now().isoformat(timespec="seconds"),
        speed,
        args.url,
        len(fleet.scenario),
    )
    logging.getLogger("ocpp").setLevel(logging.WARNING)

    def show(progress: Any) -> None:
        if tty:
            sys.stderr.write("\r\x1b[2K" + progress.line())
            sys.stderr.flush()
        else:
            logger.info("%s", progress.line())

    try:
        summary = asyncio.run(
            fleet.run(
                until=until,
                on_progress=show,
                progress_every_s=every,
                ramp_s=min(10.0, args.stations / 100),
                faults=faults,
                drain_s=args.drain_s,
            )
        )
    except KeyboardInterrupt:
        summary = fleet.summary()
    if tty:
        sys.stderr.write("\n")
    summary.to_csv(args.summary_csv, index=False)
    _print_summary(summary, fleet, args.summary_csv)
    if fleet.storage_runners:
        sys.stdout.write(fleet.storage_summary().to_string(index=False) + "\n")
    if fleet.swap_runners:
        sys.stdout.write(fleet.swap_summary().to_string(index=False) + "\n")
    if fleet.pv_runners:
        sys.stdout.write(fleet.pv_summary().to_string(index=False) + "\n")
    return _exit_code(fleet)


def _prepare(args: argparse.Namespace) -> tuple[float, Any, Any, list[Any], Any]:
    """The speed, clock, fleet, faults and end (None: when the last EV has left) that the
    command line asks for; :class:`_Refused` when it cannot run."""
    from datetime import timedelta

    from simulators.exceptions import ScenarioError
    from simulators.fleet import Fault
    from simulators.scenario import save_scenario

    speed = args.speed if args.speed is not None else args.clock_speed
    if speed <= 0:
        raise _Refused("--speed must be positive")
    try:
        clock, scenario = _clock_and_scenario(args, speed)
        fleet = _fleet(args, scenario, clock)
    except ScenarioError as exc:
        raise _Refused(str(exc)) from None
    try:
        faults = [Fault.parse(text) for text in args.fault]
        fleet.check_faults(faults)
    except ValueError as exc:
        raise _Refused(f"--fault: {exc}") from None
    if args.save_scenario:
        try:
            save_scenario(scenario, args.save_scenario)
        except OSError as exc:
            raise _Refused(f"--save-scenario: {exc}") from None
    if scenario.empty and args.duration_h is None:
        raise _Refused(
            "the scenario has no visits left after the clock start; "
            "give --clock-start, --days or --duration-h"
        )
    until = None if args.duration_h is None else clock.now() + timedelta(hours=args.duration_h)
    return speed, clock, fleet, faults, until


def _clock_and_scenario(args: argparse.Namespace, speed: float) -> tuple[Any, Any]:
    """The clock (on a fast clock without a start: just before the scenario's first visit)
    and the scenario, loaded or generated from the clock's start."""
    from datetime import UTC, datetime, timedelta

    from chargegrid.clock import clock_from_settings
    from simulators.scenario import generate, load_scenario, suggested_start

    start = args.clock_start
    loaded = load_scenario(args.scenario_file) if args.scenario_file else None
    if start is None and speed != 1.0:
        if loaded is None:
            start = suggested_start(args.scenario, datetime.now(UTC))
        elif not loaded.empty:  # replay from just before the first arrival
            start = loaded["arrival"].min().to_pydatetime() - timedelta(minutes=5)
    clock = clock_from_settings(start=start, speed=speed, anchor=args.clock_anchor)
    if loaded is not None:
        return clock, loaded
    scenario = generate(
        args.scenario,
        stations=args.stations,
        seed=args.seed,
        start=clock.now(),
        connectors=args.connectors,
        days=args.days,
    )
    return clock, scenario


def _fleet(args: argparse.Namespace, scenario: Any, clock: Any) -> Any:
    from simulators.fleet import Fleet, FleetConfig

    try:
        devices = device_config(args)
    except ValueError as exc:
        raise _Refused(str(exc)) from None
    config = FleetConfig(
        url=args.url,
        stations=args.stations,
        ocpp=args.ocpp,
        password=args.password,
        ca_file=args.ca_file,
        certificates_dir=args.certificates_dir,
        organization=args.organization,
        connectors=args.connectors,
        max_current_a=args.max_current_a,
        phases=args.phases,
        meter_interval_s=args.meter_interval_s,
        dc_power_w=args.dc_power_w,
        seed=args.seed,
        **devices,
    )
    return Fleet(config, scenario, clock=clock)


def _exit_code(fleet: Any) -> int:
    """1 when the run did not reach the central system: a station never got through the
    handshake (refused credentials, wrong URL). Transaction messages still queued at the end
    are counted and named (the central system never got them), but a run cut short by
    ``--duration-h`` leaves some in flight, so they do not fail it alone."""
    refused, unsent = fleet.never_connected(), fleet.unsent()
    out = sys.stdout
    out.write(
        f"stations never connected {len(refused)} | "
        f"transaction messages left unsent {sum(unsent.values())}\n"
    )
    if refused:
        out.write(f"failure: {len(refused)} station(s) never connected, e.g. {refused[0]}\n")
    if unsent:
        first = next(iter(unsent))
        out.write(
            f"unsent: {sum(unsent.values())} transaction message(s) never reached the central "
            f"system ({len(unsent)} station(s), e.g. {first}: {unsent[first]})\n"
        )
    return 1 if refused else 0


def _print_summary(summary: Any, fleet: Any, path: str) -> None:
    out = sys.stdout
    if summary.empty:
        out.write("no EV sessions\n")
        return
    shown = summary.head(30).copy()
    shown["requested_kwh"] = (shown["requested_wh"] / 1000).round(1)
    shown["delivered_kwh"] = (shown["delivered_wh"] / 1000).round(1)
    shown["soc_end_%"] = (shown["soc_at_departure"] * 100).round(0)
    shown["under_limit_min"] = (shown["under_limit_s"] / 60).round(0)
    cols = [
        "ev_id",
        "station_id",
        "connector_id",
        "requested_kwh",
        "delivered_kwh",
        "soc_end_%",
        "under_limit_min",
        "outcome",
    ]
    out.write(shown[cols].to_string(index=False) + "\n")
    if len(summary) > len(shown):
        out.write(f"... {len(summary) - len(shown)} more rows in {path}\n")
    requested = summary["requested_wh"].sum() / 1000
    delivered = summary["delivered_wh"].sum() / 1000
    outcomes = summary["outcome"].value_counts().to_dict()
    progress = fleet.progress()
    out.write(
        f"EVs {len(summary)} | requested {requested:.1f} kWh | delivered {delivered:.1f} kWh "
        f"| outcomes {outcomes} | OCPP calls {progress.calls_sent} "
        f"| CALLERRORs {progress.call_errors}\n"
    )
    stats = [r.stats for r in fleet.runners]
    out.write(
        f"boots rejected {sum(x.boots_rejected for x in stats)} | "
        f"disconnects {sum(x.disconnects for x in stats)} | "
        f"timeouts {sum(x.timeouts for x in stats)} | "
        f"messages dropped {sum(x.dropped for x in stats)} | "
        f"central system calls refused {sum(x.calls_refused for x in stats)} | "
        f"charging profiles rejected {sum(x.profiles_rejected for x in stats)}\n"
    )
    for line in fleet.problems():
        out.write(f"problem: {line}\n")
    out.write(f"summary written to {path}\n")
