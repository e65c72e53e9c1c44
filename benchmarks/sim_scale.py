"""How many simulated stations one ``chargegrid sim`` process holds on one core.

Runs three processes on loopback for a bounded time:

- a bare central system built only on the ``ocpp`` library's own handlers (written here,
  not chargegrid's CSMS), counting the messages that arrive and how late the meter values
  are (arrival minus the sample's timestamp);
- the fleet: ``chargegrid sim`` itself with ``--stations`` simulated stations replaying a
  scenario where every connector charges an EV (meter values every ``--meter-interval-s``,
  heartbeats) at speed 1;
- the baseline: as many bare ``ocpp`` library clients sending the same kinds of messages at
  the same rate with no station model behind them.

Fleet and baseline are pinned to one core (``--cpu``). It measures their CPU% and RSS over the
same window once all stations are connected, the messages per second the central system
received and the meter values' lateness, prints the fleet/baseline ratios and whether the
fleet *held*: every station connected, the meter values arriving at their rate (at least 90 %
of stations / interval) and none more than 5 s late, below 100 % of its core. Results go to
``benchmarks/results/sim_scale.json``.

    python benchmarks/sim_scale.py --stations 1000 --duration-s 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --- the bare central system ----------------------------------------------------------------


async def _central(port: int, stats_file: Path, interval_s: int) -> None:
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint as CP16
    from ocpp.v16 import call_result as r16
    from ocpp.v201 import ChargePoint as CP201
    from ocpp.v201 import call_result as r201
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    counts = {"messages": 0, "connections": 0, "samples": 0, "late_s_sum": 0.0, "late_5s": 0}
    now = lambda: datetime.now(UTC).isoformat()  # noqa: E731

    def lateness(meter_value: list[dict[str, Any]] | None) -> None:
        """How late each sample arrives (its timestamp is the station's clock, speed 1)."""
        for mv in meter_value or []:
            taken = datetime.fromisoformat(mv["timestamp"].replace("Z", "+00:00"))
            late = (datetime.now(UTC) - taken).total_seconds()
            counts["samples"] += 1
            counts["late_s_sum"] += late
            counts["late_5s"] += late > 5.0

    class Counting:
        async def route_message(self, raw: str) -> None:
            counts["messages"] += 1
            await super().route_message(raw)  # type: ignore[misc]

    class C16(Counting, CP16):  # type: ignore[misc]
        @on("BootNotification")
        def on_boot(self, **_: Any) -> Any:
            return r16.BootNotification(current_time=now(), interval=interval_s, status="Accepted")

        @on("Heartbeat")
        def on_heartbeat(self, **_: Any) -> Any:
            return r16.Heartbeat(current_time=now())

        @on("StatusNotification")
        def on_status(self, **_: Any) -> Any:
            return r16.StatusNotification()

        @on("Authorize")
        def on_authorize(self, **_: Any) -> Any:
            return r16.Authorize(id_tag_info={"status": "Accepted"})

        @on("StartTransaction")
        def on_start(self, **_: Any) -> Any:
            counts["tx"] = counts.get("tx", 0) + 1
            return r16.StartTransaction(
                transaction_id=counts["tx"], id_tag_info={"status": "Accepted"}
            )

        @on("MeterValues")
        def on_meter(self, meter_value: list[dict[str, Any]], **_: Any) -> Any:
            lateness(meter_value)
            return r16.MeterValues()

        @on("StopTransaction")
        def on_stop(self, **_: Any) -> Any:
            return r16.StopTransaction()

    class C201(Counting, CP201):  # type: ignore[misc]
        @on("BootNotification")
        def on_boot(self, **_: Any) -> Any:
            return r201.BootNotification(current_time=now(), interval=interval_s, status="Accepted")

        @on("Heartbeat")
        def on_heartbeat(self, **_: Any) -> Any:
            return r201.Heartbeat(current_time=now())

        @on("StatusNotification")
        def on_status(self, **_: Any) -> Any:
            return r201.StatusNotification()

        @on("Authorize")
        def on_authorize(self, **_: Any) -> Any:
            return r201.Authorize(id_token_info={"status": "Accepted"})

        @on("TransactionEvent")
        def on_tx(self, event_type: str, meter_value: Any = None, **_: Any) -> Any:
            if event_type == "Updated":
                lateness(meter_value)
            return r201.TransactionEvent()

        @on("MeterValues")
        def on_meter(self, **_: Any) -> Any:
            return r201.MeterValues()

        @on("NotifyEVChargingNeeds")
        def on_needs(self, **_: Any) -> Any:
            return r201.NotifyEVChargingNeeds(status="Accepted")

    async def handler(ws: Any) -> None:
        station_id = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
        cp = (C16 if ws.subprotocol == "ocpp1.6" else C201)(station_id, ws)
        counts["connections"] += 1
        try:
            await cp.start()
        except ConnectionClosed:
            pass
        finally:
            counts["connections"] -= 1

    async with serve(
        handler, "127.0.0.1", port, subprotocols=["ocpp1.6", "ocpp2.0.1"], backlog=2048
    ):
        while True:
            tmp = stats_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(counts))
            tmp.replace(stats_file)
            await asyncio.sleep(0.5)


# --- the fleet under test and the baseline -------------------------------------------------------


def _scenario_csv(path: Path, stations: int) -> None:
    """Every station's connector charging one EV from a minute ago for six hours."""
    import pandas as pd

    from simulators.scenario import COLUMNS, save_scenario, station_ids, validate_scenario

    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        dict(
            ev_id=f"EV-{i:05d}",
            station_id=sid,
            connector_id=1,
            arrival=now - timedelta(minutes=1),
            departure=now + timedelta(hours=6),
            capacity_wh=100_000.0,
            initial_soc=0.1,
            target_soc=1.0,
            max_ac_power_w=11_000.0,
            max_dc_power_w=50_000.0,
            phases=3,
            id_tag=f"TAG{i:05d}",
        )
        for i, sid in enumerate(station_ids(stations), start=1)
    ]
    save_scenario(validate_scenario(pd.DataFrame(rows, columns=list(COLUMNS))), path)


def _sim_command(args: argparse.Namespace, url: str, tmp: Path) -> list[str]:
    """``chargegrid sim`` replaying that scenario at speed 1."""
    scenario = tmp / "scenario.csv"
    _scenario_csv(scenario, args.stations)
    return [
        sys.executable,
        "-m",
        "chargegrid",
        "--log-level",
        "WARNING",
        "sim",
        "--url",
        url,
        "--stations",
        str(args.stations),
        "--scenario-file",
        str(scenario),
        "--speed",
        "1",
        "--ocpp",
        args.ocpp,
        "--meter-interval-s",
        str(args.meter_interval_s),
        "--summary-csv",
        str(tmp / "summary.csv"),
        "--progress-s",
        "10",
    ]


async def _baseline(url: str, stations: int, meter_interval_s: float) -> None:
    """Bare ocpp library clients, the same kinds of messages at the same rate, no model."""
    from ocpp.v16 import ChargePoint, call
    from websockets.asyncio.client import connect

    async def one(i: int) -> None:
        await asyncio.sleep(10.0 * i / stations)
        sid = f"BASE-{i:04d}"
        async with connect(f"{url}/{sid}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            cp = ChargePoint(sid, ws)
            reader = asyncio.create_task(cp.start())
            await cp.call(call.BootNotification(charge_point_model="Bare", charge_point_vendor="x"))
            stamp = datetime.now(UTC).isoformat()
            await cp.call(
                call.StatusNotification(
                    connector_id=1, error_code="NoError", status="Charging", timestamp=stamp
                )
            )
            await cp.call(call.Authorize(id_tag="T"))
            res = await cp.call(
                call.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=stamp)
            )
            energy = 0.0
            next_beat = time.monotonic() + 300
            while True:
                await asyncio.sleep(meter_interval_s - time.time() % meter_interval_s)
                energy += 183.3
                values = [
                    {
                        "value": f"{energy:g}",
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                        "context": "Sample.Periodic",
                    },
                    {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
                ]
                values += [
                    {"value": "15.94", "measurand": "Current.Import", "unit": "A", "phase": f"L{p}"}
                    for p in (1, 2, 3)
                ]
                await cp.call(
                    call.MeterValues(
                        connector_id=1,
                        transaction_id=res.transaction_id,
                        meter_value=[
                            {"timestamp": datetime.now(UTC).isoformat(), "sampled_value": values}
                        ],
                    )
                )
                if time.monotonic() > next_beat:
                    await cp.call(call.Heartbeat())
                    next_beat += 300
            reader.cancel()

    await asyncio.gather(*(one(i) for i in range(1, stations + 1)))


# --- the driver ----------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _role(role: str, args: argparse.Namespace, **extra: Any) -> list[str]:
    cmd = [
        sys.executable,
        __file__,
        "--role",
        role,
        "--stations",
        str(args.stations),
        "--meter-interval-s",
        str(args.meter_interval_s),
        "--ocpp",
        args.ocpp,
    ]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    return cmd


def _spawn(cmd: list[str], cpu: int | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    if cpu is not None:
        import psutil

        psutil.Process(proc.pid).cpu_affinity([cpu])  # threads it starts inherit it
    return proc


def _read_stats(path: Path) -> dict[str, Any]:
    for _ in range(20):
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        time.sleep(0.1)
    raise RuntimeError("the central system does not report")


def _measure(
    name: str, proc: subprocess.Popen[bytes], stats: Path, args: argparse.Namespace
) -> dict[str, Any]:
    import psutil

    ps = psutil.Process(proc.pid)
    deadline = time.monotonic() + args.warmup_s
    while time.monotonic() < deadline and _read_stats(stats)["connections"] < args.stations:
        time.sleep(0.5)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
    held = _read_stats(stats)["connections"]
    time.sleep(2.0)  # let the boot burst settle
    cpu0 = ps.cpu_times()
    before = _read_stats(stats)
    t0 = time.monotonic()
    rss_max = 0
    while time.monotonic() - t0 < args.duration_s:
        time.sleep(1.0)
        rss_max = max(rss_max, ps.memory_info().rss)
    elapsed = time.monotonic() - t0
    cpu1 = ps.cpu_times()
    after = _read_stats(stats)
    cpu_s = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    samples = after["samples"] - before["samples"]
    result = {
        "stations_held": min(held, after["connections"]),
        "cpu_percent": round(100.0 * cpu_s / elapsed, 1),
        "rss_mib": round(rss_max / 2**20, 1),
        "messages_per_s": round((after["messages"] - before["messages"]) / elapsed, 1),
        "meter_values_per_s": round(samples / elapsed, 1),
        "mean_lateness_s": round((after["late_s_sum"] - before["late_s_sum"]) / samples, 3)
        if samples
        else None,
        "late_over_5s": after["late_5s"] - before["late_5s"],
        "window_s": round(elapsed, 1),
        "cpu_affinity": ps.cpu_affinity(),
    }
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    time.sleep(2.0)  # the central system notices the closed sockets
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--stations", type=int, default=1000, help="stations (default 1000)")
    parser.add_argument(
        "--duration-s",
        type=float,
        default=60.0,
        help="measuring window per run, real seconds (default 60)",
    )
    parser.add_argument(
        "--warmup-s",
        type=float,
        default=60.0,
        help="longest wait for every station to connect (default 60)",
    )
    parser.add_argument(
        "--meter-interval-s", type=float, default=60.0, help="meter value interval (default 60)"
    )
    parser.add_argument("--ocpp", choices=["1.6", "2.0.1", "mixed"], default="1.6")
    parser.add_argument("--skip-baseline", action="store_true", help="measure the fleet only")
    parser.add_argument(
        "--cpu",
        type=int,
        default=None,
        help="the core to pin fleet and baseline to (default: the last one this process may use)",
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "sim_scale.json"
    )
    parser.add_argument(
        "--role",
        choices=["driver", "central", "baseline"],
        default="driver",
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stats-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    url = f"ws://127.0.0.1:{args.port}/ocpp"
    with contextlib.suppress(KeyboardInterrupt):
        if args.role == "central":
            asyncio.run(_central(args.port, args.stats_file, interval_s=300))
            return 0
        if args.role == "baseline":
            asyncio.run(_baseline(url, args.stations, args.meter_interval_s))
            return 0
    return _drive(args)


def _drive(args: argparse.Namespace) -> int:
    import tempfile

    import psutil

    port = _free_port()
    url = f"ws://127.0.0.1:{port}/ocpp"
    cpu = args.cpu if args.cpu is not None else max(psutil.Process().cpu_affinity())
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "central.json"
        central = _spawn(_role("central", args, port=port, stats_file=stats))
        try:
            _read_stats(stats)
            print(
                f"fleet: chargegrid sim, {args.stations} stations ({args.ocpp}), meter values "
                f"every {args.meter_interval_s:g} s, speed 1, on core {cpu}, "
                f"window {args.duration_s:g} s ...",
                flush=True,
            )
            fleet_cmd = _sim_command(args, url, Path(tmp))
            fleet = _measure("fleet", _spawn(fleet_cmd, cpu), stats, args)
            baseline = None
            if not args.skip_baseline:
                print(f"baseline: {args.stations} bare ocpp clients on core {cpu} ...", flush=True)
                baseline_cmd = _role("baseline", args, port=port)
                baseline = _measure("baseline", _spawn(baseline_cmd, cpu), stats, args)
        finally:
            central.terminate()
            central.wait(10)
    expected_per_s = args.stations / args.meter_interval_s
    fleet["held"] = bool(
        fleet["stations_held"] == args.stations
        and fleet["meter_values_per_s"] >= 0.9 * expected_per_s
        and fleet["late_over_5s"] == 0
        and fleet["cpu_percent"] < 100.0
    )
    result: dict[str, Any] = {
        "benchmark": "sim_scale",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "settings": {
            "stations": args.stations,
            "ocpp": args.ocpp,
            "duration_s": args.duration_s,
            "meter_interval_s": args.meter_interval_s,
            "cpu": cpu,
            "expected_meter_values_per_s": round(expected_per_s, 2),
        },
        "fleet": fleet,
        "baseline": baseline,
    }
    print(
        f"{'':10} {'held':>6} {'CPU %':>7} {'RSS MiB':>8} {'msgs/s':>8} {'MV/s':>7} "
        f"{'late s':>7} {'>5 s':>5}"
    )
    for name, r in (("fleet", fleet), ("baseline", baseline)):
        if r is not None:
            print(
                f"{name:10} {r['stations_held']:>6} {r['cpu_percent']:>7} {r['rss_mib']:>8} "
                f"{r['messages_per_s']:>8} {r['meter_values_per_s']:>7} "
                f"{r['mean_lateness_s']!s:>7} {r['late_over_5s']:>5}"
            )
    print(
        f"fleet held {args.stations} stations on one core: {'yes' if fleet['held'] else 'NO'} "
        f"(expected {expected_per_s:.1f} meter values/s)"
    )
    if baseline is not None:
        ratios = {
            "cpu": round(fleet["cpu_percent"] / baseline["cpu_percent"], 2)
            if baseline["cpu_percent"]
            else None,
            "rss": round(fleet["rss_mib"] / baseline["rss_mib"], 2)
            if baseline["rss_mib"]
            else None,
            "messages": round(fleet["messages_per_s"] / baseline["messages_per_s"], 2)
            if baseline["messages_per_s"]
            else None,
        }
        result["fleet_over_baseline"] = ratios
        print(
            f"fleet/baseline: CPU x{ratios['cpu']}, RSS x{ratios['rss']}, "
            f"messages x{ratios['messages']}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
