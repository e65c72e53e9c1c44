"""CSMS throughput per server CPU-second: chargegrid against a stock-library central system.

N concurrent stations on loopback send one kind of call (``--calls``):

- ``heartbeat16``: OCPP 1.6 Heartbeat;
- ``meter16``: OCPP 1.6 MeterValues with 3 sampled values, inside a transaction started
  (unmeasured) after the boot;
- ``txevent201`` / ``txevent21``: OCPP 2.0.1 / 2.1 TransactionEvent ``Updated`` with 3
  sampled values, inside a transaction started (unmeasured) after the boot;
- ``mix16``: 1.6 Heartbeat, StatusNotification and 4-value MeterValues in turn (the older
  benchmark's load).

Each station calls either as fast as answered (``--intervals 0``, saturated) or paced (one
call every ``S`` seconds). The targets are ``chargegrid serve`` as in production (SQLite or
PostgreSQL, telemetry to the embedded store, API and planner on) and the *stock* peer: a
central system written the textbook way on the ``ocpp`` library (``ocpp.v16`` /
``ocpp.v201`` / ``ocpp.v21`` ``ChargePoint`` with ``@on`` handlers, state in memory),
measured in the same run, in interleaved ``--rounds``. ``serve`` runs on the event loop its
settings choose (uvloop by default, decision 0250; ``CHARGEGRID_SERVER__EVENT_LOOP=asyncio``
in the environment for the standard one, labelled ``/asyncio``); the stock peer runs on the
standard loop, as the textbook server does.

Fairness on a small shared machine:

- the load generator runs in its own processes, pinned to the last CPU; the server is pinned
  to the first (``os.sched_setaffinity``; with one CPU nothing is pinned);
- the server's CPU is its whole process (every thread) and its children, read from
  ``/proc`` through psutil; for PostgreSQL the CPU of the benchmark database's backends is
  measured too and reported beside it (``db cpu``), and ``calls/all-cpu-s`` counts both;
- every row reports calls per server CPU-second, p50/p99 round trip, peak RSS, the load
  generator's CPU and the 1-minute load average.

Prints a table and the ratios to the stock peer, writes
``benchmarks/results/csms_throughput-<time>.json``.

    python benchmarks/csms_throughput.py                      # everything, 3 rounds
    python benchmarks/csms_throughput.py --calls txevent201 --stations 100 --rounds 1 \\
        --targets stock sqlite --duration-s 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PG_ADMIN = os.environ.get(
    "CHARGEGRID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CALLS = ("heartbeat16", "meter16", "txevent201", "txevent21", "mix16")
SUBPROTOCOL = {
    "heartbeat16": "ocpp1.6",
    "meter16": "ocpp1.6",
    "mix16": "ocpp1.6",
    "txevent201": "ocpp2.0.1",
    "txevent21": "ocpp2.1",
}


def _cpus() -> tuple[set[int], set[int]] | None:
    """(server CPUs, load generator CPUs), or None when there is only one CPU."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None
    if len(cpus) < 2:
        return None
    return set(cpus[:-1]), {cpus[-1]}


def _pin(cpus: set[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


# -- the stock peer: the library's textbook central system ---------------------------------
def stock_classes() -> dict[str, Any]:
    """OCPP 1.6 / 2.0.1 / 2.1 on the ``ocpp`` library's ``ChargePoint`` with ``@on``
    handlers, state in memory, as its documentation's central system example does it: the
    class per subprotocol."""
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint as Cp16
    from ocpp.v16 import call_result as r16
    from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus
    from ocpp.v21 import ChargePoint as Cp21
    from ocpp.v21 import call_result as r21
    from ocpp.v201 import ChargePoint as Cp201
    from ocpp.v201 import call_result as r201

    state: dict[str, Any] = {"next_tx": 1, "tx16": {}, "tx2": {}, "status": {}, "seen": {}}

    def now() -> str:
        return datetime.now(UTC).isoformat()

    class CentralSystem16(Cp16):  # type: ignore[misc]
        @on("BootNotification")
        def on_boot_notification(
            self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
        ) -> Any:
            return r16.BootNotification(
                current_time=now(), interval=60, status=RegistrationStatus.accepted
            )

        @on("Heartbeat")
        def on_heartbeat(self) -> Any:
            state["seen"][self.id] = now()
            return r16.Heartbeat(current_time=now())

        @on("StatusNotification")
        def on_status_notification(self, connector_id: int, status: str, **kwargs: Any) -> Any:
            state["status"][(self.id, connector_id)] = status
            return r16.StatusNotification()

        @on("StartTransaction")
        def on_start_transaction(
            self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kw: Any
        ) -> Any:
            tx_id = state["next_tx"]
            state["next_tx"] += 1
            state["tx16"][tx_id] = {"station": self.id, "meter": meter_start, "values": None}
            return r16.StartTransaction(
                transaction_id=tx_id, id_tag_info={"status": AuthorizationStatus.accepted}
            )

        @on("MeterValues")
        def on_meter_values(self, connector_id: int, meter_value: list[Any], **kw: Any) -> Any:
            tx = state["tx16"].get(kw.get("transaction_id"))
            if tx is not None:
                tx["values"] = meter_value
            return r16.MeterValues()

    def v2(base: Any, result: Any) -> Any:
        class CentralSystem2(base):  # type: ignore[misc,valid-type]
            @on("BootNotification")
            def on_boot_notification(
                self, charging_station: dict[str, Any], reason: str, **kw: Any
            ) -> Any:
                return result.BootNotification(current_time=now(), interval=60, status="Accepted")

            @on("Heartbeat")
            def on_heartbeat(self) -> Any:
                state["seen"][self.id] = now()
                return result.Heartbeat(current_time=now())

            @on("TransactionEvent")
            def on_transaction_event(
                self,
                event_type: str,
                timestamp: str,
                trigger_reason: str,
                seq_no: int,
                transaction_info: dict[str, Any],
                **kw: Any,
            ) -> Any:
                key = (self.id, transaction_info["transaction_id"])
                tx = state["tx2"].setdefault(key, {"seq_no": -1, "values": None})
                tx["seq_no"] = max(tx["seq_no"], seq_no)
                tx["state"] = transaction_info.get("charging_state")
                if kw.get("meter_value"):
                    tx["values"] = kw["meter_value"]
                if event_type == "Ended":
                    state["tx2"].pop(key, None)
                return result.TransactionEvent()

        return CentralSystem2

    return {
        "ocpp1.6": CentralSystem16,
        "ocpp2.0.1": v2(Cp201, r201),
        "ocpp2.1": v2(Cp21, r21),
    }


def serve_stock(port: int) -> None:
    """The stock central system (:func:`stock_classes`) on ``websockets``."""
    import logging

    from websockets.asyncio.server import serve

    logging.basicConfig(level=logging.WARNING)
    classes = stock_classes()

    async def on_connect(websocket: Any) -> None:
        charge_point_id = websocket.request.path.strip("/").split("/")[-1]
        cp = classes[websocket.subprotocol](charge_point_id, websocket)
        with contextlib.suppress(Exception):
            await cp.start()

    async def main() -> None:
        async with serve(
            on_connect,
            "127.0.0.1",
            port,
            subprotocols=["ocpp2.1", "ocpp2.0.1", "ocpp1.6"],
            # websockets' default (20 s) unless the benchmark sets both sides' interval
            ping_interval=float(os.environ.get("CHARGEGRID_SERVER__PING_INTERVAL_S", "20")),
        ) as server:
            loop = asyncio.get_running_loop()
            stop = loop.create_future()
            loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
            await stop
            server.close()

    asyncio.run(main())


# -- servers ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


async def prepare_database(url: str, n: int) -> None:
    sys.path.insert(0, str(ROOT))
    from csms.store import open_store
    from csms.store.base import StationRecord

    store = open_store(url)
    await store.open()
    try:
        for i in range(n):
            await store.put_station(StationRecord(f"BENCH{i:05d}"))
    finally:
        await store.close()


async def pg_admin(sql: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _proc_cpu_s(pid: int) -> float | None:
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
    except Exception:  # gone, or not ours to read
        return None
    return float(t.user + t.system)


class Target:
    """One server process to measure."""

    def __init__(self, kind: str, n: int, workdir: Path, telemetry: str = "on") -> None:
        self.kind = kind
        self.n = n
        self.telemetry = telemetry if kind != "stock" else "-"
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pg_db: str | None = None
        #: a command the server runs under (valgrind, for connect_cost.py)
        self.wrap: list[str] = []
        self.start_timeout_s = 60.0

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if self.kind == "stock":
            argv = [sys.executable, __file__, "--serve-stock", str(self.port)]
        else:
            if self.kind == "memory":
                url = "memory://"
                env["CHARGEGRID_SERVER__UNKNOWN_STATIONS"] = "accept"
            elif self.kind == "sqlite":
                db = self.workdir / f"bench-{self.n}-{self.port}.db"
                for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                    stale.unlink(missing_ok=True)
                url = f"sqlite+aiosqlite:///{db}"
            else:
                self.pg_db = f"chargegrid_bench_{secrets.token_hex(4)}"
                await pg_admin(f'CREATE DATABASE "{self.pg_db}"')
                import sqlalchemy as sa

                url = (
                    sa.make_url(PG_ADMIN)
                    .set(drivername="postgresql+asyncpg", database=self.pg_db)
                    .render_as_string(hide_password=False)
                )
            if self.kind != "memory":
                await prepare_database(url, self.n)
            argv = [
                sys.executable,
                "-m",
                "chargegrid",
                "--log-level",
                "WARNING",
                "serve",
                "--database-url",
                url,
                "--port",
                str(self.port),
            ]
            env.setdefault("CHARGEGRID_SERVER__PING_INTERVAL_S", "60")
            env["CHARGEGRID_API__PORT"] = "0"  # the API stays on, on a free port
            # Fresh telemetry files for every run: the embedded store would otherwise grow
            # from run to run (and PostgreSQL runs would write into ./data).
            for name in ("embedded_path", "outbox_path"):
                path = self.workdir / f"telemetry-{name.split('_')[0]}-{self.port}.sqlite3"
                for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                    stale.unlink(missing_ok=True)
                env[f"CHARGEGRID_TELEMETRY__{name.upper()}"] = str(path)
            if self.telemetry == "off":
                env["CHARGEGRID_TELEMETRY__ENABLED"] = "false"
        cpus = _cpus()
        server_cpus = cpus[0] if cpus else None
        self.proc = await asyncio.to_thread(
            subprocess.Popen,
            [*self.wrap, *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            # Pinned before exec: every thread the server starts inherits it.
            preexec_fn=(lambda: _pin(server_cpus)) if server_cpus else None,
        )
        await asyncio.to_thread(wait_port, self.port, self.proc, self.start_timeout_s)
        await self.wait_idle()

    async def wait_idle(self, timeout_s: float = 60.0) -> None:
        """Until the server has finished starting (the OCPP port opens before the API and
        the planner are up): its CPU use drops below 5 % over half a second. The connect
        phase measured next is then the stations' cost alone."""
        deadline = time.monotonic() + timeout_s
        last = await asyncio.to_thread(self.cpu_seconds)
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            now = await asyncio.to_thread(self.cpu_seconds)
            if now - last < 0.025:
                return
            last = now

    def _processes(self) -> list[Any]:
        """The server and any process it started (all of them count)."""
        import psutil

        assert self.proc is not None
        main = psutil.Process(self.proc.pid)
        return [main, *main.children(recursive=True)]

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._processes():
            with contextlib.suppress(Exception):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def rss_bytes(self) -> int:
        total = 0
        for p in self._processes():
            with contextlib.suppress(Exception):
                total += int(p.memory_info().rss)
        return total

    async def db_cpu(self) -> dict[int, float]:
        """CPU seconds of each PostgreSQL backend serving the benchmark database."""
        if self.pg_db is None:
            return {}
        rows = await pg_admin("SELECT pid FROM pg_stat_activity WHERE datname = $1", self.pg_db)
        out: dict[int, float] = {}
        for row in rows:
            cpu = _proc_cpu_s(int(row["pid"]))
            if cpu is not None:
                out[int(row["pid"])] = cpu
        return out

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.pg_db is not None:
            await pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)')
        # This run's files (named by its port, so concurrent runs never share one).
        for path in self.workdir.glob(f"*-{self.port}.*"):
            path.unlink(missing_ok=True)


# -- load ---------------------------------------------------------------------------------
# The load runs in ``--load-procs`` worker processes (spawned, each with its own event loop
# and its share of the stations, pinned away from the server), so one Python process is not
# the bottleneck. Frames are pre-encoded templates (only the message id, timestamps, seqNo
# and meter reading change) and an answer is checked by its MessageTypeId byte, not parsed.

_BOOT16 = '[2,"boot","BootNotification",{"chargePointVendor":"Bench","chargePointModel":"Load"}]'
_BOOT2 = (
    '[2,"boot","BootNotification",'
    '{"chargingStation":{"vendorName":"Bench","model":"Load"},"reason":"PowerUp"}]'
)
_HEARTBEAT = '[2,"%d","Heartbeat",{}]'
_STATUS = (
    '[2,"%d","StatusNotification",{"connectorId":%d,"errorCode":"NoError",'
    '"status":"%s","timestamp":"%s"}]'
)
_METER_MIX = (
    '[2,"%d","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"%s","sampledValue":['
    '{"value":"%.1f","measurand":"Energy.Active.Import.Register","unit":"Wh"},'
    '{"value":"7.4","measurand":"Power.Active.Import","unit":"kW"},'
    '{"value":"32.0","measurand":"Current.Import","unit":"A","phase":"L1"},'
    '{"value":"230.1","measurand":"Voltage","unit":"V","phase":"L1-N"}]}]}]'
)
_START16 = (
    '[2,"start","StartTransaction",{"connectorId":1,"idTag":"BENCHTAG","meterStart":0,'
    '"timestamp":"%s"}]'
)
_METER16 = (
    '[2,"%d","MeterValues",{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":'
    '"%s","sampledValue":['
    '{"value":"%.1f","measurand":"Energy.Active.Import.Register","unit":"Wh"},'
    '{"value":"7.4","measurand":"Power.Active.Import","unit":"kW"},'
    '{"value":"32.0","measurand":"Current.Import","unit":"A","phase":"L1"}]}]}]'
)
_TX_STARTED = (
    '[2,"start","TransactionEvent",{"eventType":"Started","timestamp":"%s",'
    '"triggerReason":"CablePluggedIn","seqNo":0,'
    '"transactionInfo":{"transactionId":"%s","chargingState":"EVConnected"},'
    '"evse":{"id":1,"connectorId":1}}]'
)
_TX_UPDATED = (
    '[2,"%d","TransactionEvent",{"eventType":"Updated","timestamp":"%s",'
    '"triggerReason":"MeterValuePeriodic","seqNo":%d,'
    '"transactionInfo":{"transactionId":"%s","chargingState":"Charging"},'
    '"meterValue":[{"timestamp":"%s","sampledValue":['
    '{"value":%.1f,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}},'
    '{"value":7400.0,"measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W"}},'
    '{"value":32.0,"measurand":"Current.Import","phase":"L1",'
    '"unitOfMeasure":{"unit":"A"}}]}]}]'
)
_STATUSES = ("Available", "Charging", "SuspendedEV")
_second = [-1, ""]


def _now() -> str:
    """RFC 3339 UTC with microseconds (distinct per call, so no sample is a duplicate)."""
    t = time.time()
    sec = int(t)
    if sec != _second[0]:
        _second[0] = sec
        _second[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_second[1]}.{int((t - sec) * 1_000_000):06d}Z"


class Load:
    """One station's calls of a kind: ``setup`` (unmeasured) and then ``frame(seq)``."""

    def __init__(self, kind: str, i: int) -> None:
        self.kind = kind
        self.tx_id = 0
        self.station_tx_id = f"BTX{i:05d}-{secrets.token_hex(3)}"

    async def setup(self, ws: Any) -> None:
        await ws.send(_BOOT16 if SUBPROTOCOL[self.kind] == "ocpp1.6" else _BOOT2)
        await _expect_result(ws)
        if self.kind == "meter16":
            await ws.send(_START16 % _now())
            self.tx_id = int(json.loads(await _expect_result(ws))[2]["transactionId"])
        elif self.kind in ("txevent201", "txevent21"):
            await ws.send(_TX_STARTED % (_now(), self.station_tx_id))
            await _expect_result(ws)

    def frame(self, seq: int) -> str:
        kind = self.kind
        if kind == "heartbeat16":
            return _HEARTBEAT % seq
        if kind == "meter16":
            return _METER16 % (seq, self.tx_id, _now(), seq * 1.5)
        if kind in ("txevent201", "txevent21"):
            now = _now()
            return _TX_UPDATED % (seq, now, seq + 1, self.station_tx_id, now, seq * 1.5)
        step = seq % 3
        if step == 0:
            return _HEARTBEAT % seq
        if step == 1:
            return _STATUS % (seq, 1 + seq % 2, _STATUSES[seq % 3], _now())
        return _METER_MIX % (seq, _now(), seq * 1.5)


async def _expect_result(ws: Any) -> str:
    answer = str(await ws.recv())
    if answer[1:2] != "3":
        raise RuntimeError(f"setup call refused: {answer[:200]}")
    return answer


async def station(
    url: str,
    kind: str,
    i: int,
    interval_s: float,
    window: dict[str, float],
    latencies: list[float],
    errors: list[str],
    ready: asyncio.Event,
    connected: list[int],
    gate: asyncio.Semaphore,
) -> None:
    from websockets.asyncio.client import connect

    clock = time.perf_counter
    load = Load(kind, i)
    await gate.acquire()  # at most so many stations connecting at once
    opening = True
    try:
        async with connect(
            f"{url}BENCH{i:05d}",
            subprotocols=[SUBPROTOCOL[kind]],  # type: ignore[list-item]
            open_timeout=120,
            ping_interval=None,
            compression=None,
            max_queue=4,
        ) as ws:
            await load.setup(ws)
            connected[0] += 1
            gate.release()
            opening = False
            await ready.wait()
            start_at, measure_at, end_at = window["start"], window["measure"], window["end"]
            seq = random.randrange(3)
            next_at = start_at + (random.random() * interval_s if interval_s else 0.0)
            send, recv, frame = ws.send, ws.recv, load.frame
            while True:
                now = clock()
                if interval_s and next_at > now:
                    await asyncio.sleep(next_at - now)
                t0 = clock()
                if t0 >= end_at:
                    break
                await send(frame(seq))
                answer = await recv()
                t1 = clock()
                if answer[1:2] != "3":
                    errors.append(str(answer)[:200])
                if t0 >= measure_at:
                    latencies.append(t1 - t0)
                seq += 1
                next_at += interval_s
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        if opening:
            gate.release()


def load_worker(
    url: str, kind: str, indices: list[int], interval_s: float, cpus: Any, pipe: Any
) -> None:
    """One load process: connect ``indices``, report, wait for the window, run, report."""
    import array

    _pin(cpus)

    async def body() -> None:
        latencies: list[float] = []
        errors: list[str] = []
        connected = [0]
        ready = asyncio.Event()
        window: dict[str, float] = {}
        # The throughput runs are not a reconnect storm (reconnect_storm.py is): at most 50
        # stations of this process are between their handshake and their setup's answers.
        gate = asyncio.Semaphore(50)
        tasks = [
            asyncio.create_task(
                station(url, kind, i, interval_s, window, latencies, errors, ready, connected, gate)
            )
            for i in indices
        ]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 180
        while connected[0] + len(errors) < len(indices) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        pipe.send(("connected", connected[0], errors[:5]))
        _, start_wall, measure_wall, end_wall = await asyncio.to_thread(pipe.recv)
        # wall-clock instants agreed with the parent, on this process's perf_counter
        offset = time.perf_counter() - time.time()
        window.update(
            start=start_wall + offset, measure=measure_wall + offset, end=end_wall + offset
        )
        ready.set()
        await asyncio.sleep(max(0.0, measure_wall - time.time()))
        cpu0 = sum(os.times()[:2])
        await asyncio.sleep(max(0.0, end_wall - time.time()))
        cpu1 = sum(os.times()[:2])
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        pipe.send(
            ("done", array.array("d", latencies).tobytes(), errors[:20], len(errors), cpu1 - cpu0)
        )

    asyncio.run(body())


async def run_load(
    target: Target,
    kind: str,
    *,
    interval_s: float,
    duration_s: float,
    warmup_s: float,
    procs: int,
) -> dict[str, Any]:
    import array
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    url = f"ws://127.0.0.1:{target.port}/ocpp/"
    procs = max(1, min(procs, target.n))
    cpus = _cpus()
    workers = []
    connect_cpu0 = await asyncio.to_thread(target.cpu_seconds)
    rss0 = await asyncio.to_thread(target.rss_bytes)
    connect_t0 = time.perf_counter()
    for w in range(procs):
        mine, theirs = ctx.Pipe()
        indices = list(range(w, target.n, procs))
        proc = ctx.Process(
            target=load_worker,
            args=(url, kind, indices, interval_s, cpus[1] if cpus else None, theirs),
            daemon=True,
        )
        proc.start()
        workers.append((proc, mine))
    try:
        connected = 0
        errors: list[str] = []
        for _, pipe in workers:
            _, count, first = await asyncio.to_thread(pipe.recv)
            connected += count
            errors += first
        connect_s = time.perf_counter() - connect_t0
        connect_cpu_s = await asyncio.to_thread(target.cpu_seconds) - connect_cpu0
        rss_connected = await asyncio.to_thread(target.rss_bytes)
        start = time.time() + 0.5
        measure = start + warmup_s
        end = measure + duration_s
        for _, pipe in workers:
            pipe.send(("go", start, measure, end))
        await asyncio.sleep(max(0.0, measure - time.time()))
        cpu0 = await asyncio.to_thread(target.cpu_seconds)
        db0 = await target.db_cpu()
        rss_peak = 0
        while time.time() < end:
            await asyncio.sleep(min(0.5, max(0.0, end - time.time())))
            rss_peak = max(rss_peak, await asyncio.to_thread(target.rss_bytes))
        cpu1 = await asyncio.to_thread(target.cpu_seconds)
        db1 = await target.db_cpu()
        load_average = os.getloadavg()[0]
        lat_all: list[float] = []
        n_errors = 0
        loadgen_cpu = 0.0
        for _, pipe in workers:
            _, raw, first, count, cpu = await asyncio.to_thread(pipe.recv)
            values = array.array("d")
            values.frombytes(raw)
            lat_all.extend(values)
            errors += first
            n_errors += count
            loadgen_cpu += cpu
    finally:
        for proc, _ in workers:
            await asyncio.to_thread(proc.join, 10)
            if proc.is_alive():
                proc.kill()
    lat = sorted(lat_all)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    server_cpu_s = cpu1 - cpu0
    # A backend that started during the window counts from zero; one that ended is lost
    # (the pool keeps its connections, so neither happens in practice).
    db_cpu_s = sum(cpu - db0.get(pid, 0.0) for pid, cpu in db1.items()) if db1 else 0.0
    all_cpu_s = server_cpu_s + db_cpu_s
    return {
        "target": target.kind,
        "telemetry": target.telemetry,
        # the stock peer always runs on the standard loop; chargegrid on its setting
        "event_loop": "asyncio"
        if target.kind == "stock"
        else os.environ.get("CHARGEGRID_SERVER__EVENT_LOOP", "auto"),
        "calls_kind": kind,
        "stations": target.n,
        "connected": connected,
        "interval_s": interval_s,
        "duration_s": duration_s,
        "load_procs": procs,
        "pinned": cpus is not None,
        "calls": len(lat),
        "calls_per_s": len(lat) / duration_s,
        "calls_per_server_cpu_s": len(lat) / server_cpu_s if server_cpu_s > 0 else float("nan"),
        "calls_per_all_cpu_s": len(lat) / all_cpu_s if all_cpu_s > 0 else float("nan"),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "server_rss_mb": rss_peak / 2**20,
        "server_cpu_pct": 100 * server_cpu_s / duration_s,
        "db_cpu_pct": 100 * db_cpu_s / duration_s,
        "loadgen_cpu_pct": 100 * loadgen_cpu / duration_s,
        "load_average_1min": load_average,
        # Connecting: handshake, BootNotification and (meter16/txevent) the unmeasured
        # transaction start, for every station; RSS grown per connected station.
        "connect_s": connect_s,
        "connect_server_cpu_ms_per_station": 1000 * connect_cpu_s / max(1, connected),
        "rss_kb_per_station": (rss_connected - rss0) / 1024 / max(1, connected),
        "errors": n_errors + (target.n - connected),
        "first_errors": errors[:5],
    }


def label(row: dict[str, Any]) -> str:
    tel = "" if row["telemetry"] in ("on", "-") else "/tel-off"
    loop = "/asyncio" if row["target"] != "stock" and row["event_loop"] == "asyncio" else ""
    return f"{row['target']}{tel}{loop}"


def mode(row: dict[str, Any]) -> str:
    interval = row["interval_s"]
    return "saturate" if interval == 0 else f"1/{interval:g}s"


def print_row(row: dict[str, Any]) -> None:
    db = f" db {row['db_cpu_pct']:3.0f}%" if row["target"] == "postgres" else ""
    print(
        f"{row['calls_kind']:<11} {label(row):<16} n={row['stations']:<5} {mode(row):<9} "
        f"{row['calls_per_s']:7.0f} calls/s  "
        f"{row['calls_per_server_cpu_s']:6.0f} calls/cpu-s  "
        f"p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:8.2f} ms  "
        f"rss {row['server_rss_mb']:6.1f} MB  cpu {row['server_cpu_pct']:3.0f}%{db} "
        f"(loadgen {row['loadgen_cpu_pct']:3.0f}%, load {row['load_average_1min']:.1f})  "
        f"errors {row['errors']}  connect {row['connect_server_cpu_ms_per_station']:.2f} "
        f"cpu-ms/station, {row['rss_kb_per_station']:.0f} KB/station",
        flush=True,
    )


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (calls, stations, pacing, target): medians over rounds and the ratio to stock."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        key = (row["calls_kind"], row["stations"], row["interval_s"], label(row))
        groups.setdefault(key, []).append(row)
    out = []
    for (kind, n, interval, name), members in groups.items():
        out.append(
            {
                "calls_kind": kind,
                "stations": n,
                "interval_s": interval,
                "target": name,
                "rounds": len(members),
                "calls_per_server_cpu_s": statistics.median(
                    r["calls_per_server_cpu_s"] for r in members
                ),
                "calls_per_all_cpu_s": statistics.median(r["calls_per_all_cpu_s"] for r in members),
                "calls_per_s": statistics.median(r["calls_per_s"] for r in members),
                "p99_ms": statistics.median(r["p99_ms"] for r in members),
                "db_cpu_pct": statistics.median(r["db_cpu_pct"] for r in members),
                "rss_mb": statistics.median(r["server_rss_mb"] for r in members),
                "connect_cpu_ms": statistics.median(
                    r["connect_server_cpu_ms_per_station"] for r in members
                ),
                "rss_kb_per_station": statistics.median(r["rss_kb_per_station"] for r in members),
                "errors": sum(r["errors"] for r in members),
            }
        )
    for s in out:
        base = next(
            (
                b
                for b in out
                if b["target"] == "stock"
                and (b["calls_kind"], b["stations"], b["interval_s"])
                == (s["calls_kind"], s["stations"], s["interval_s"])
            ),
            None,
        )
        if base is not None and s is not base:
            s["x_stock_per_cpu_s"] = s["calls_per_server_cpu_s"] / base["calls_per_server_cpu_s"]
            s["x_stock_per_all_cpu_s"] = s["calls_per_all_cpu_s"] / base["calls_per_server_cpu_s"]
            s["stock_p99_ms"] = base["p99_ms"]
            s["x_stock_connect_cpu"] = s["connect_cpu_ms"] / base["connect_cpu_ms"]
            s["stock_rss_kb_per_station"] = base["rss_kb_per_station"]
    return out


def print_summary(summary: list[dict[str, Any]]) -> None:
    print()
    print("medians over rounds; ratio to the stock peer in calls per server CPU-second")
    print("(x all-cpu: server + database backends against the stock server)")
    for s in summary:
        if "x_stock_per_cpu_s" not in s:
            continue
        interval = "saturate" if s["interval_s"] == 0 else f"1/{s['interval_s']:g}s"
        print(
            f"  {s['calls_kind']:<11} {s['target']:<16} n={s['stations']:<5} {interval:<9} "
            f"x{s['x_stock_per_cpu_s']:.2f} (x all-cpu {s['x_stock_per_all_cpu_s']:.2f})  "
            f"p99 {s['p99_ms']:.0f} ms vs stock {s['stock_p99_ms']:.0f} ms  "
            f"rss {s['rss_mb']:.0f} MB  errors {s['errors']}  connect CPU "
            f"x{s['x_stock_connect_cpu']:.2f}, {s['rss_kb_per_station']:.0f} vs "
            f"{s['stock_rss_kb_per_station']:.0f} KB/station"
        )


async def main(args: argparse.Namespace) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    workdir = RESULTS / "work"
    workdir.mkdir(exist_ok=True)
    rows: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        for n in args.stations:
            for kind in args.calls:
                for target_kind in args.targets:
                    for telemetry in args.telemetry if target_kind != "stock" else ["-"]:
                        target = Target(target_kind, n, workdir, telemetry)
                        await target.start()
                        try:
                            for interval in args.intervals:
                                row = await run_load(
                                    target,
                                    kind,
                                    interval_s=interval,
                                    duration_s=args.duration_s,
                                    warmup_s=args.warmup_s,
                                    procs=args.load_procs,
                                )
                                rows.append(row)
                                print_row(row)
                        finally:
                            await target.stop()
    summary = summarize(rows)
    print_summary(summary)
    out = RESULTS / f"csms_throughput-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps(
            {"args": vars(args), "cpus": os.cpu_count(), "rows": rows, "summary": summary},
            indent=2,
        )
    )
    print(f"saved {out.relative_to(ROOT)}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--stations",
        type=int,
        nargs="+",
        default=[100, 1000],
        help="numbers of concurrent stations (default 100 1000)",
    )
    p.add_argument(
        "--calls",
        nargs="+",
        default=["heartbeat16", "meter16", "txevent201", "txevent21"],
        choices=CALLS,
        help="kinds of call, one kind per run (default all but mix16)",
    )
    p.add_argument(
        "--targets",
        nargs="+",
        default=["stock", "sqlite", "postgres"],
        choices=["stock", "memory", "sqlite", "postgres"],
        help="servers to measure (memory: no persistence, for diagnosis)",
    )
    p.add_argument(
        "--intervals",
        type=float,
        nargs="+",
        default=[0.0, 1.0],
        metavar="S",
        help="seconds between one station's calls; 0 = as fast as answered (default 0 1)",
    )
    p.add_argument(
        "--telemetry",
        nargs="+",
        default=["on"],
        choices=["on", "off"],
        help="telemetry of the chargegrid targets (default on, as in production)",
    )
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument(
        "--load-procs",
        type=int,
        default=2,
        help="load generator processes sharing the stations (default 2, on one CPU)",
    )
    p.add_argument("--duration-s", type=float, default=15.0, help="measured seconds per run")
    p.add_argument("--warmup-s", type=float, default=2.0, help="unmeasured seconds first")
    p.add_argument("--serve-stock", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_stock:
        serve_stock(arguments.serve_stock)
        raise SystemExit(0)
    raise SystemExit(asyncio.run(main(arguments)))
