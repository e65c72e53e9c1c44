"""The node's index of open 2.0.1 transactions: no read per message, and always what the
store committed (after writes, failures, disconnections, restarts and charging needs)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from chargegrid.clock import ManualClock
from csms.core.open_transactions import OpenTransactions
from csms.core.service import CentralSystem
from csms.domain import (
    EVChargingNeeds,
    MeterSample,
    Transaction,
    TransactionEventKind,
    TransactionUpdate,
)
from csms.events import EventBus, MeterValuesReceived, TransactionUpdated
from csms.exceptions import StoreUnavailable
from csms.store import MemoryStore
from csms.store.base import StationRecord, StoredSample
from tests.waiting import wait_until

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


class CountingStore(MemoryStore):
    """Counts transaction reads; can fail the next TransactionEvent writes."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: dict[str, int] = {}
        self.fail_writes = 0

    def _read(self, name: str) -> None:
        self.reads[name] = self.reads.get(name, 0) + 1

    async def find_transaction(self, station_id: str, station_tx_id: str) -> Transaction | None:
        self._read("find")
        return await super().find_transaction(station_id, station_tx_id)

    async def get_transaction(self, transaction_id: int) -> Transaction | None:
        self._read("get")
        return await super().get_transaction(transaction_id)

    async def list_transactions(self, **kw: Any) -> list[Transaction]:
        self._read("list")
        return await super().list_transactions(**kw)

    async def apply_transaction_event(self, transaction_id: int, **kw: Any) -> bool:
        if self.fail_writes > 0:
            self.fail_writes -= 1
            raise StoreUnavailable("connection refused")
        return await super().apply_transaction_event(transaction_id, **kw)


async def make(store: CountingStore | None = None) -> tuple[CentralSystem, CountingStore]:
    store = store or CountingStore()
    await store.put_station(StationRecord("CP"))
    central = CentralSystem(
        store, EventBus(), ManualClock(T0), retry_initial_s=0.001, retry_max_s=0.004
    )
    return central, store


def event(
    kind: str, seq_no: int, *, tx: str = "TX1", wh: float | None = None, **kw: Any
) -> TransactionUpdate:
    at = T0 + timedelta(seconds=seq_no)
    samples = () if wh is None else (MeterSample(at, "Energy.Active.Import.Register", wh, "Wh"),)
    return TransactionUpdate(
        station_id="CP",
        kind=TransactionEventKind(kind),
        timestamp=at,
        station_tx_id=tx,
        evse_id=1,
        connector_id=1,
        seq_no=seq_no,
        samples=samples,
        **kw,
    )


def sample_values(samples: list[StoredSample]) -> list[float]:
    return sorted(s.sample.value for s in samples)


async def test_updates_read_nothing_once_the_station_is_loaded() -> None:
    central, store = await make()
    await central.transaction_event(event("Started", 0, wh=0.0))
    store.reads.clear()
    for seq in range(1, 11):
        await central.transaction_event(
            event("Updated", seq, wh=seq * 100.0, charging_state="Charging")
        )
    assert store.reads == {}
    tx = await store.find_transaction("CP", "TX1")
    assert tx is not None and tx.last_seq_no == 10 and tx.charging_state == "Charging"
    assert central._open_txs.get("CP", "TX1") == tx
    assert len(await store.samples_for_transaction(tx.id)) == 11


async def test_an_ended_transaction_leaves_the_index_and_a_resend_reads_it() -> None:
    central, store = await make()
    await central.transaction_event(event("Started", 0, wh=0.0))
    await central.transaction_event(event("Ended", 1, wh=500.0, stop_reason="Local"))
    assert central._open_txs.get("CP", "TX1") is None
    store.reads.clear()
    answer = await central.transaction_event(event("Ended", 1, wh=500.0, stop_reason="Local"))
    assert store.reads == {"find": 1}
    assert answer.transaction is not None and answer.transaction.meter_stop_wh == 500.0


async def test_a_failed_write_leaves_the_index_as_committed() -> None:
    central, store = await make()
    await central.transaction_event(event("Started", 0, wh=0.0))
    updated: list[object] = []
    central.bus.subscribe(
        lambda e: (
            updated.append(e) if isinstance(e, TransactionUpdated | MeterValuesReceived) else None
        )
    )
    store.fail_writes = 10**6  # the database goes away
    task = asyncio.create_task(
        central.transaction_event(event("Updated", 1, wh=100.0, charging_state="Charging"))
    )
    await wait_until(
        lambda: central.retrying.outage_retries >= 2, 10.0, "two retries", every_s=0.001
    )
    task.cancel()  # the station gives up; nothing was committed
    await asyncio.gather(task, return_exceptions=True)
    assert not central._open_txs.loaded("CP")  # reloaded from the store next time
    store.fail_writes = 0
    tx = await store.find_transaction("CP", "TX1")
    assert tx is not None and tx.charging_state is None and tx.last_seq_no == 0
    await central.transaction_event(event("Updated", 1, wh=100.0, charging_state="Charging"))
    tx = await store.find_transaction("CP", "TX1")
    assert tx is not None and tx.charging_state == "Charging" and tx.last_seq_no == 1
    assert central._open_txs.get("CP", "TX1") == tx
    assert len(updated) == 2  # the samples and the update, published once
    assert sample_values(await store.samples_for_transaction(tx.id)) == [0.0, 100.0]


async def test_a_disconnection_forgets_the_station_and_a_reconnection_reloads_it() -> None:
    central, store = await make()
    await central.transaction_event(event("Started", 0, wh=0.0))
    await central.disconnected("CP")
    assert not central._open_txs.loaded("CP")
    # Meanwhile another node sharing the database took the station and applied seqNo 1.
    other, _ = await make(store)
    await other.transaction_event(event("Updated", 1, charging_state="SuspendedEV"))
    store.reads.clear()
    await central.transaction_event(event("Updated", 2, wh=50.0))
    assert store.reads == {"list": 1}
    tx = await store.find_transaction("CP", "TX1")
    assert tx is not None and tx.last_seq_no == 2 and tx.charging_state == "SuspendedEV"


async def test_a_replacing_connection_reloads_what_another_node_changed() -> None:
    central, store = await make()
    await central.transaction_event(event("Started", 0, wh=0.0))
    # The station went to another node (this one saw no disconnection), which ended it...
    other, _ = await make(store)
    await other.transaction_event(event("Ended", 1, wh=900.0, stop_reason="Local"))
    # ...and comes back here: the new connection replaces the old one.
    await central.connected("CP", "2.0.1")
    await central.transaction_event(event("Updated", 2, wh=950.0, charging_state="Charging"))
    tx = await store.find_transaction("CP", "TX1")
    assert tx is not None and tx.stopped_at is not None and tx.meter_stop_wh == 900.0
    assert central._open_txs.get("CP", "TX1") is None


async def test_a_restarted_node_rebuilds_the_index_from_the_store() -> None:
    central, store = await make()
    await central.transaction_event(event("Started", 0, wh=0.0))
    await central.transaction_event(event("Started", 0, tx="TX2", wh=0.0))
    await central.transaction_event(event("Ended", 1, tx="TX2", wh=10.0))
    restarted, _ = await make(store)
    store.reads.clear()
    await restarted.transaction_event(event("Updated", 1, wh=100.0))
    await restarted.transaction_event(event("Updated", 2, wh=200.0))
    assert store.reads == {"list": 1}
    assert len(restarted._open_txs) == 1


async def test_charging_needs_are_not_overwritten_by_later_events() -> None:
    central, store = await make()
    await central.transaction_event(event("Started", 0, wh=0.0))
    needs = EVChargingNeeds(energy_requested_wh=20000.0)
    assert await central.ev_charging_needs("CP", 1, needs) is not None
    await central.transaction_event(event("Updated", 1, wh=100.0, charging_state="Charging"))
    tx = await store.find_transaction("CP", "TX1")
    assert tx is not None and tx.needs == needs and tx.charging_state == "Charging"


def test_the_index_keeps_only_open_transactions_of_loaded_stations() -> None:
    def tx(n: int, station: str = "CP", *, ended: bool = False) -> Transaction:
        return Transaction(
            id=n,
            station_id=station,
            station_tx_id=f"T{n}",
            evse_id=1,
            connector_id=1,
            id_token=None,
            started_at=T0,
            stopped_at=T0 if ended else None,
        )

    index = OpenTransactions()
    index.put(tx(1))  # not loaded: stays unknown
    assert not index.loaded("CP") and index.get("CP", "T1") is None
    index.load("CP", [tx(1), tx(2, ended=True), tx(3, "OTHER")])
    assert index.get("CP", "T1") == tx(1) and index.get("CP", "T2") is None
    assert index.get("CP", "T3") is None and len(index) == 1
    index.put(tx(4))
    index.put(tx(1, ended=True))
    assert index.get("CP", "T1") is None and index.get("CP", "T4") == tx(4)
    needs = EVChargingNeeds(max_current_a=16.0)
    index.set_needs("CP", 4, needs)
    got = index.get("CP", "T4")
    assert got is not None and got.needs == needs
    index.forget("CP")
    assert not index.loaded("CP") and len(index) == 0
