"""Child process of test_durability: writes one finished transaction with its meter values
(``python -m tests.integration.store._durable_child URL DURABILITY``), prints ``ACKED`` once
every write has returned, then waits to be killed."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from csms.domain import MeterSample
from csms.event_loop import choose, run
from csms.store import NewTransaction, SqlStore, StoredSample

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SAMPLES = 5


async def write(url: str, durability: str) -> None:
    store = SqlStore(url, durability=durability)
    await store.open()
    tx, _ = await store.open_transaction(
        NewTransaction("CP1", 1, 1, T0, id_token="TAG1", meter_start_wh=0.0, start_key="k1")
    )
    await store.add_samples(
        [
            StoredSample(
                "CP1",
                1,
                1,
                tx.id,
                MeterSample(T0 + timedelta(minutes=i), "Energy.Active.Import.Register", i, "Wh"),
            )
            for i in range(SAMPLES)
        ]
    )
    tx.stopped_at = T0 + timedelta(hours=1)
    tx.meter_stop_wh = 4000.0
    tx.stop_reason = "Local"
    await store.save_transaction(tx)
    print("ACKED", tx.id, flush=True)
    # No close(): the parent kills this process as soon as it reads ACKED.
    await asyncio.sleep(60)


if __name__ == "__main__":
    # on the loop serve runs on (decision 0250)
    run(write(sys.argv[1], sys.argv[2]), loop=choose("auto", tls=False))
