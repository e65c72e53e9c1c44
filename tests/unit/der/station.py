"""A 2.1 adapter on a fake connection: frames the central system sends are recorded, and
its calls are answered with what the test sets (no sockets)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from chargegrid.clock import ManualClock
from csms.core.commands import Commands
from csms.core.service import CentralSystem
from csms.events import EventBus
from csms.ocpp.v21 import V21Connection
from csms.store import MemoryStore, Store
from csms.store.base import StationRecord

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


class FakeConnection:
    """Answers each CALL with ``answers[action]`` (a payload, or an ``(code, text)``
    CALLERROR), through the adapter's own ``route_message``."""

    def __init__(self) -> None:
        self.sent: list[list[Any]] = []
        self.answers: dict[str, Any] = {}
        self.adapter: V21Connection | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, message: str) -> None:
        frame = json.loads(message)
        self.sent.append(frame)
        if frame[0] == 2 and self.adapter is not None:
            answer = self.answers[frame[2]]
            reply = (
                [4, frame[1], answer[0], answer[1], {}]
                if isinstance(answer, tuple)
                else [3, frame[1], answer]
            )
            task = asyncio.create_task(self.adapter.route_message(json.dumps(reply)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def calls(self, action: str) -> list[dict[str, Any]]:
        return [f[3] for f in self.sent if f[0] == 2 and f[2] == action]

    def results(self) -> list[list[Any]]:
        """The answers to the station's calls (CALLRESULT / CALLERROR)."""
        return [f for f in self.sent if f[0] in (3, 4)]


class Rig:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store or MemoryStore()
        self.bus = EventBus()
        self.events: list[Any] = []
        self.bus.subscribe(self.events.append)
        self.clock = ManualClock(T0)
        self.central = CentralSystem(
            self.store, self.bus, self.clock, retry_initial_s=0.001, retry_max_s=0.004
        )
        self.fake = FakeConnection()
        self.conn = V21Connection("CS21", self.fake, self.central, call_timeout_s=5)
        self.fake.adapter = self.conn
        self.commands = Commands(lambda sid: self.conn if sid == "CS21" else None, self.central)

    async def setup(self) -> Rig:
        await self.store.put_station(StationRecord("CS21"))
        return self

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """The station sends ``action``; returns the central system's answer frame."""
        before = len(self.fake.results())
        await self.conn.route_message(json.dumps([2, f"m{len(self.fake.sent)}", action, payload]))
        answers = self.fake.results()
        assert len(answers) == before + 1
        return answers[-1]

    def of_type(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]
