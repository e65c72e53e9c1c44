"""The last OCPP frames of each station, in memory, for people looking at a station.

:class:`MessageLog` keeps, per station, the newest ``per_station`` frames in both directions
(a bounded ring: appending is all the OCPP path pays; frames are parsed only when someone
reads them). The central system's own calls and the station's answers to them are kept in a
second ring of the same size, made when the first command goes out, so a station's steady
meter values never push a command someone just sent out of view. :class:`LoggedConnection`
wraps a station's WebSocket so that every frame it receives or sends is appended, without the
adapters knowing.

What is shown is redacted: the payloads of messages that can carry secrets or key material
(``ChangeConfiguration`` / ``SetVariables`` may set the station's password,
``DataTransfer`` is opaque, certificates are large) are replaced by a note, on the way out
of the log, and the answers to those calls with them.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

__all__ = ["REDACTED_ACTIONS", "LoggedConnection", "LoggedFrame", "MessageLog", "OcppMessage"]

#: actions whose payloads (both the call and its answer) are never shown
REDACTED_ACTIONS = frozenset(
    {
        "ChangeConfiguration",
        "GetConfiguration",
        "SetVariables",
        "GetVariables",
        "DataTransfer",
        "CertificateSigned",
        "InstallCertificate",
        "SignCertificate",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "SetNetworkProfile",
        "Authorize",  # 2.0.1 may carry a certificate and OCSP data
    }
)
_REDACTED = {"redacted": "payload not shown (may carry secrets or certificates)"}
#: frames longer than this are cut when they are logged (MeterValues stay whole)
MAX_FRAME_CHARS = 8192


@dataclass(frozen=True, slots=True)
class LoggedFrame:
    """A frame as it passed: raw text, direction (``in`` = from the station), time, and its
    place in the log (frames of one time stay in the order they passed)."""

    at: datetime
    direction: str
    text: str
    seq: int


@dataclass(frozen=True, slots=True)
class OcppMessage:
    """A frame read back: ``kind`` is ``CALL``, ``CALLRESULT``, ``CALLERROR`` or ``invalid``."""

    at: datetime
    direction: str
    kind: str
    unique_id: str | None
    action: str | None
    payload: Any
    error_code: str | None = None


_KINDS = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}


class _Ring:
    """The newest ``size`` frames, oldest first: a list that grows to ``size`` and is then
    overwritten in turn. (A bounded deque allocates a block of 64 slots, about 0.6 KB per
    station, whatever its bound.)"""

    __slots__ = ("_items", "_next", "_size")

    def __init__(self, size: int) -> None:
        self._items: list[LoggedFrame] = []
        self._next = 0
        self._size = size

    def append(self, item: LoggedFrame) -> None:
        if len(self._items) < self._size:
            self._items.append(item)
        else:
            self._items[self._next] = item
            self._next = (self._next + 1) % self._size

    def __iter__(self) -> Iterator[LoggedFrame]:
        n = self._next
        return iter(self._items[n:] + self._items[:n])

    def __reversed__(self) -> Iterator[LoggedFrame]:
        return reversed(list(self))

    def __len__(self) -> int:
        return len(self._items)


class MessageLog:
    """The newest frames per station."""

    def __init__(self, *, now: Callable[[], datetime], per_station: int = 50) -> None:
        self._now = now
        self.per_station = per_station
        self._frames: dict[str, _Ring] = {}
        #: the central system's calls and the answers to them
        self._commands: dict[str, _Ring] = {}
        self._seq = itertools.count()

    def record(self, station_id: str, direction: str, text: str | bytes) -> None:
        if self.per_station <= 0:
            return
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        rings = self._commands if _is_command_frame(direction, text) else self._frames
        frames = rings.get(station_id)
        if frames is None:
            frames = rings[station_id] = _Ring(self.per_station)
        frames.append(LoggedFrame(self._now(), direction, text[:MAX_FRAME_CHARS], next(self._seq)))

    def last_received(self, station_id: str) -> datetime | None:
        """When the station's newest kept frame arrived (None: none kept)."""
        newest: datetime | None = None
        for rings in (self._frames, self._commands):
            for frame in reversed(rings.get(station_id, ())):
                if frame.direction == "in":
                    newest = frame.at if newest is None else max(newest, frame.at)
                    break
        return newest

    def forget(self, station_id: str) -> None:
        self._frames.pop(station_id, None)
        self._commands.pop(station_id, None)

    def messages(self, station_id: str, *, limit: int = 50) -> list[OcppMessage]:
        """The newest ``limit`` frames of ``station_id``, newest first, parsed and redacted;
        an answer names the action of the call it answers when that call is still kept."""
        frames = list(
            heapq.merge(
                self._frames.get(station_id, ()),
                self._commands.get(station_id, ()),
                key=lambda frame: frame.seq,
            )
        )
        actions: dict[tuple[str, str], str] = {}
        parsed: list[OcppMessage] = []
        for frame in frames:  # oldest first, so calls are seen before their answers
            message = _parse(frame)
            if message.kind == "CALL" and message.unique_id and message.action:
                actions[(frame.direction, message.unique_id)] = message.action
            elif message.kind in ("CALLRESULT", "CALLERROR") and message.unique_id:
                caller = "out" if frame.direction == "in" else "in"
                action = actions.get((caller, message.unique_id))
                if action is not None:
                    message = replace(message, action=action)
            parsed.append(_redact(message))
        parsed.reverse()
        return parsed[:limit]


def _is_command_frame(direction: str, text: str) -> bool:
    """A call the central system sent, or the station's answer to one: a frame whose message
    type (the first number after ``[``) is 2 going out, or 3 or 4 coming in."""
    kind = text.lstrip()[1:].lstrip()[:1]
    return kind == "2" if direction == "out" else kind in ("3", "4")


def _parse(frame: LoggedFrame) -> OcppMessage:
    try:
        value = json.loads(frame.text)
    except ValueError:
        value = None
    if not isinstance(value, list) or len(value) < 3 or value[0] not in _KINDS:
        return OcppMessage(frame.at, frame.direction, "invalid", None, None, frame.text[:200])
    kind = _KINDS[value[0]]
    unique_id = value[1] if isinstance(value[1], str) else None
    if kind == "CALL":
        action = value[2] if isinstance(value[2], str) else None
        payload = value[3] if len(value) > 3 else None
        return OcppMessage(frame.at, frame.direction, kind, unique_id, action, payload)
    if kind == "CALLRESULT":
        return OcppMessage(frame.at, frame.direction, kind, unique_id, None, value[2])
    details = {"description": value[3] if len(value) > 3 else "", "details": value[4:5]}
    code = str(value[2])
    return OcppMessage(frame.at, frame.direction, kind, unique_id, None, details, code)


def _redact(message: OcppMessage) -> OcppMessage:
    if message.action in REDACTED_ACTIONS or (message.kind != "CALL" and message.action is None):
        # an answer whose call is no longer kept may answer a redacted action
        payload = _REDACTED if message.kind != "CALLERROR" else message.payload
        return replace(message, payload=payload)
    return message


class LoggedConnection:
    """A station's WebSocket connection that appends every frame to a :class:`MessageLog`.

    Everything but receiving (iteration, ``recv``) and ``send`` goes to the wrapped
    connection unchanged."""

    __slots__ = ("_connection", "_log", "_station_id")

    def __init__(self, connection: Any, station_id: str, log: MessageLog) -> None:
        self._connection = connection
        self._station_id = station_id
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        async for raw in self._connection:
            self._log.record(self._station_id, "in", raw)
            yield raw

    async def recv(self, *args: Any, **kwargs: Any) -> Any:
        raw = await self._connection.recv(*args, **kwargs)
        self._log.record(self._station_id, "in", raw)
        return raw

    async def send(self, message: Any, *args: Any, **kwargs: Any) -> None:
        await self._connection.send(message, *args, **kwargs)
        if isinstance(message, str | bytes):
            self._log.record(self._station_id, "out", message)
