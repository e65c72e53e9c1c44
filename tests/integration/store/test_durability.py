"""Acknowledged means durable: SIGKILL the process right after the writes return, reopen,
and everything is there exactly once (also when the station then sends it all again)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from csms.store import SqlStore
from csms.store.engine import DURABILITY_LEVELS
from tests.integration.store._durable_child import SAMPLES

ROOT = Path(__file__).resolve().parents[3]


def _write_then_kill(url: str, durability: str) -> int:
    with subprocess.Popen(
        [sys.executable, "-m", "tests.integration.store._durable_child", url, durability],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert line.startswith("ACKED "), line
    return int(line.split()[1])


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'durable.db'}"
    fresh: str = request.getfixturevalue("fresh_postgres_url")
    return fresh


@pytest.mark.parametrize("durability", DURABILITY_LEVELS)
async def test_acknowledged_writes_survive_sigkill(url: str, durability: str) -> None:
    # Both levels promise this much (decision 0251): a kill -9 loses no answered write.
    first = _write_then_kill(url, durability)
    # The station did not hear back and sends everything again; the server is killed again.
    second = _write_then_kill(url, durability)
    assert first == second == 1

    store = SqlStore(url)
    await store.open()
    try:
        txs = await store.list_transactions()
        assert [(tx.id, tx.meter_stop_wh, tx.stop_reason) for tx in txs] == [(1, 4000.0, "Local")]
        samples = await store.samples_for_transaction(1)
        assert [s.sample.value for s in samples] == [float(i) for i in range(SAMPLES)]
    finally:
        await store.close()
