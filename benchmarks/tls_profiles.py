"""OCPP security profiles measured against each other in one run: plain ``ws://`` (profile
1), TLS + Basic auth (profile 2) and mutual TLS (profile 3), on the same central system.

For each mode the central system runs in its own process (memory store, so what differs is
the transport) and the load generator in this one:

* **handshakes/s**: ``--concurrency`` workers open a connection (TCP, TLS, the WebSocket
  upgrade with Basic auth or the station certificate), get the 101, close, and start again,
  for ``--duration-s``; the stations' passwords are verified once each before (the central
  system remembers verified pairs), so the figure is the transport's.
* **added latency per call**: ``--stations`` stations connected, each sending Heartbeat
  after Heartbeat for ``--duration-s``; median and 99th percentile round trip, the
  difference to plain ``ws://`` (the added latency), and the server's CPU per call (the
  load generator shares the machine: with several stations in a closed loop the round trip
  also holds its own TLS work; ``--stations 1`` isolates the wire latency).
* ``ws-mixed``: profile 1 (plain ``ws://``) on a TLS port that also takes it
  (``security.plain_on_tls_port``): the cost of telling TLS from plain by the first byte.
* **profile 3 held**: ``--hold`` stations connected with their own certificates for
  ``--hold-s`` seconds with a heartbeat every ``--hold-heartbeat-s``; how many stayed, the
  calls answered, and the server's memory.

Prints a table and writes ``benchmarks/results/tls_profiles-<time>.json``.

    python benchmarks/tls_profiles.py --duration-s 10 --hold 1000 --hold-s 60
    python benchmarks/tls_profiles.py --duration-s 3 --stations 20 --hold 200 --hold-s 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PASSWORD = "benchmark-password-0123"
#: ws-mixed: plain ws:// (profile 1) on a TLS port that also takes it (plain_on_tls_port)
MODES = ("ws", "ws-mixed", "tls", "mtls")


# -- the PKI --------------------------------------------------------------------------------
def make_pki(folder: Path, stations: int) -> None:
    """A CA, a server certificate for 127.0.0.1 and one certificate per station."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def pem_key(key: Any) -> bytes:
        return bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "benchmark CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def issue(cn: str, server: bool) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            b = b.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                critical=False,
            )
        cert = b.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), pem_key(key)

    cert, key = issue("127.0.0.1", True)
    (folder / "server.pem").write_bytes(cert)
    (folder / "server.key").write_bytes(key)
    stations_dir = folder / "stations"
    stations_dir.mkdir()
    for i in range(stations):
        cert, key = issue(station_id(i), False)
        (stations_dir / f"{station_id(i)}.pem").write_bytes(cert + key)


def station_id(i: int) -> str:
    return f"BENCH{i:05d}"


# -- the server process ---------------------------------------------------------------------
def serve(mode: str, port: int, pki: Path, stations: int) -> None:
    import logging

    from chargegrid.clock import WallClock
    from csms.app import Csms
    from csms.config import Settings
    from csms.core.passwords import hash_password
    from csms.store import MemoryStore
    from csms.store.base import StationRecord

    logging.basicConfig(level=logging.ERROR)
    security: dict[str, Any] = {}
    if mode != "ws":
        security = {
            "tls_cert_file": pki / "server.pem",
            "tls_key_file": pki / "server.key",
            "tls_ca_files": (pki / "ca.pem",),
            "plain_on_tls_port": mode == "ws-mixed",
        }
    settings = Settings(
        server={"host": "127.0.0.1", "port": port, "unknown_stations": "reject"},  # type: ignore[arg-type]
        database={"url": "memory://"},  # type: ignore[arg-type]
        telemetry={"enabled": False},  # type: ignore[arg-type]
        planning={"enabled": False},  # type: ignore[arg-type]
        ocpp={"heartbeat_interval_s": 3600},  # type: ignore[arg-type]
        security=security,  # type: ignore[arg-type]
    )

    async def main() -> None:
        store = MemoryStore()
        await store.open()
        hashed = hash_password(PASSWORD)
        for i in range(stations):
            await store.put_station(StationRecord(station_id(i), password_hash=hashed))
        async with Csms(settings, clock=WallClock(), store=store):
            print("ready", flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    try:
        import psutil

        proc = psutil.Process(pid)
        return (
            float(proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(True)))
            / 2**20
        )
    except Exception:
        return float("nan")


def cpu_s(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


# -- the load -------------------------------------------------------------------------------
class Client:
    def __init__(self, mode: str, url: str, pki: Path) -> None:
        self.mode = mode
        self.url = url
        self.pki = pki
        self._contexts: dict[str, ssl.SSLContext] = {}

    def context(self, sid: str) -> ssl.SSLContext | None:
        if self.mode in ("ws", "ws-mixed"):
            return None
        key = sid if self.mode == "mtls" else ""
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = ssl.create_default_context(cafile=str(self.pki / "ca.pem"))
            if self.mode == "mtls":
                ctx.load_cert_chain(self.pki / "stations" / f"{sid}.pem")
            self._contexts[key] = ctx
        return ctx

    def connect(self, sid: str) -> Any:
        from websockets.asyncio.client import connect

        headers = {}
        if self.mode != "mtls":
            token = base64.b64encode(f"{sid}:{PASSWORD}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return connect(
            self.url + sid,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=headers,
            ssl=self.context(sid),
            open_timeout=30,
            ping_interval=None,
            compression=None,
        )


async def handshakes(client: Client, *, concurrency: int, duration_s: float) -> dict[str, Any]:
    done = 0
    failed = 0
    times: list[float] = []
    deadline = time.perf_counter() + duration_s

    async def worker(k: int) -> None:
        nonlocal done, failed
        i = 0
        while time.perf_counter() < deadline:
            sid = station_id((k * 997 + i) % concurrency)
            i += 1
            t0 = time.perf_counter()
            try:
                async with client.connect(sid):
                    pass
            except Exception:
                failed += 1
                continue
            times.append(time.perf_counter() - t0)
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "handshakes": done,
        "failed": failed,
        "handshakes_per_s": done / elapsed,
        "handshake_median_ms": statistics.median(times) * 1000 if times else None,
    }


async def call_latency(client: Client, *, stations: int, duration_s: float) -> dict[str, Any]:
    conns = [await client.connect(station_id(i)).__aenter__() for i in range(stations)]
    lat: list[float] = []
    deadline = time.perf_counter() + duration_s

    async def loop(ws: Any, k: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            t0 = time.perf_counter()
            await ws.send(f'[2,"{k}-{n}","Heartbeat",{{}}]')
            answer = await ws.recv()
            lat.append(time.perf_counter() - t0)
            assert str(answer).startswith("[3,"), answer

    try:
        await asyncio.gather(*(loop(ws, k) for k, ws in enumerate(conns)))
    finally:
        for ws in conns:
            await ws.close()
    lat.sort()
    return {
        "calls": len(lat),
        "calls_per_s": len(lat) / duration_s,
        "latency_median_ms": statistics.median(lat) * 1000,
        "latency_p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
    }


async def hold(
    client: Client, *, stations: int, hold_s: float, heartbeat_s: float, server_pid: int
) -> dict[str, Any]:
    sem = asyncio.Semaphore(50)  # connect at most 50 at a time
    connected: list[Any] = []
    failures = 0

    async def one(i: int) -> None:
        nonlocal failures
        async with sem:
            try:
                connected.append(await client.connect(station_id(i)).__aenter__())
            except Exception:
                failures += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(stations)))
    connect_s = time.perf_counter() - t0
    answered = 0
    lost = 0
    deadline = time.perf_counter() + hold_s

    async def beat(ws: Any, k: int) -> None:
        nonlocal answered, lost
        n = 0
        await asyncio.sleep(heartbeat_s * (k % 100) / 100)  # spread the heartbeats
        while time.perf_counter() < deadline:
            n += 1
            try:
                await ws.send(f'[2,"h{k}-{n}","Heartbeat",{{}}]')
                await asyncio.wait_for(ws.recv(), 30)
                answered += 1
            except Exception:
                lost += 1
                return
            await asyncio.sleep(heartbeat_s)

    await asyncio.gather(*(beat(ws, k) for k, ws in enumerate(connected)))
    memory = rss_mb(server_pid)
    for ws in connected:
        await ws.close()
    return {
        "stations": stations,
        "connected": len(connected),
        "connect_failures": failures,
        "connect_s": connect_s,
        "held_to_the_end": len(connected) - lost,
        "heartbeats_answered": answered,
        "server_rss_mb": memory,
    }


def start_server(mode: str, pki: Path, stations: int) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            mode,
            "--port",
            str(port),
            "--pki",
            str(pki),
            "--registered",
            str(stations),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise SystemExit(f"the {mode} server did not start")
    return proc, port


async def run(args: argparse.Namespace) -> int:
    registered = max(args.hold, args.concurrency, args.stations)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        pki = Path(tmp)
        t0 = time.perf_counter()
        make_pki(pki, registered)
        print(f"PKI: {registered} station certificates in {time.perf_counter() - t0:.1f} s")
        for mode in args.modes:
            proc, port = start_server(mode, pki, registered)
            scheme = "ws" if mode in ("ws", "ws-mixed") else "wss"
            client = Client(mode, f"{scheme}://127.0.0.1:{port}/ocpp/", pki)
            try:
                # every station's password verified once (the server remembers the pair)
                for i in range(max(args.concurrency, args.stations)):
                    async with client.connect(station_id(i)):
                        pass
                cpu0 = cpu_s(proc.pid)
                row: dict[str, Any] = {"mode": mode}
                row.update(
                    await handshakes(
                        client, concurrency=args.concurrency, duration_s=args.duration_s
                    )
                )
                row["server_cpu_ms_per_handshake"] = (
                    (cpu_s(proc.pid) - cpu0) * 1000 / max(row["handshakes"], 1)
                )
                cpu0 = cpu_s(proc.pid)
                row.update(
                    await call_latency(client, stations=args.stations, duration_s=args.duration_s)
                )
                row["server_cpu_us_per_call"] = (
                    (cpu_s(proc.pid) - cpu0) * 1e6 / max(row["calls"], 1)
                )
                if mode == "mtls" and args.hold:
                    row["hold"] = await hold(
                        client,
                        stations=args.hold,
                        hold_s=args.hold_s,
                        heartbeat_s=args.hold_heartbeat_s,
                        server_pid=proc.pid,
                    )
                rows.append(row)
            finally:
                proc.terminate()
                proc.wait(10)
    base = next((r for r in rows if r["mode"] == "ws"), None)
    print(
        f"\n{'mode':<8} {'handshakes/s':>13} {'ratio':>6} {'hs median ms':>13} "
        f"{'srv CPU ms/hs':>14} {'calls/s':>8} {'call median ms':>15} {'added ms':>9} "
        f"{'p99 ms':>8} {'srv CPU us/call':>16}"
    )
    for r in rows:
        ratio = r["handshakes_per_s"] / base["handshakes_per_s"] if base else float("nan")
        added = r["latency_median_ms"] - base["latency_median_ms"] if base else float("nan")
        r["handshakes_ratio_to_ws"] = ratio
        r["added_latency_ms"] = added
        print(
            f"{r['mode']:<8} {r['handshakes_per_s']:>13.0f} {ratio:>6.2f} "
            f"{r['handshake_median_ms']:>13.2f} {r['server_cpu_ms_per_handshake']:>14.2f} "
            f"{r['calls_per_s']:>8.0f} {r['latency_median_ms']:>15.3f} {added:>9.3f} "
            f"{r['latency_p99_ms']:>8.2f} {r['server_cpu_us_per_call']:>16.0f}"
        )
    for r in rows:
        if "hold" in r:
            h = r["hold"]
            print(
                f"\nprofile 3 held: {h['held_to_the_end']}/{h['stations']} stations to the end "
                f"({h['connect_failures']} failed to connect, connected in "
                f"{h['connect_s']:.1f} s), {h['heartbeats_answered']} heartbeats answered, "
                f"server RSS {h['server_rss_mb']:.0f} MB"
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"tls_profiles-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"args": vars(args), "cpus": os.cpu_count(), "rows": rows}, indent=2))
    print(f"\nwritten {out.relative_to(ROOT)}")
    failed = any(r["failed"] for r in rows) or any(
        r["hold"]["held_to_the_end"] < r["hold"]["stations"] for r in rows if "hold" in r
    )
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--duration-s", type=float, default=10.0, help="per measurement")
    p.add_argument("--concurrency", type=int, default=20, help="handshake workers")
    p.add_argument("--stations", type=int, default=20, help="stations for the latency")
    p.add_argument("--hold", type=int, default=1000, help="profile-3 stations held (0: none)")
    p.add_argument("--hold-s", type=float, default=60.0)
    p.add_argument("--hold-heartbeat-s", type=float, default=10.0)
    p.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--pki", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--registered", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.pki, args.registered)
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
