"""Handler tests through ``route_message`` with a fake connection (no sockets)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from chargegrid.clock import ManualClock
from csms.core.service import CentralSystem
from csms.domain import Transaction
from csms.events import EventBus, MeterValuesReceived
from csms.exceptions import StoreUnavailable
from csms.ocpp.v16 import V16Connection
from csms.ocpp.v201 import V201Connection
from csms.store import MemoryStore
from csms.store.base import NewTransaction, StationRecord, StoredSample
from tests.waiting import wait_until

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


class FakeConnection:
    def __init__(self) -> None:
        self.sent: list[list[Any]] = []

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))

    async def recv(self) -> str:  # pragma: no cover - never called by route_message
        raise AssertionError


class FlakyStore(MemoryStore):
    """Fails the next ``failures`` writes of transactions and samples."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.calls = 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("connection refused")

    async def open_transaction(self, new: NewTransaction) -> tuple[Transaction, bool]:
        self._maybe_fail()
        return await super().open_transaction(new)

    async def save_transaction(self, tx: Transaction) -> None:
        self._maybe_fail()
        await super().save_transaction(tx)

    async def add_samples(
        self, samples: Sequence[StoredSample], on_commit: Callable[[int], object] | None = None
    ) -> int:
        self._maybe_fail()
        return await super().add_samples(samples, on_commit)


async def make(version: str = "1.6") -> tuple[Any, FakeConnection, FlakyStore]:
    store = FlakyStore()
    await store.put_station(StationRecord("CP"))
    central = CentralSystem(
        store, EventBus(), ManualClock(T0), retry_initial_s=0.001, retry_max_s=0.004
    )
    fake = FakeConnection()
    cls = V16Connection if version == "1.6" else V201Connection
    return cls("CP", fake, central), fake, store


async def test_boot_answer_is_camel_case() -> None:
    conn, fake, _ = await make()
    await conn.route_message(
        json.dumps(
            [
                2,
                "1",
                "BootNotification",
                {
                    "chargePointVendor": "A",
                    "chargePointModel": "B",
                    "chargePointSerialNumber": "S1",
                },
            ]
        )
    )
    assert fake.sent == [
        [3, "1", {"currentTime": "2026-03-02T06:00:00.000Z", "interval": 300, "status": "Accepted"}]
    ]


async def test_transaction_answer_is_held_while_the_store_is_down() -> None:
    conn, fake, store = await make()
    start = [
        2,
        "s",
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 5, "timestamp": "2026-03-02T06:00:00Z"},
    ]
    store.failures = 5
    await conn.route_message(json.dumps(start))
    assert fake.sent[0][:2] == [3, "s"]
    assert fake.sent[0][2]["transactionId"] == 1
    assert store.calls == 6 and conn.central.retrying.outage_retries == 5
    # The station did not see the answer and retries: same transaction, nothing new.
    await conn.route_message(json.dumps(start))
    assert fake.sent[1][2]["transactionId"] == 1
    assert len(await store.list_transactions()) == 1
    stop = [
        2,
        "e",
        "StopTransaction",
        {
            "transactionId": 1,
            "meterStop": 900,
            "timestamp": "2026-03-02T07:00:00Z",
            "transactionData": [
                {
                    "timestamp": "2026-03-02T06:30:00Z",
                    "sampledValue": [{"value": "0.4", "unit": "kWh"}],
                }
            ],
        },
    ]
    store.failures = 3
    await conn.route_message(json.dumps(stop))
    await conn.route_message(json.dumps(stop))
    assert [f[0] for f in fake.sent] == [3, 3, 3, 3]
    samples = await store.samples_for_transaction(1)
    assert [s.sample.value for s in samples] == [400.0]
    tx = await store.get_transaction(1)
    assert tx is not None and tx.meter_stop_wh == 900.0


async def test_v201_event_held_then_deduplicated() -> None:
    conn, fake, store = await make("2.0.1")
    ev = [
        2,
        "t",
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": "2026-03-02T06:00:00Z",
            "triggerReason": "CablePluggedIn",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "ABC"},
            "evse": {"id": 2, "connectorId": 1},
            "meterValue": [{"timestamp": "2026-03-02T06:00:00Z", "sampledValue": [{"value": 1.5}]}],
        },
    ]
    store.failures = 2
    await conn.route_message(json.dumps(ev))
    await conn.route_message(json.dumps(ev))
    assert fake.sent == [[3, "t", {}], [3, "t", {}]]
    tx = await store.find_transaction("CP", "ABC")
    assert tx is not None and (tx.evse_id, tx.meter_start_wh) == (2, 1.5)
    assert len(await store.samples_for_transaction(tx.id)) == 1


async def test_resend_after_a_cut_short_attempt_completes_the_writes() -> None:
    import asyncio

    conn, fake, store = await make("2.0.1")
    started = [
        2,
        "a",
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": "2026-03-02T06:00:00Z",
            "triggerReason": "CablePluggedIn",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "CUT"},
            "evse": {"id": 1, "connectorId": 1},
        },
    ]
    await conn.route_message(json.dumps(started))
    update = [
        2,
        "b",
        "TransactionEvent",
        {
            "eventType": "Updated",
            "timestamp": "2026-03-02T06:05:00Z",
            "triggerReason": "MeterValuePeriodic",
            "seqNo": 1,
            "transactionInfo": {"transactionId": "CUT", "chargingState": "Charging"},
            "meterValue": [{"timestamp": "2026-03-02T06:05:00Z", "sampledValue": [{"value": 2.0}]}],
        },
    ]
    store.failures = 10**6  # the database goes away after the seqNo was recorded
    task = asyncio.create_task(conn.route_message(json.dumps(update)))
    await wait_until(
        lambda: conn.central.retrying.outage_retries >= 2, 10.0, "two retries", every_s=0.001
    )
    task.cancel()  # the station disconnects; nothing was answered
    await asyncio.gather(task, return_exceptions=True)
    assert [f[1] for f in fake.sent] == ["a"]
    store.failures = 0
    await conn.route_message(json.dumps(update))  # the station resends after reconnecting
    tx = await store.find_transaction("CP", "CUT")
    assert tx is not None and tx.charging_state == "Charging" and tx.last_seq_no == 1
    assert [s.sample.value for s in await store.samples_for_transaction(tx.id)] == [2.0]


async def test_start_announced_once_even_when_the_first_attempt_was_cut_short() -> None:
    import asyncio

    from csms.events import TransactionStarted

    conn, fake, store = await make("2.0.1")
    starts: list[object] = []
    conn.central.bus.subscribe(
        lambda e: starts.append(e) if isinstance(e, TransactionStarted) else None
    )
    started = [
        2,
        "a",
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": "2026-03-02T06:00:00Z",
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "S1"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [{"timestamp": "2026-03-02T06:00:00Z", "sampledValue": [{"value": 5}]}],
        },
    ]
    real_add = store.add_samples

    async def stuck(samples: Sequence[StoredSample]) -> int:
        raise StoreUnavailable("down")

    store.add_samples = stuck  # type: ignore[method-assign]
    task = asyncio.create_task(conn.route_message(json.dumps(started)))
    await wait_until(
        lambda: conn.central.retrying.outage_retries >= 1, 10.0, "a retry", every_s=0.001
    )
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert starts == [] and await store.find_transaction("CP", "S1") is not None
    store.add_samples = real_add  # type: ignore[method-assign]
    await conn.route_message(json.dumps(started))
    await conn.route_message(json.dumps(started))
    assert len(starts) == 1
    assert [f[:2] for f in fake.sent] == [[3, "a"], [3, "a"]]


class CommitThenStall(MemoryStore):
    """The central system's write (1.6 samples, a 2.0.1 event) commits, then stalls before
    its caller hears back (a slow disk, a loaded machine): the moment a disconnect or a
    stopping server cancels the handler."""

    def __init__(self) -> None:
        super().__init__()
        self.stall = False
        self.committed = asyncio.Event()
        self.release = asyncio.Event()

    async def _after_commit(self) -> None:
        if self.stall:
            self.committed.set()
            await self.release.wait()

    async def add_samples(
        self, samples: Sequence[StoredSample], on_commit: Callable[[int], object] | None = None
    ) -> int:
        added = await super().add_samples(samples, on_commit)
        if on_commit is not None:  # the central system's own call, not a part of the event
            await self._after_commit()
        return added

    async def apply_transaction_event(self, transaction_id: int, **kw: Any) -> bool:
        fresh = await super().apply_transaction_event(transaction_id, **kw)
        await self._after_commit()
        return fresh


_METER_16 = [
    2,
    "m",
    "MeterValues",
    {
        "connectorId": 1,
        "transactionId": 1,
        "meterValue": [{"timestamp": "2026-03-02T06:05:00Z", "sampledValue": [{"value": "7"}]}],
    },
]
_START_16 = [
    2,
    "s",
    "StartTransaction",
    {"connectorId": 1, "idTag": "T", "meterStart": 5, "timestamp": "2026-03-02T06:00:00Z"},
]
_START_201 = [
    2,
    "s",
    "TransactionEvent",
    {
        "eventType": "Started",
        "timestamp": "2026-03-02T06:00:00Z",
        "triggerReason": "CablePluggedIn",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "T1"},
        "evse": {"id": 1, "connectorId": 1},
    },
]
_METER_201 = [
    2,
    "m",
    "TransactionEvent",
    {
        "eventType": "Updated",
        "timestamp": "2026-03-02T06:05:00Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 1,
        "transactionInfo": {"transactionId": "T1"},
        "meterValue": [{"timestamp": "2026-03-02T06:05:00Z", "sampledValue": [{"value": 7}]}],
    },
]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_samples_committed_as_the_station_leaves_are_published_once(version: str) -> None:
    """The stored samples are what telemetry, the planner and the event stream see: a
    handler cancelled between the commit and the publication must not leave stored samples
    that no resend will ever publish (they are no longer new), and a resend of what was
    published must not publish it again."""
    store = CommitThenStall()
    await store.put_station(StationRecord("CP"))
    central = CentralSystem(store, EventBus(), ManualClock(T0), retry_initial_s=0.001)
    published: list[MeterValuesReceived] = []
    central.bus.subscribe(
        lambda e: published.append(e) if isinstance(e, MeterValuesReceived) else None
    )
    fake = FakeConnection()
    conn = (V16Connection if version == "1.6" else V201Connection)("CP", fake, central)
    start, meter = (_START_16, _METER_16) if version == "1.6" else (_START_201, _METER_201)
    await conn.route_message(json.dumps(start))

    store.stall = True
    handler = asyncio.create_task(conn.route_message(json.dumps(meter)))
    await asyncio.wait_for(store.committed.wait(), 5)
    handler.cancel()  # the station disconnects (or the server stops) now
    await asyncio.gather(handler, return_exceptions=True)
    store.stall = False
    store.release.set()
    await asyncio.wait_for(central.close(), 5)  # what a stopping server waits for
    assert [[s.value for s in e.samples] for e in published] == [[7.0]]

    await conn.route_message(json.dumps(meter))  # the station resends after reconnecting
    assert fake.sent[-1][:2] == [3, "m"]
    assert len(published) == 1
    assert len(await store.latest_samples("CP")) == 1


async def test_samples_a_cut_short_attempt_did_not_store_are_published_by_the_resend() -> None:
    conn, _, store = await make("2.0.1")
    published: list[MeterValuesReceived] = []
    conn.central.bus.subscribe(
        lambda e: published.append(e) if isinstance(e, MeterValuesReceived) else None
    )
    await conn.route_message(json.dumps(_START_201))
    store.failures = 10**6  # the database goes away after the seqNo was recorded
    handler = asyncio.create_task(conn.route_message(json.dumps(_METER_201)))
    await wait_until(
        lambda: conn.central.retrying.outage_retries >= 2, 10.0, "two retries", every_s=0.001
    )
    handler.cancel()
    await asyncio.gather(handler, return_exceptions=True)
    assert published == []
    store.failures = 0
    await conn.route_message(json.dumps(_METER_201))  # a resend: the seqNo is known
    assert [[s.value for s in e.samples] for e in published] == [[7.0]]


class ClosingFakeConnection(FakeConnection):
    def __init__(self) -> None:
        super().__init__()
        self.closed: tuple[int, str] | None = None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


def _connection(version: str, fake: FakeConnection) -> Any:
    from csms.ocpp.v21 import V21Connection

    store = MemoryStore()
    central = CentralSystem(store, EventBus(), ManualClock(T0))
    cls = {"1.6": V16Connection, "2.0.1": V201Connection, "2.1": V21Connection}[version]
    return cls("CP", fake, central)


@pytest.mark.parametrize(
    ("version", "code"),
    [("1.6", "ProtocolError"), ("2.0.1", "RpcFrameworkError"), ("2.1", "RpcFrameworkError")],
)
async def test_a_message_id_longer_than_36_characters_is_refused(version: str, code: str) -> None:
    fake = FakeConnection()
    conn = _connection(version, fake)
    long_id, ok_id = "x" * 37, "y" * 36
    await conn.route_message(json.dumps([2, long_id, "Heartbeat", {}]))
    await conn.route_message(json.dumps([2, "", "Heartbeat", {}]))
    await conn.route_message(json.dumps([2, ok_id, "Heartbeat", {}]))
    assert [f[:3] for f in fake.sent[:2]] == [[4, long_id, code], [4, "", code]]
    assert "37 characters" in fake.sent[0][3]
    assert fake.sent[2][:2] == [3, ok_id]  # 36 is fine
    assert conn.bad_frames == 2


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_a_binary_frame_closes_the_connection_as_unsupported_data(version: str) -> None:
    fake = ClosingFakeConnection()
    conn = _connection(version, fake)
    await conn.route_message(json.dumps([2, "1", "Heartbeat", {}]).encode())
    assert fake.closed is not None and fake.closed[0] == 1003
    assert fake.sent == [] and conn.bad_frames == 1


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_connections_share_their_class_routes_and_answer_as_themselves(
    version: str,
) -> None:
    """The routes are built once per adapter class (decision 0227), not per connection, and
    a handler still runs bound to the connection that received the call."""
    fakes = [FakeConnection(), FakeConnection()]
    first, second = (_connection(version, fake) for fake in fakes)
    assert first.route_map is second.route_map
    assert not hasattr(first, "_response_queue")
    for conn in (first, second):
        await conn.route_message(json.dumps([2, "h", "Heartbeat", {}]))
    assert [fake.sent for fake in fakes] == [
        [[3, "h", {"currentTime": "2026-03-02T06:00:00.000Z"}]],
        [[3, "h", {"currentTime": "2026-03-02T06:00:00.000Z"}]],
    ]
