"""Two stores (two CSMS processes) on one database racing on the same redelivered data
store it once: the unique constraints decide, not the process."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from csms.domain import MeterSample
from csms.store import NewTransaction, SqlStore, StoredSample

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    fresh: str = request.getfixturevalue("fresh_postgres_url")
    return fresh


async def test_two_nodes_store_once(url: str) -> None:
    a, b = SqlStore(url), SqlStore(url)
    # Both find an empty database and race to create the schema: one does, one waits.
    await asyncio.gather(a.open(), b.open())
    try:
        new = NewTransaction("CP1", 1, 1, T0, id_token="T", meter_start_wh=0.0, start_key="k")
        starts = await asyncio.gather(*(s.open_transaction(new) for s in (a, b, a, b)))
        assert len({tx.id for tx, _ in starts}) == 1
        assert sum(created for _, created in starts) == 1
        tx_id = starts[0][0].id

        samples = [
            StoredSample(
                "CP1",
                1,
                1,
                tx_id,
                MeterSample(T0 + timedelta(seconds=i), "Energy.Active.Import.Register", i, "Wh"),
            )
            for i in range(50)
        ]
        counts = await asyncio.gather(a.add_samples(samples), b.add_samples(samples))
        assert sum(counts) == 50
        assert len(await b.samples_for_transaction(tx_id)) == 50
        recorded = await asyncio.gather(
            a.record_transaction_event(tx_id, 0, "Started", T0),
            b.record_transaction_event(tx_id, 0, "Started", T0),
        )
        assert sorted(recorded) == [False, True]
    finally:
        await a.close()
        await b.close()
