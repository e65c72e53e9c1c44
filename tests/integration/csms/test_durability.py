"""Acknowledged means durable: a SIGKILLed server keeps what it answered, and a database
outage holds transaction answers instead of turning them into CALLERRORs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from chargegrid.clock import ManualClock
from csms.app import Csms
from csms.store import SqlStore
from csms.store.base import StationRecord
from csms.store.engine import DURABILITY_LEVELS
from tests.integration.csms.conftest import PASSWORD, PASSWORD_HASH, make_settings
from tests.integration.csms.databases import temporary_postgres, terminate_backends
from tests.integration.csms.proxy import TcpProxy
from tests.integration.csms.stations import raw_connect
from tests.services import free_port, port_open
from tests.waiting import wait_until_sync

ROOT = Path(__file__).resolve().parents[3]
BOOT16 = {"chargePointVendor": "Acme", "chargePointModel": "AC22"}


async def rpc(
    ws: Any, unique_id: str, action: str, payload: dict[str, Any], timeout_s: float = 10.0
) -> list[Any]:
    await ws.send(json.dumps([2, unique_id, action, payload]))
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
    return answer


def stop_frame(tx_id: int) -> dict[str, Any]:
    return {
        "transactionId": tx_id,
        "meterStop": 4200,
        "timestamp": "2026-03-02T08:00:00Z",
        "reason": "Local",
        "transactionData": [
            {
                "timestamp": f"2026-03-02T07:{m:02d}:00Z",
                "sampledValue": [
                    {"value": str(1000 + 100 * m), "unit": "Wh"},
                    {"value": "7.2", "unit": "kW", "measurand": "Power.Active.Import"},
                ],
            }
            for m in (10, 20, 30)
        ],
    }


# -- SIGKILL ----------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'durable.db'}"
    else:
        yield from temporary_postgres()


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chargegrid", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def _serve(
    url: str, port: int, log: Path, durability: str = "power-loss"
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "chargegrid", "--log-level", "WARNING", "serve"]
    argv += ["--database-url", url, "--port", str(port), "--no-api"]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # With PostgreSQL the telemetry files have no database folder to go beside.
        "CHARGEGRID_TELEMETRY__EMBEDDED_PATH": str(log.parent / "telemetry.sqlite3"),
        "CHARGEGRID_TELEMETRY__OUTBOX_PATH": str(log.parent / "telemetry-outbox.sqlite3"),
        "CHARGEGRID_DATABASE__DURABILITY": durability,
    }
    with log.open("ab") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)

    def listening() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {log.read_text()}")
        return port_open("127.0.0.1", port, 0.2)

    try:
        wait_until_sync(listening, 30.0, "serve to listen", every_s=0.1)
    except AssertionError:
        proc.kill()
        raise
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("durability", DURABILITY_LEVELS)
async def test_sigkill_right_after_stop_loses_nothing(
    database_url: str, durability: str, tmp_path: Path
) -> None:
    # Both levels promise this much (decision 0251): a kill -9 loses no answered write.
    log = tmp_path / "serve.log"
    added = await asyncio.to_thread(
        _cli,
        "station",
        "add",
        "CP1",
        "--password-stdin",
        "--database-url",
        database_url,
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ocpp/"
    proc = await asyncio.to_thread(_serve, database_url, port, log, durability)
    try:
        async with raw_connect(url, "CP1", password=PASSWORD) as ws:
            assert (await rpc(ws, "b", "BootNotification", BOOT16))[2]["status"] == "Accepted"
            start = await rpc(
                ws,
                "s",
                "StartTransaction",
                {
                    "connectorId": 1,
                    "idTag": "T1",
                    "meterStart": 1000,
                    "timestamp": "2026-03-02T07:00:00Z",
                },
            )
            tx_id = start[2]["transactionId"]
            stop = await rpc(ws, "e", "StopTransaction", stop_frame(tx_id))
            proc.send_signal(signal.SIGKILL)  # the answer is in: kill at once
            assert stop[0] == 3
    finally:
        proc.kill()
        proc.wait(10)
    proc = await asyncio.to_thread(_serve, database_url, port, log, durability)
    try:
        async with raw_connect(url, "CP1", password=PASSWORD) as ws:
            # The station resends (it may not know its answer arrived): nothing doubles.
            again = await rpc(ws, "e2", "StopTransaction", stop_frame(tx_id))
            assert again[0] == 3
            retry = await rpc(
                ws,
                "s2",
                "StartTransaction",
                {
                    "connectorId": 1,
                    "idTag": "T1",
                    "meterStart": 1000,
                    "timestamp": "2026-03-02T07:00:00Z",
                },
            )
            assert retry[2]["transactionId"] == tx_id
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0
    store = SqlStore(database_url)
    await store.open()
    try:
        txs = await store.list_transactions()
        assert [(t.id, t.meter_start_wh, t.meter_stop_wh, t.stop_reason) for t in txs] == [
            (tx_id, 1000.0, 4200.0, "Local")
        ]
        samples = await store.samples_for_transaction(tx_id)
        assert sorted((s.sample.measurand, s.sample.value) for s in samples) == sorted(
            [("Energy.Active.Import.Register", v) for v in (2000.0, 3000.0, 4000.0)]
            + [("Power.Active.Import", 7200.0)] * 3
        )
    finally:
        await store.close()
    listed = await asyncio.to_thread(
        _cli, "station", "list", "--json", "--database-url", database_url
    )
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["station_id"], row["connected"], row["password_hash"]) == ("CP1", False, True)


async def test_a_restart_forgets_connections_of_a_killed_process(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'stale.db'}"
    store = SqlStore(url)
    await store.open()
    try:
        await store.put_station(StationRecord("CP1"))
        await store.put_station(StationRecord("CP2"))
        from datetime import UTC, datetime

        await store.record_connection("CP1", connected=True, at=datetime(2026, 1, 1, tzinfo=UTC))
        async with Csms(make_settings(), clock=ManualClock(), store=store):
            assert [r.connected for r in await store.list_stations()] == [False, False]
    finally:
        await store.close()


# -- database outage --------------------------------------------------------------------
@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from temporary_postgres()


@pytest.fixture
async def proxied(pg_url: str) -> AsyncIterator[tuple[TcpProxy, SqlStore]]:
    target = sa.make_url(pg_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    store = SqlStore(
        target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        retry_delays_s=(0.05,),
        connect_timeout_s=1.0,
    )
    await store.open()
    await store.put_station(StationRecord("CP16", password_hash=PASSWORD_HASH))
    await store.put_station(StationRecord("OTHER", password_hash=PASSWORD_HASH))
    try:
        yield proxy, store
    finally:
        await store.close()
        await proxy.close()


@pytest.mark.slow
async def test_outage_holds_transaction_answers(
    proxied: tuple[TcpProxy, SqlStore], pg_url: str
) -> None:
    proxy, store = proxied
    if not port_open("127.0.0.1", 5432):
        pytest.fail("PostgreSQL vanished")
    async with (
        Csms(make_settings(), clock=ManualClock(), store=store) as app,
        raw_connect(app.url, "OTHER", password=PASSWORD) as other,
        raw_connect(app.url, "CP16", password=PASSWORD) as ws,
    ):
        assert (await rpc(ws, "b", "BootNotification", BOOT16))[0] == 3
        start = await rpc(
            ws,
            "s",
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "T1",
                "meterStart": 1000,
                "timestamp": "2026-03-02T07:00:00Z",
            },
        )
        tx_id = start[2]["transactionId"]
        await proxy.cut()
        await ws.send(json.dumps([2, "e", "StopTransaction", stop_frame(tx_id)]))
        # Held, not CALLERRORed, while the database is away ...
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 1.5)
        # ... and the other station is served meanwhile.
        hb = await rpc(other, "h", "Heartbeat", {}, timeout_s=3)
        assert hb[0] == 3
        assert app.central.retrying.outage_retries > 0
        await proxy.restore()
        answer = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert answer[:2] == [3, "e"]
        # The station timed out meanwhile and resends: still one transaction, samples once.
        again = await rpc(ws, "e2", "StopTransaction", stop_frame(tx_id))
        assert again[0] == 3
    tx = await store.get_transaction(tx_id)
    assert tx is not None and tx.meter_stop_wh == 4200.0
    assert len(await store.samples_for_transaction(tx_id)) == 6
    assert len(await store.list_transactions()) == 1


@pytest.mark.slow
async def test_backends_terminated_under_traffic(
    proxied: tuple[TcpProxy, SqlStore], pg_url: str
) -> None:
    _, store = proxied
    async with (
        Csms(make_settings(), clock=ManualClock(), store=store) as app,
        raw_connect(app.url, "CP16", password=PASSWORD) as ws,
    ):
        await rpc(ws, "b", "BootNotification", BOOT16)
        start = await rpc(
            ws,
            "s",
            "StartTransaction",
            {"connectorId": 1, "idTag": "T1", "meterStart": 0, "timestamp": "2026-03-02T07:00:00Z"},
        )
        tx_id = start[2]["transactionId"]
        for i in range(20):
            if i % 5 == 0:
                assert await terminate_backends(pg_url) >= 0
            answer = await rpc(
                ws,
                f"m{i}",
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx_id,
                    "meterValue": [
                        {
                            "timestamp": f"2026-03-02T07:{i:02d}:00Z",
                            "sampledValue": [{"value": str(100 * i)}],
                        }
                    ],
                },
            )
            assert answer[:2] == [3, f"m{i}"], answer
    values = sorted(s.sample.value for s in await store.samples_for_transaction(tx_id))
    assert values == [100.0 * i for i in range(20)]
