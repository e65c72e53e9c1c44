"""What the HTTP API costs: event fan-out to SSE clients and authenticated request latency.

Runs one process on loopback (a central system on the memory store, its API, and the
clients, all on one event loop) and measures:

- **bus publish cost**: microseconds per ``EventBus.publish`` on the central system's bus
  with ``--clients`` SSE clients connected, against the same bus with the API but no client
  (the ratio is what the stream clients add to every OCPP message);
- **stream delivery**: ``--events`` status events published in bursts, the time until every
  client has read every event, as events delivered per second;
- **request latency**: ``--requests`` sequential ``GET /api/v1/stations/{id}`` with a token
  (token check, store read, response model), against a bare FastAPI route on the same
  uvicorn setup (p50/p95 and the ratio of the medians).

Figures are printed and saved to ``benchmarks/results/api_events.json``.

    python benchmarks/api_events.py --clients 50 --events 2000 --requests 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _status(i: int) -> Any:
    from csms.domain import ConnectorStatus, StatusReport
    from csms.events import StatusChanged

    return StatusChanged(
        StatusReport(
            f"CP{i % 100:04d}", 1, 1, ConnectorStatus.CHARGING, datetime.now(UTC), info=str(i)
        )
    )


def _publish_us(bus: Any, n: int) -> float:
    events = [_status(i) for i in range(n)]
    began = time.perf_counter()
    for event in events:
        bus.publish(event)
    return (time.perf_counter() - began) / n * 1e6


async def _bare_server() -> tuple[Any, Any, str]:
    import uvicorn
    from fastapi import FastAPI

    from csms.api.server import _Server

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    server = _Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn only offers the flag
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}/ping"


async def _latencies(client: Any, url: str, n: int, headers: dict[str, str]) -> list[float]:
    out = []
    for _ in range(n):
        began = time.perf_counter()
        response = await client.get(url, headers=headers)
        out.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.text
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from chargegrid.clock import WallClock
    from csms.api import ApiServer, ApiServices, Role, TokenService
    from csms.app import Csms
    from csms.config import Settings
    from csms.store import MemoryStore
    from csms.store.base import StationRecord

    store = MemoryStore()
    await store.open()
    for i in range(100):
        await store.put_station(StationRecord(f"CP{i:04d}", site_id="depot"))
    settings = Settings(
        server={"port": 0},  # type: ignore[arg-type]
        database={"url": "memory://"},  # type: ignore[arg-type]
        planning={"enabled": False},  # type: ignore[arg-type]
        api={"port": 0, "stream_queue_events": args.events + 10},  # type: ignore[arg-type]
    )
    async with Csms(settings, clock=WallClock(), store=store) as csms:
        services = ApiServices(csms)
        async with ApiServer(services, host="127.0.0.1", port=0) as api:
            _, token = await TokenService(services.repo, now=csms.clock.now).create(
                role=Role.VIEWER, name="bench", sites=["depot"]
            )
            headers = {"Authorization": f"Bearer {token}"}
            baseline_us = _publish_us(csms.bus, args.events)
            limits = httpx.Limits(max_connections=args.clients + 10)
            async with httpx.AsyncClient(base_url=api.url, timeout=60, limits=limits) as client:
                received = [0] * args.clients
                ready = asyncio.Event()
                opened = 0

                async def reader(k: int) -> None:
                    nonlocal opened
                    async with client.stream("GET", "/api/v1/events", headers=headers) as r:
                        lines = r.aiter_lines()
                        async for line in lines:
                            if line == ": connected":
                                opened += 1
                                if opened == args.clients:
                                    ready.set()
                            elif line.startswith("data: "):
                                received[k] += 1
                                if received[k] == args.events:
                                    return

                readers = [asyncio.create_task(reader(k)) for k in range(args.clients)]
                await asyncio.wait_for(ready.wait(), 30)
                began = time.perf_counter()
                publish_times = []
                for start in range(0, args.events, args.burst):
                    batch = [_status(i) for i in range(start, min(start + args.burst, args.events))]
                    t0 = time.perf_counter()
                    for event in batch:
                        csms.bus.publish(event)
                    publish_times.append((time.perf_counter() - t0) / len(batch) * 1e6)
                    await asyncio.sleep(0)
                await asyncio.wait_for(asyncio.gather(*readers), args.timeout_s)
                delivery_s = time.perf_counter() - began
                dropped = services.hub.dropped_total
                with_clients_us = statistics.median(publish_times)

                api_ms = await _latencies(client, "/api/v1/stations/CP0001", args.requests, headers)
            server, task, bare_url = await _bare_server()
            try:
                async with httpx.AsyncClient(timeout=60) as bare_client:
                    bare_ms = await _latencies(bare_client, bare_url, args.requests, {})
            finally:
                server.should_exit = True
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "clients": args.clients,
        "events": args.events,
        "requests": args.requests,
        "publish_us_baseline": round(baseline_us, 2),
        "publish_us_with_clients": round(with_clients_us, 2),
        "publish_ratio": round(with_clients_us / baseline_us, 1),
        "delivered_events_per_s": round(args.clients * args.events / delivery_s),
        "delivery_s": round(delivery_s, 3),
        "dropped_clients": dropped,
        "api_p50_ms": round(pct(api_ms, 0.5), 3),
        "api_p95_ms": round(pct(api_ms, 0.95), 3),
        "bare_p50_ms": round(pct(bare_ms, 0.5), 3),
        "bare_p95_ms": round(pct(bare_ms, 0.95), 3),
        "latency_ratio_p50": round(pct(api_ms, 0.5) / pct(bare_ms, 0.5), 2),
        "python": platform.python_version(),
        "at": datetime.now(UTC).isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="SSE clients (default 50)")
    parser.add_argument("--events", type=int, default=2000, help="events published (default 2000)")
    parser.add_argument("--burst", type=int, default=100, help="events per publish burst")
    parser.add_argument("--requests", type=int, default=500, help="sequential GETs (default 500)")
    parser.add_argument("--timeout-s", type=float, default=120.0, help="give up after this")
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "api_events.json"), help="JSON file"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(run(args))
    for key, value in result.items():
        print(f"{key:>26}: {value}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
