"""A connecting station costs one store write when it boots at once, and its connection is
still recorded when it does not boot (or is gone before the write)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chargegrid.clock import ManualClock
from csms.core.service import CentralSystem
from csms.domain import BootInfo, RegistrationStatus
from csms.events import EventBus
from csms.exceptions import StoreError
from csms.store import MemoryStore
from csms.store.base import StationRecord
from tests.waiting import wait_until

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
BOOT = BootInfo("Acme", "AC22")


class CountingStore(MemoryStore):
    """Counts the station writes of a connection."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, Any]] = []

    async def record_connection(self, station_id: str, *, connected: bool, at: datetime) -> None:
        self.writes.append(("connection", connected))
        await super().record_connection(station_id, connected=connected, at=at)

    async def record_boot(self, *args: Any, connected: bool = False, **kw: Any) -> None:
        self.writes.append(("boot", connected))
        await super().record_boot(*args, connected=connected, **kw)


async def central(wait_s: float) -> tuple[CentralSystem, CountingStore]:
    store = CountingStore()
    await store.put_station(StationRecord("CP1"))
    cs = CentralSystem(store, EventBus(), ManualClock(T0))
    cs._connection_writes.wait_s = wait_s
    return cs, store


async def connected(store: CountingStore) -> bool:
    record = await store.get_station("CP1")
    return record is not None and record.connected


async def test_a_boot_right_after_the_handshake_records_both_in_one_write() -> None:
    cs, store = await central(wait_s=60.0)
    await cs.connected("CP1", "1.6")
    decision = await cs.boot("CP1", BOOT)
    assert decision.status is RegistrationStatus.ACCEPTED
    assert store.writes == [("boot", True)]
    record = await store.get_station("CP1")
    assert record is not None and record.connected and record.last_seen_at == T0
    # A second boot on the same connection does not record the connection again.
    await cs.boot("CP1", BOOT)
    assert store.writes == [("boot", True), ("boot", False)]
    await cs.close()


async def test_a_station_that_does_not_boot_is_recorded_connected_after_the_wait() -> None:
    cs, store = await central(wait_s=0.01)
    await cs.connected("CP1", "1.6")
    await wait_until(lambda: connected(store), 10, "the connection written")
    assert store.writes == [("connection", True)]
    await cs.boot("CP1", BOOT)  # a later boot writes only the boot
    assert store.writes == [("connection", True), ("boot", False)]
    await cs.close()


async def test_a_station_gone_before_the_write_is_recorded_disconnected_only() -> None:
    cs, store = await central(wait_s=60.0)
    await cs.connected("CP1", "1.6")
    await cs.disconnected("CP1")
    assert store.writes == [("connection", False)]
    assert not await connected(store)
    await cs.close()


async def test_an_unknown_station_created_by_its_boot_is_recorded_connected() -> None:
    store = CountingStore()
    cs = CentralSystem(store, EventBus(), ManualClock(T0), unknown_stations="pending")
    cs._connection_writes.wait_s = 0.0
    await cs.connected("NEW", "1.6")
    await wait_until(lambda: bool(store.writes), 10, "the connection written (no row yet)")
    await cs.boot("NEW", BOOT)
    record = await store.get_station("NEW")
    assert record is not None and record.connected
    assert record.registration is RegistrationStatus.PENDING
    await cs.close()


async def test_a_connection_write_the_store_refuses_is_logged(caplog: Any) -> None:
    cs, store = await central(wait_s=0.0)

    async def refuse(station_id: str, *, connected: bool, at: datetime) -> None:
        raise StoreError("constraint violated")

    store.record_connection = refuse  # type: ignore[method-assign]
    await cs.connected("CP1", "1.6")
    await wait_until(
        lambda: "CP1: connection not recorded: constraint violated" in caplog.text,
        10,
        "the refusal logged",
    )
    await cs.close()
