"""The web dashboard on a site with 1,000 EVSEs: how fast a page loads, and whether the live
updates keep up with 1,000 EVSEs sending meter values every 10 s.

Set-up, as an operator would run it: ``chargegrid site apply`` loads two sites (``big``:
500 stations with 2 EVSEs each on 10 feeders; ``small``: 5 stations, 10 EVSEs, the baseline),
``chargegrid api-token create`` makes an admin token, ``chargegrid serve`` runs the central
system with its API, planner and embedded telemetry on a SQLite file, and ``chargegrid sim``
(in its own process, pinned to the other core) runs 505 simulated stations on the workplace
scenario at wall-clock speed, every EV charging (the planner sends the safe equal shares,
``planning.optimize = false``, so no session is deferred to a cheaper hour), meter values
every 10 s: 100 MeterValues a second for the big site. Then headless Chromium (Debian's,
through Playwright):

- **load**: opens the overview and each site's page ``--loads`` times (a fresh tab each time,
  nothing cached); the time from navigation start until the page is shown with its figures
  (``cgReady``) and until the site's charts are drawn (``cgChartsReady``); median and worst,
  big site against small site (ratio); once while the fleet runs and again after it stopped
  (same data, a quiet server);
- **live**: keeps the big site's page open for ``--live-s`` seconds and counts the meter
  values the page applied against those the server published for the site (a second stream
  client in this process), the age of each meter value when the page had applied it (station
  timestamp to the end of its batch) beside its age when the plain client read it (what the
  fleet and the server take), the page's main-thread time spent on events, and stream
  reconnects (a client that falls behind is dropped by the server and reconnects).

CPU figures are of the whole server process. Results: ``benchmarks/results/dashboard_load.json``.

    python benchmarks/dashboard_load.py --loads 5 --live-s 60
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from simulators.scenario import generate, save_scenario

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _site_toml(site_id: str, stations: list[str], feeders: int, grid_kw: float) -> str:
    lines = [
        "[site]",
        f'id = "{site_id}"',
        f'name = "{site_id} site"',
        'timezone = "Europe/Berlin"',
        "",
        "[[nodes]]",
        'id = "grid"',
        'kind = "grid_connection"',
        f"max_import_kw = {grid_kw}",
    ]
    for f in range(feeders):
        lines += ["", "[[nodes]]", f'id = "feeder-{f}"', 'kind = "feeder"', 'parent = "grid"']
        lines.append(f"max_import_kw = {grid_kw / feeders * 1.2:.0f}")
    for i, sid in enumerate(stations):
        lines += ["", "[[stations]]", f'id = "{sid}"', f'node = "feeder-{i % feeders}"']
        for evse in (1, 2):
            lines += ["", "[[stations.evses]]", f"id = {evse}"]
    return "\n".join(lines) + "\n"


def _cli(*args: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "chargegrid", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return done.stdout.strip()


def _pin(pid: int, core: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(pid, {core % (os.cpu_count() or 1)})


class _Counter:
    """A second stream client: counts the meter values the server publishes for a site."""

    def __init__(self, url: str, token: str, site: str, offset_s: float) -> None:
        self.count = 0
        #: each meter value's age when this client read it (station time to now, ms)
        self.ages_ms: list[float] = []
        self._offset_s = offset_s
        self._stop = threading.Event()
        self._args = (url, token, site)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        url, token, site = self._args
        params = {"site_id": site, "type": "meter.values"}
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.stream(
            "GET", f"{url}/api/v1/events", params=params, headers=headers, timeout=None
        ) as response:
            for line in response.iter_lines():
                if line.startswith("event: meter.values"):
                    self.count += 1
                elif line.startswith("data: "):
                    at = datetime.fromisoformat(json.loads(line[6:])["at"])
                    now = time.time() + self._offset_s
                    self.ages_ms.append((now - at.timestamp()) * 1000)
                if self._stop.is_set():
                    return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] if ordered else 0.0


def _load_times(browser: Any, base: str, token: str, route: str, loads: int) -> dict[str, Any]:
    ready, charts, render = [], [], []
    for _ in range(loads):
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.add_init_script(f"sessionStorage.setItem('chargegrid.token', {json.dumps(token)})")
        page.goto(f"{base}/dashboard/{route}")
        page.wait_for_function(
            "() => window.cgReady && window.cgReady.path !== undefined", timeout=60000
        )
        ready.append(page.evaluate("window.cgReady.ms"))
        render.append(page.evaluate("window.cgRenderMs || 0"))
        if "sites/" in route:
            page.wait_for_function("() => window.cgChartsReady", timeout=60000)
            charts.append(page.evaluate("window.cgChartsReady"))
        if os.environ.get("DASHBOARD_BENCH_TRACE"):
            entries = page.evaluate(
                "performance.getEntriesByType('resource').map(e => "
                "[e.name.split('/').slice(-2).join('/'), Math.round(e.startTime), "
                "Math.round(e.responseStart - e.startTime), Math.round(e.duration)])"
            )
            print(route, "ready", ready[-1], file=sys.stderr)
            for entry in entries:
                print("   ", entry, file=sys.stderr)
        ctx.close()
    out: dict[str, Any] = {
        "ready_ms_median": round(statistics.median(ready), 1),
        "ready_ms_worst": round(max(ready), 1),
        # drawing the page once its data is in: the browser's own part
        "render_ms_median": round(statistics.median(render), 1),
    }
    if charts:
        out["charts_ms_median"] = round(statistics.median(charts), 1)
        out["charts_ms_worst"] = round(max(charts), 1)
    return out


def _register_drivers(base: str, token: str, scenario: Path) -> None:
    """Every EV's id tag as an accepted id token (through the API, as an admin would)."""
    import csv

    with scenario.open() as f:
        tags = sorted({row["id_tag"] for row in csv.DictReader(f)})
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        for tag in tags:
            c.put(f"/api/v1/id-tokens/{tag}", json={"status": "Accepted"}).raise_for_status()


def _api_times(base: str, token: str) -> dict[str, float]:
    """What each resource a site page reads costs on its own (median of 3, ms)."""
    paths = [
        "/me",
        "/overview",
        "/sites/big",
        "/sites/big/power",
        "/sites/big/plan",
        "/sites/big/constraints",
        "/sites/big/history",
        "/sites/small/history",
    ]
    out = {}
    with httpx.Client(
        base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=120
    ) as c:
        for path in paths:
            times = []
            for _ in range(3):
                began = time.perf_counter()
                c.get(path).raise_for_status()
                times.append((time.perf_counter() - began) * 1000)
            out[path] = round(statistics.median(times), 1)
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in {timeout_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=500, help="big site stations (2 EVSEs)")
    parser.add_argument("--meter-interval-s", type=float, default=10.0)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--live-s", type=float, default=60.0)
    parser.add_argument("--warmup-s", type=float, default=60.0, help="before measuring")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # stop the server and the fleet on the way out

    signal.signal(signal.SIGTERM, interrupted)

    load_start = round(os.getloadavg()[0], 2)
    work = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    db = ["--database-url", f"sqlite+aiosqlite:///{work / 'cg.sqlite3'}"]
    ids = [f"SIM-{i:04d}" for i in range(1, args.stations + 6)]
    (work / "small.toml").write_text(_site_toml("small", ids[:5], 1, 100.0))
    (work / "big.toml").write_text(_site_toml("big", ids[5:], 10, 11.0 * 2 * args.stations))
    _cli("db", "upgrade", *db, env=env, cwd=work)
    for name in ("small", "big"):
        _cli("site", "apply", str(work / f"{name}.toml"), *db, env=env, cwd=work)
    token = _cli(
        "api-token", "create", "--role", "admin", "--name", "bench", *db, env=env, cwd=work
    )
    api_port, ocpp_port = _free_port(), _free_port()
    scenario = work / "scenario.csv"
    start = datetime.now(UTC).replace(hour=9, minute=30, second=0, microsecond=0)
    anchor = datetime.now(UTC) + timedelta(seconds=5)
    save_scenario(
        generate("workplace", stations=len(ids), connectors=2, seed=0, start=start), scenario
    )
    clock = [
        "--clock-start",
        start.isoformat(),
        "--clock-speed",
        "1",
        "--clock-anchor",
        anchor.isoformat(),
    ]
    # every EV charges (an equal share of each limit, no optimizer deferring sessions to a
    # cheaper hour): 1,000 EVSEs send meter values all the time
    serve_env = {**env, "CHARGEGRID_PLANNING__OPTIMIZE": "false"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chargegrid",
            "serve",
            *db,
            "--port",
            str(ocpp_port),
            "--api-port",
            str(api_port),
            "--unknown-stations",
            "accept",
            *clock,
        ],
        env=serve_env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=(work / "serve.log").open("w"),
    )
    _pin(server.pid, 0)
    base = f"http://127.0.0.1:{api_port}"
    fleet = None
    try:
        _wait_http(f"{base}/dashboard/", 120)
        _register_drivers(base, token, scenario)
        fleet = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chargegrid",
                "sim",
                "--url",
                f"ws://127.0.0.1:{ocpp_port}/ocpp",
                "--stations",
                str(len(ids)),
                "--connectors",
                "2",
                "--scenario-file",
                str(scenario),
                "--ocpp",
                "mixed",
                "--meter-interval-s",
                str(args.meter_interval_s),
                "--progress-s",
                "30",
                "--summary-csv",
                str(work / "summary.csv"),
                *clock,
            ],
            env=env,
            cwd=work,
            stdout=(work / "sim.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        _pin(fleet.pid, 1)
        print(f"warming up {args.warmup_s:.0f} s: {len(ids)} stations connect and start charging")
        time.sleep(args.warmup_s)
        proc = psutil.Process(server.pid)
        api_ms = _api_times(base, token)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            loads = {
                "overview": _load_times(browser, base, token, "#/", args.loads),
                "small_site": _load_times(browser, base, token, "#/sites/small", args.loads),
                "big_site": _load_times(browser, base, token, "#/sites/big", args.loads),
            }
            counter = _Counter(base, token, "big", (start - anchor).total_seconds())
            counter.start()
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            page = ctx.new_page()
            page.add_init_script(f"sessionStorage.setItem('chargegrid.token', {json.dumps(token)})")
            page.goto(f"{base}/dashboard/#/sites/big")
            page.wait_for_function(
                "() => window.cgReady && document.querySelector('#live').dataset.state === 'live'",
                timeout=60000,
            )
            time.sleep(2.0)
            before = page.evaluate(
                "({...window.cgStreamStats, lagsMs: window.cgStreamStats.lagsMs.length})"
            )
            sent_before, ages_before = counter.count, len(counter.ages_ms)
            cpu_before = proc.cpu_times()
            began = time.monotonic()
            time.sleep(args.live_s)
            elapsed = time.monotonic() - began
            cpu = proc.cpu_times()
            after = page.evaluate(
                "({...window.cgStreamStats, lags: window.cgStreamStats.lagsMs.slice()})"
            )
            sent = counter.count - sent_before
            server_ages = counter.ages_ms[ages_before:]
            counter.stop()
            ctx.close()
            # the same pages with the same data once the fleet has stopped: what the page
            # and the API cost without 100 OCPP messages a second beside them
            fleet.terminate()
            fleet.wait(timeout=60)
            time.sleep(10)
            quiet = {
                "overview": _load_times(browser, base, token, "#/", args.loads),
                "small_site": _load_times(browser, base, token, "#/sites/small", args.loads),
                "big_site": _load_times(browser, base, token, "#/sites/big", args.loads),
            }
            browser.close()
        # station timestamps are on the simulated clock: virtual = wall + (start - anchor)
        offset_ms = (start - anchor).total_seconds() * 1000
        lags = [lag + offset_ms for lag in after["lags"][before["lagsMs"] :]]
        received = after["received"] - before["received"]
        live = {
            "seconds": round(elapsed, 1),
            "meter_values_published": sent,
            "meter_values_per_s": round(sent / elapsed, 1),
            "page_received": received,
            "page_received_ratio": round(received / sent, 3) if sent else None,
            "server_age_ms_p50": round(_percentile(server_ages, 50)),
            "server_age_ms_p95": round(_percentile(server_ages, 95)),
            "age_ms_p50": round(_percentile(lags, 50)),
            "age_ms_p95": round(_percentile(lags, 95)),
            "age_ms_max": round(max(lags)) if lags else None,
            "page_handle_ms_per_s": round((after["handleMs"] - before["handleMs"]) / elapsed, 2),
            "batches_per_s": round((after["batches"] - before["batches"]) / elapsed, 1),
            "reconnects": after["reconnects"] - before["reconnects"],
            "server_cpu_pct": round(
                ((cpu.user + cpu.system) - (cpu_before.user + cpu_before.system)) / elapsed * 100, 1
            ),
        }
    finally:
        for child in (fleet, server):
            if child is not None and child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
    big, small = loads["big_site"], loads["small_site"]
    result = {
        "benchmark": "dashboard_load",
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # other work on the machine inflates every latency here: note how busy it was
            "load_average_1m": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
        },
        "big_site_evses": 2 * args.stations,
        "meter_interval_s": args.meter_interval_s,
        "loads": loads,
        "loads_fleet_stopped": quiet,
        "api_ms": api_ms,
        "big_vs_small_ready_ratio": round(big["ready_ms_median"] / small["ready_ms_median"], 2),
        "big_vs_small_charts_ratio": round(big["charts_ms_median"] / small["charts_ms_median"], 2),
        "live": live,
    }
    for name, figures in loads.items():
        print(f"load {name:11s}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    for name, figures in quiet.items():
        print(
            f"load {name:11s} (fleet stopped): " + ", ".join(f"{k} {v}" for k, v in figures.items())
        )
    print(f"big site / small site (page ready, medians): {result['big_vs_small_ready_ratio']}x")
    print("API, median ms: " + ", ".join(f"{k} {v}" for k, v in api_ms.items()))
    print(f"machine load average (1 min): {result['machine']['load_average_1m']}")
    print(
        f"live {live['seconds']} s: {live['meter_values_per_s']} meter values/s published, "
        f"page applied {live['page_received_ratio']} of them; age p50 {live['age_ms_p50']} ms, "
        f"p95 {live['age_ms_p95']} ms, max {live['age_ms_max']} ms (read by a plain client: "
        f"p50 {live['server_age_ms_p50']} ms, p95 {live['server_age_ms_p95']} ms); page main "
        f"thread {live['page_handle_ms_per_s']} ms/s on events; {live['reconnects']} reconnects; "
        f"server CPU {live['server_cpu_pct']} %"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "dashboard_load.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
