"""A 1.6 station is told its transaction's id before anyone acts on the transaction
(decision 0014): the start is announced once the StartTransaction answer is written, and a
TxProfile naming a transaction whose answer is still on its way waits for it.

The station here is a fake WebSocket that behaves as a 1.6 station does: it knows the
central system's transaction ids the answers it has received gave it, and refuses a
TxProfile for any other. Everything waits on conditions, never on time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from chargegrid.clock import ManualClock
from csms.core.commands import CommandResult, Commands
from csms.core.service import CentralSystem
from csms.domain import ChargingLimit, ChargingRateUnit, Transaction
from csms.events import DomainEvent, EventBus, TransactionStarted
from csms.ocpp.v16 import V16Connection
from csms.store import MemoryStore
from csms.store.base import NewTransaction, StationRecord
from tests.waiting import wait_until

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
START = [
    2,
    "start-1",
    "StartTransaction",
    {"connectorId": 1, "idTag": "T", "meterStart": 5, "timestamp": "2026-03-02T06:00:00Z"},
]


class Station16:
    """The station's end of the WebSocket: the frames it received, in order; the
    transaction ids the answers told it; SetChargingProfile answered as a 1.6 station
    does. ``hold_answers`` keeps the central system's answers from being written until
    ``release`` is set (a slow link); ``closed`` makes every answer find the link gone."""

    def __init__(self) -> None:
        self.conn: Any = None
        self.received: list[list[Any]] = []
        self.told: set[int] = set()
        self.hold_answers = False
        self.release = asyncio.Event()
        self.answers_held = 0
        self.closed = False

    async def send(self, message: str) -> None:
        frame = json.loads(message)
        if frame[0] == 3:
            if self.closed:
                raise ConnectionClosed(None, None)
            if self.hold_answers:
                self.answers_held += 1
                await self.release.wait()
            if "transactionId" in frame[2]:
                self.told.add(frame[2]["transactionId"])
        self.received.append(frame)
        if frame[0] == 2 and frame[2] == "SetChargingProfile":
            profile = frame[3]["csChargingProfiles"]
            known = profile.get("transactionId") in self.told
            answer = json.dumps([3, frame[1], {"status": "Accepted" if known else "Rejected"}])
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(self.conn.route_message(answer))
            )


class Planner:
    """The planning wing's part: on a transaction's start, at once a TxProfile for it; and
    whether the station had been told the transaction's id when the start was heard."""

    def __init__(self, commands: Commands, station: Station16) -> None:
        self.commands = commands
        self.station = station
        self.heard: list[tuple[int, bool]] = []
        self.sends: list[asyncio.Task[CommandResult]] = []

    def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, TransactionStarted):
            tx = event.transaction
            self.heard.append((tx.id, tx.id in self.station.told))
            self.sends.append(
                asyncio.ensure_future(self.commands.set_charging_profile(tx_profile(tx)))
            )


def tx_profile(tx: Transaction) -> ChargingLimit:
    return ChargingLimit(
        tx.station_id, tx.evse_id, ChargingRateUnit.WATT, ((0, 7400.0, None),), transaction_id=tx.id
    )


async def make(store: MemoryStore | None = None) -> tuple[Station16, CentralSystem, Planner]:
    store = store or MemoryStore()
    await store.put_station(StationRecord("CP"))
    bus = EventBus()
    central = CentralSystem(store, bus, ManualClock(T0))
    station = Station16()
    station.conn = V16Connection("CP", station, central)
    planner = Planner(Commands(lambda _sid: station.conn, central), station)
    bus.subscribe(planner)
    return station, central, planner


async def test_a_start_is_announced_once_the_station_has_its_transaction_id() -> None:
    station, _, planner = await make()
    await station.conn.route_message(json.dumps(START))
    (send,) = planner.sends
    assert (await send).status == "Accepted"  # before decision 0014: Rejected
    assert planner.heard == [(1, True)]  # the answer was written before the announcement
    kinds = [(f[0], f[1] if f[0] == 3 else f[2]) for f in station.received]
    assert kinds == [(3, "start-1"), (2, "SetChargingProfile")]


async def test_a_txprofile_for_a_transaction_whose_answer_is_on_its_way_waits_for_it() -> None:
    station, central, planner = await make()
    station.hold_answers = True
    handling = asyncio.ensure_future(station.conn.route_message(json.dumps(START)))
    await wait_until(lambda: station.answers_held == 1, 10, "the answer on its way")
    assert planner.heard == []  # committed, not yet announced
    tx = await central.store.get_transaction(1)
    assert tx is not None and tx.active
    # Someone who read the store (the API, a planner loading its state) sends at once.
    send = asyncio.ensure_future(
        central_commands(station, central).set_charging_profile(tx_profile(tx))
    )
    await wait_until(lambda: central.untold.waiters == 1, 10, "the TxProfile waiting")
    assert [f for f in station.received if f[0] == 2] == []
    station.release.set()
    await handling
    assert (await send).status == "Accepted"
    assert [(await s).status for s in planner.sends] == ["Accepted"]
    assert planner.heard == [(1, True)]
    calls = [f[2] for f in station.received if f[0] == 2]
    assert station.received[0][:2] == [3, "start-1"] and calls == ["SetChargingProfile"] * 2


def central_commands(station: Station16, central: CentralSystem) -> Commands:
    return Commands(lambda _sid: station.conn, central)


async def test_a_lost_answer_still_announces_and_its_resend_tells_the_station() -> None:
    station, central, planner = await make()
    station.closed = True
    await station.conn.route_message(json.dumps(START))
    assert planner.heard == [(1, False)]  # the store has it: announced, the station not told
    await wait_until(lambda: central.untold.waiters == 1, 10, "the TxProfile waiting")
    assert [f for f in station.received if f[0] == 2] == []
    # The station resends the StartTransaction it got no answer to: now it is told, and
    # the TxProfile goes out.
    station.closed = False
    await station.conn.route_message(json.dumps([2, "start-2", *START[2:]]))
    assert station.told == {1} and 1 not in central.untold
    assert (await planner.sends[0]).status == "Accepted"
    assert len(planner.heard) == 1  # not announced twice


class SlowStore(MemoryStore):
    """Opens a transaction only once ``commit`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.commit = asyncio.Event()
        self.opening = 0

    async def open_transaction(self, new: NewTransaction) -> tuple[Transaction, bool]:
        self.opening += 1
        await self.commit.wait()
        return await super().open_transaction(new)


async def test_a_commit_that_outlives_its_cancelled_handler_is_still_announced() -> None:
    store = SlowStore()
    station, central, planner = await make(store)
    handling = asyncio.ensure_future(station.conn.route_message(json.dumps(START)))
    await wait_until(lambda: store.opening == 1, 10, "the commit under way")
    handling.cancel()  # the station went away
    with pytest.raises(asyncio.CancelledError):
        await handling
    store.commit.set()
    await wait_until(lambda: planner.heard, 10, "the start announced")
    assert planner.heard == [(1, False)] and 1 in central.untold
    await wait_until(lambda: central.untold.waiters == 1, 10, "the TxProfile waiting")
    assert station.received == []
    await station.conn.route_message(json.dumps([2, "start-2", *START[2:]]))
    assert (await planner.sends[0]).status == "Accepted"
