"""Reconnect storm: N stations connect and boot, all drop at once, all reconnect at once.

Loopback only, bounded in count and time. The server is ``chargegrid serve`` as in
production (``--target sqlite`` or ``postgres``) or the stock-library peer of
``csms_throughput.py`` (``--target stock``), pinned to the first CPU; the stations run in
``--load-procs`` processes pinned to the last. Each station is a bare WebSocket client
sending a BootNotification (1.6) after its handshake, with a handshake timeout of
``--open-timeout-s`` and up to ``--attempts`` tries (a refused or timed-out handshake is
retried after a random 1-5 s, as stations do).

A boot answered Pending (``ocpp.boots_per_s``) is sent again after its interval on the same
connection; "boot pending" counts those answers.

Reported for the first connection and for the storm: seconds until every station is back
and booted (or how many are when ``--deadline-s`` runs out), handshakes that failed (by
reason: HTTP status, timeout, reset), server CPU seconds and the seconds its threads waited
for a CPU (as long as it ran or longer: the machine, not the server, set the pace), the
load processes' own CPU seconds (near the wave's seconds: the generator, not the server,
sets the pace), the RSS of the idle server, once every station is connected (and the
growth per station) and at its peak.

    python benchmarks/reconnect_storm.py --stations 10000 --target sqlite
    python benchmarks/reconnect_storm.py --stations 2000 --target stock --deadline-s 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.csms_throughput import _BOOT16, RESULTS, Target, _cpus, _pin


async def _one(url: str, timeout_s: float, reasons: Counter[str]) -> Any:
    """One handshake + BootNotification; the open connection, or None."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    try:
        ws = await connect(
            url,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            open_timeout=timeout_s,
            ping_interval=None,
            compression=None,
            max_queue=4,
        )
    except InvalidStatus as exc:
        reasons[f"HTTP {exc.response.status_code}"] += 1
        return None
    except TimeoutError:
        reasons["handshake timeout"] += 1
        return None
    except Exception as exc:
        reasons[type(exc).__name__] += 1
        return None
    while True:
        try:
            await ws.send(_BOOT16)
            answer = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
        except Exception as exc:
            reasons[f"boot: {type(exc).__name__}"] += 1
            await ws.close()
            return None
        status = answer[2].get("status") if answer[0] == 3 else None
        if status == "Accepted":
            return ws
        if status != "Pending":
            reasons["boot not accepted"] += 1
            await ws.close()
            return None
        # Pending (ocpp.boots_per_s): boot again after the interval, as stations do.
        reasons["boot pending"] += 1
        await asyncio.sleep(float(answer[2]["interval"]))


async def _wave(
    urls: list[str], *, timeout_s: float, attempts: int, deadline_s: float, spread_s: float
) -> tuple[list[Any], Counter[str], float]:
    reasons: Counter[str] = Counter()
    t0 = time.perf_counter()
    booted_at: list[float] = []

    async def station(url: str) -> Any:
        if spread_s:
            await asyncio.sleep(random.random() * spread_s)
        for _ in range(attempts):
            if time.perf_counter() - t0 > deadline_s:
                return None
            ws = await _one(url, timeout_s, reasons)
            if ws is not None:
                booted_at.append(time.perf_counter() - t0)
                return ws
            await asyncio.sleep(1 + 4 * random.random())
        return None

    try:
        done = await asyncio.wait_for(
            asyncio.gather(*(station(u) for u in urls)), deadline_s + timeout_s + 10
        )
    except TimeoutError:
        done = []
    return [ws for ws in done if ws is not None], reasons, max(booted_at, default=0.0)


def runq_wait_s(target: Target) -> float:
    """Seconds the server's threads spent runnable but waiting for a CPU (Linux
    ``/proc/PID/task/*/schedstat``): beside the server's CPU seconds it tells a server
    starved by the machine (waiting as long as it runs) from one with nothing to do."""
    total_ns = 0
    for proc in target._processes():
        for stat in Path(f"/proc/{proc.pid}/task").glob("*/schedstat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                total_ns += int(stat.read_text().split()[1])
    return total_ns / 1e9


def storm_worker(base: str, indices: list[int], args: dict[str, Any], cpus: Any, pipe: Any) -> None:
    _pin(cpus)

    async def body() -> None:
        urls = [f"{base}BENCH{i:05d}" for i in indices]
        cpu0 = sum(os.times()[:2])
        first, reasons1, last1 = await _wave(
            urls,
            timeout_s=args["open_timeout_s"],
            attempts=args["attempts"],
            deadline_s=args["deadline_s"],
            spread_s=args["first_spread_s"],
        )
        cpu1 = sum(os.times()[:2])
        pipe.send(("first", len(first), dict(reasons1), last1, cpu1 - cpu0))
        await asyncio.to_thread(pipe.recv)  # all drop now
        await asyncio.gather(*(ws.close() for ws in first), return_exceptions=True)
        pipe.send(("dropped",))
        await asyncio.to_thread(pipe.recv)  # all reconnect now
        cpu2 = sum(os.times()[:2])
        back, reasons2, last2 = await _wave(
            urls,
            timeout_s=args["open_timeout_s"],
            attempts=args["attempts"],
            deadline_s=args["deadline_s"],
            spread_s=0.0,
        )
        pipe.send(("storm", len(back), dict(reasons2), last2, sum(os.times()[:2]) - cpu2))
        await asyncio.gather(*(ws.close() for ws in back), return_exceptions=True)

    asyncio.run(body())


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import multiprocessing

    workdir = RESULTS / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    target = Target(args.target, args.stations, workdir)
    await target.start()
    ctx = multiprocessing.get_context("spawn")
    cpus = _cpus()
    base = f"ws://127.0.0.1:{target.port}/ocpp/"
    workers = []
    try:
        params = {
            "open_timeout_s": args.open_timeout_s,
            "attempts": args.attempts,
            "deadline_s": args.deadline_s,
            "first_spread_s": args.first_spread_s,
        }
        cpu0 = await asyncio.to_thread(target.cpu_seconds)
        wait0 = await asyncio.to_thread(runq_wait_s, target)
        rss_idle = await asyncio.to_thread(target.rss_bytes)
        for w in range(args.load_procs):
            mine, theirs = ctx.Pipe()
            indices = list(range(w, args.stations, args.load_procs))
            proc = ctx.Process(
                target=storm_worker,
                args=(base, indices, params, cpus[1] if cpus else None, theirs),
                daemon=True,
            )
            proc.start()
            workers.append((proc, mine))
        rss_peak = [0]

        async def watch_rss(stop: asyncio.Event) -> None:
            while not stop.is_set():
                rss_peak[0] = max(rss_peak[0], await asyncio.to_thread(target.rss_bytes))
                await asyncio.sleep(0.5)

        async def collect(kind: str) -> dict[str, Any]:
            count, reasons, last, loadgen_cpu_s = 0, Counter[str](), 0.0, 0.0
            for _, pipe in workers:
                msg = await asyncio.to_thread(pipe.recv)
                assert msg[0] == kind, msg
                count += msg[1]
                reasons.update(msg[2])
                last = max(last, msg[3])
                loadgen_cpu_s += msg[4]
            return {
                "booted": count,
                "seconds": last,
                "failures": dict(reasons),
                # the load processes' own CPU: if it nears the wave's seconds, the
                # generator (one core) and not the server sets the pace
                "loadgen_cpu_s": loadgen_cpu_s,
            }

        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_rss(stop))
        first = await collect("first")
        cpu1 = await asyncio.to_thread(target.cpu_seconds)
        wait1 = await asyncio.to_thread(runq_wait_s, target)
        rss_connected = await asyncio.to_thread(target.rss_bytes)
        for _, pipe in workers:
            pipe.send("drop")
        for _, pipe in workers:
            await asyncio.to_thread(pipe.recv)
        await target.wait_idle(timeout_s=30)  # the disconnections are processed
        cpu2 = await asyncio.to_thread(target.cpu_seconds)
        wait2 = await asyncio.to_thread(runq_wait_s, target)
        for _, pipe in workers:
            pipe.send("reconnect")
        storm = await collect("storm")
        cpu3 = await asyncio.to_thread(target.cpu_seconds)
        wait3 = await asyncio.to_thread(runq_wait_s, target)
        stop.set()
        await watcher
    finally:
        for proc, _ in workers:
            await asyncio.to_thread(proc.join, 30)
            if proc.is_alive():
                proc.kill()
        await target.stop()
    first["server_cpu_s"] = cpu1 - cpu0
    storm["server_cpu_s"] = cpu3 - cpu2
    first["server_runq_wait_s"] = wait1 - wait0
    storm["server_runq_wait_s"] = wait3 - wait2
    return {
        "target": args.target,
        "stations": args.stations,
        "first": first,
        "storm": storm,
        "rss_idle_mb": rss_idle / 2**20,
        "rss_connected_mb": rss_connected / 2**20,
        # grown from the idle server to every station connected after the first wave
        "rss_kb_per_station": (rss_connected - rss_idle) / 1024 / max(1, first["booted"]),
        "rss_peak_mb": rss_peak[0] / 2**20,
        "load_average_1min": os.getloadavg()[0],
    }


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--stations", type=int, default=10_000)
    p.add_argument("--target", choices=["stock", "sqlite", "postgres"], default="sqlite")
    p.add_argument("--load-procs", type=int, default=2)
    p.add_argument("--open-timeout-s", type=float, default=30.0, help="station handshake timeout")
    p.add_argument("--attempts", type=int, default=5, help="tries per station and wave")
    p.add_argument("--deadline-s", type=float, default=120.0, help="bound on each wave")
    p.add_argument(
        "--first-spread-s", type=float, default=30.0, help="first connections spread over"
    )
    args = p.parse_args()
    result = asyncio.run(run(args))
    for wave in ("first", "storm"):
        w = result[wave]
        print(
            f"{result['target']:<8} n={result['stations']:<6} {wave:<5} booted {w['booted']:>6} "
            f"in {w['seconds']:6.1f} s  server CPU {w['server_cpu_s']:6.1f} s  "
            f"(waiting for a CPU {w['server_runq_wait_s']:5.1f} s)  "
            f"load generator CPU {w['loadgen_cpu_s']:5.1f} s  "
            f"failures {w['failures']}"
        )
    print(
        f"RSS idle {result['rss_idle_mb']:.0f} MB, connected {result['rss_connected_mb']:.0f} MB "
        f"({result['rss_kb_per_station']:.1f} KB per station), peak {result['rss_peak_mb']:.0f} MB "
        f"(load {result['load_average_1min']:.1f})"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"reconnect_storm-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"args": vars(args), "result": result}, indent=2))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
