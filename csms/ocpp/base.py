"""What both OCPP adapters share: framing, validation, dispatch and outgoing calls.

:class:`OcppConnection` keeps the ``ocpp`` library's ``ChargePoint`` (its ``@on`` handlers
and route map) and replaces the parts that matter for robustness and speed:

* ``route_message`` answers every malformed CALL with a CALLERROR (the library only logs),
  and drops a CALLRESULT / CALLERROR whose message id no call is waiting for, with a log
  line naming the station (the library would hand it to the next call);
* ``_handle_call`` validates with precompiled schemas (:mod:`csms.ocpp.validation`),
  converts keys with memoized case conversion and maps handler failures to CALLERRORs;
* ``call`` / :meth:`request` send one call at a time, time out after ``call_timeout_s``
  and raise :mod:`csms.exceptions` errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar, TypeVar, cast

from ocpp.charge_point import ChargePoint, serialize_as_dict
from ocpp.exceptions import (
    InternalError,
    OCPPError,
    PropertyConstraintViolationError,
    SecurityError,
)
from ocpp.routing import create_route_map
from ocpp.routing import on as _on
from websockets.exceptions import ConnectionClosed

from csms.core.answers import AfterAnswer
from csms.core.commands import CommandResult
from csms.core.service import CentralSystem
from csms.domain import BootInfo, RegistrationStatus
from csms.exceptions import CommandFailed, CommandTimeout, StationOffline
from csms.ocpp import validation
from csms.ocpp.casing import to_camel, to_snake
from csms.ocpp.framing import (
    V21_UNANSWERED,
    MessageTypeNotSupported,
    frame_error,
    no_handler,
)

__all__ = ["OcppConnection", "format_timestamp", "on", "parse_timestamp"]

F = TypeVar("F", bound=Callable[..., Any])


def on(action: str) -> Callable[[F], F]:
    """The library's ``@on`` with a type (the library is untyped)."""
    return cast(Callable[[F], F], _on(action))


logger = logging.getLogger("csms.ocpp")

_ID_IN_BROKEN_FRAME = re.compile(r'^\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')
#: OCPP-J: a message id is at most 36 characters (room for a UUID).
MAX_MESSAGE_ID_LENGTH = 36
#: RFC 6455 7.4.1: the endpoint received a type of data it cannot accept (OCPP-J messages
#: are JSON in text frames).
CLOSE_UNSUPPORTED_DATA = 1003
_ALWAYS_ALLOWED = frozenset({"BootNotification"})
#: what a TriggerMessage (1.6 also ExtendedTriggerMessage) asks for, where the message it
#: brings has another name
_TRIGGERED = {
    "SignChargingStationCertificate": "SignCertificate",
    "SignChargePointCertificate": "SignCertificate",
    "SignV2GCertificate": "SignCertificate",
    "SignCombinedCertificate": "SignCertificate",
}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, datetime):
        return format_timestamp(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


#: a frame as compact JSON, by one encoder (``json.dumps`` with options builds one per call)
dumps = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode


def format_timestamp(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_timestamp(value: Any, version: str) -> datetime:
    """An aware UTC datetime from an OCPP timestamp; naive ones are taken as UTC."""
    if not isinstance(value, str):
        raise validation.format_error(version, f"timestamp must be a string, got {value!r}")
    try:
        # RFC 3339 allows a lower-case "t" and "z"; fromisoformat takes only upper case
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        raise validation.format_error(version, f"not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@cache
def _wants_unique_id_of(func: Any) -> bool:
    return "call_unique_id" in inspect.signature(func).parameters


def _wants_unique_id(handler: Any) -> bool:
    return _wants_unique_id_of(getattr(handler, "__func__", handler))


class OcppConnection(ChargePoint):  # type: ignore[misc]
    """One connected station. Subclasses add the version's ``@on`` handlers."""

    ocpp_version = "1.6"
    _route_cache: ClassVar[dict[str, dict[str, Any]]]

    def __init__(
        self,
        station_id: str,
        connection: Any,
        central: CentralSystem,
        *,
        call_timeout_s: float = 30.0,
    ) -> None:
        # Not ChargePoint.__init__: it builds a route map of bound methods per connection
        # (about 40 objects, 3 KB, and a scan of every @on name) and a response queue and
        # lock this class does not use. The routes are the class's, built once
        # (:meth:`_routes`); the library's attributes that callers may read are set here.
        self.id = station_id
        self._connection = connection
        self._response_timeout = call_timeout_s
        self.logger = logger
        self._unique_id_generator = uuid.uuid4
        self.route_map = self._routes()
        self._lock: asyncio.Lock | None = None
        self.station_id = station_id
        self.central = central
        self.call_timeout_s = call_timeout_s
        self.registration = RegistrationStatus.ACCEPTED
        #: while Pending, what the station may send because the central system asked for it
        #: (B02.FR.09): what a TriggerMessage names, the NotifyReport of a report request
        self._invited: frozenset[str] | set[str] = frozenset()  # shared until invited
        self._pending: dict[str, tuple[str, asyncio.Future[list[Any]]]] = {}
        self.bad_frames = 0
        self._after: AfterAnswer | None = None

    @classmethod
    def _routes(cls) -> dict[str, dict[str, Any]]:
        """The class's ``@on`` handlers by action (plain functions, bound per call), built
        on first use and shared by every connection of the class."""
        routes: dict[str, dict[str, Any]] | None = cls.__dict__.get("_route_cache")
        if routes is None:
            routes = create_route_map(cls)
            cls._route_cache = routes
        return routes

    @property
    def _call_lock(self) -> asyncio.Lock:
        """One command at a time to the station (created by the first)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # -- receiving ------------------------------------------------------------------------
    async def run(self) -> None:
        """Process frames until the connection closes (one at a time, as OCPP requires)."""
        try:
            async for raw in self._connection:
                await self.route_message(raw)
        except ConnectionClosed:
            pass
        finally:
            self.fail_pending()

    # -- what both versions answer alike -----------------------------------------------------
    async def boot_answer(self, info: BootInfo) -> dict[str, Any]:
        """Record a boot with the core; the BootNotification answer has the same shape in
        1.6 and 2.0.1."""
        decision = await self.central.boot(self.station_id, info)
        self.registration = decision.status
        self._invited = frozenset()
        return {
            "currentTime": format_timestamp(self.central.clock.now()),
            "interval": decision.interval_s,
            "status": decision.status.value,
        }

    @on("Heartbeat")
    async def on_heartbeat(self, **kw: Any) -> dict[str, Any]:
        # 2.0.1 / 2.1 allow customData here, like in every message
        now = await self.central.heartbeat(self.station_id)
        return {"currentTime": format_timestamp(now)}

    def fail_pending(self) -> None:
        for action, fut in self._pending.values():
            if not fut.done():
                fut.set_exception(StationOffline(self.station_id, action))
        self._pending.clear()

    async def route_message(self, raw_msg: str | bytes) -> None:
        if isinstance(raw_msg, bytes):
            # OCPP-J is JSON in text frames; a binary frame is not an OCPP message at all, so
            # it has no message id to answer: close as RFC 6455 says for data of a type the
            # endpoint cannot accept. The station reconnects and sends text.
            self.bad_frames += 1
            logger.warning(
                "station %s: binary frame (%d bytes) refused: closing with %d",
                self.station_id,
                len(raw_msg),
                CLOSE_UNSUPPORTED_DATA,
            )
            with contextlib.suppress(ConnectionClosed):
                await self._connection.close(
                    code=CLOSE_UNSUPPORTED_DATA, reason="OCPP-J messages are text frames"
                )
            return
        try:
            frame = json.loads(raw_msg)
        except (ValueError, UnicodeDecodeError):
            text = raw_msg if isinstance(raw_msg, str) else raw_msg.decode("utf-8", "replace")
            match = _ID_IN_BROKEN_FRAME.match(text)
            error = (
                validation.format_error(self.ocpp_version, "message is not valid JSON")
                if match or self.ocpp_version == "1.6"
                else frame_error(self.ocpp_version, "message is not valid JSON")
            )
            await self._reject(match.group(1) if match else "-1", error, text[:200])
            return
        if not isinstance(frame, list) or not frame:
            await self._reject(
                "-1", frame_error(self.ocpp_version, "a message must be a JSON array"), frame
            )
            return
        kind = frame[0]
        unique_id = frame[1] if len(frame) > 1 and isinstance(frame[1], str) else "-1"
        if kind == validation.CALL:
            if (
                len(frame) != 4
                or not isinstance(frame[1], str)
                or not isinstance(frame[2], str)
                or not isinstance(frame[3], dict)
            ):
                await self._reject(
                    unique_id,
                    frame_error(self.ocpp_version, "a CALL is [2, uniqueId, action, {payload}]"),
                    frame,
                )
                return
            if not 0 < len(frame[1]) <= MAX_MESSAGE_ID_LENGTH:
                # Readable but not a valid message id: refused, under the id it came with
                # (the station can match the answer to its call), and never handled.
                await self._reject(unique_id, self._bad_message_id(len(frame[1])), frame)
                return
            await self._dispatch(frame[1], frame[2], frame[3])
        elif kind in (validation.CALL_RESULT, 4):
            self._deliver(frame)
        elif self.ocpp_version == "2.1" and kind in V21_UNANSWERED:
            # 2.1 SEND (6) is never answered; a CALLRESULTERROR (5) reports that an answer of
            # ours could not be processed: both are logged, neither gets a CALLERROR
            if kind == 5:
                self.bad_frames += 1
            logger.info(
                "station %s: message type %s not processed: %.200r", self.station_id, kind, frame
            )
        else:
            bad_type: OCPPError
            if self.ocpp_version == "1.6":
                bad_type = PropertyConstraintViolationError(
                    description=f"MessageTypeId {kind!r} is not valid",
                    details={"cause": f"MessageTypeId {kind!r} is not valid"},
                )
            else:
                bad_type = MessageTypeNotSupported(
                    description=f"MessageTypeId {kind!r} is not supported",
                    details={"cause": f"MessageTypeId {kind!r} is not supported"},
                )
            await self._reject(unique_id, bad_type, frame)

    def _bad_message_id(self, length: int) -> OCPPError:
        """The CALLERROR for a message id of ``length`` characters: 2.0.1 and 2.1 name the
        framework error ``RpcFrameworkError``; 1.6 has no such code and calls a frame that
        breaks the RPC structure a ``ProtocolError`` (as for the other framing errors)."""
        cause = f"message id of {length} characters: 1 to {MAX_MESSAGE_ID_LENGTH} allowed"
        return frame_error(self.ocpp_version, cause)

    async def _reject(self, unique_id: str, error: OCPPError, frame: Any) -> None:
        self.bad_frames += 1
        logger.warning(
            "station %s: bad frame answered %s (%s): %.200r",
            self.station_id,
            error.code,
            error.description,
            frame,
        )
        # OCPP-J: ErrorDescription is string[255]
        description = str(error.description)[:255]
        await self._send(dumps([4, unique_id, error.code, description, error.details]))

    def _deliver(self, frame: list[Any]) -> None:
        unique_id = frame[1] if len(frame) > 1 else None
        pending = self._pending.get(unique_id) if isinstance(unique_id, str) else None
        if pending is None:
            self.bad_frames += 1
            logger.warning(
                "station %s: answer to unknown message id %r dropped: %.200r",
                self.station_id,
                unique_id,
                frame,
            )
            return
        _, fut = pending
        if not fut.done():
            fut.set_result(frame)

    async def _dispatch(self, unique_id: str, action: str, payload: dict[str, Any]) -> None:
        answered = False
        try:
            try:
                response = await self._handle(unique_id, action, payload)
            except OCPPError as error:
                await self._reject(unique_id, error, [2, unique_id, action, payload])
                return
            except Exception:
                logger.exception(
                    "station %s: %s handler failed; answered InternalError", self.station_id, action
                )
                internal = InternalError(
                    description="internal error while handling the request",
                    details={"cause": "internal error"},
                )
                await self._send(
                    dumps([4, unique_id, internal.code, internal.description, internal.details])
                )
                return
            answered = await self._send(dumps([3, unique_id, response]))
        finally:  # what follows the answer, written or not (even when cancelled; 0014)
            after, self._after = self._after, None
            if after is not None:
                after.done(sent=answered)

    def after_answer(self) -> AfterAnswer:
        """The hold on the answer to the message being handled: what a handler hands it
        runs once that answer is written or given up on (decision 0014)."""
        if self._after is None:
            self._after = AfterAnswer()
        return self._after

    async def _handle(self, unique_id: str, action: str, payload: dict[str, Any]) -> Any:
        handlers = self.route_map.get(action)
        if handlers is None or "_on_action" not in handlers:
            no_handler(action, self.ocpp_version)
        if (
            self.registration is not RegistrationStatus.ACCEPTED
            and action not in _ALWAYS_ALLOWED
            and not (self.registration is RegistrationStatus.PENDING and action in self._invited)
        ):
            raise SecurityError(
                description=f"station is {self.registration.value}; send BootNotification",
                details={"cause": f"registration status {self.registration.value}"},
            )
        if not handlers.get("_skip_schema_validation", False):
            validation.validate(self.ocpp_version, action, validation.CALL, payload)
        kwargs = to_snake(payload)
        handler = handlers["_on_action"].__get__(self, type(self))
        if _wants_unique_id(handler):
            kwargs["call_unique_id"] = unique_id
        result = handler(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return to_camel(serialize_as_dict(result) if not isinstance(result, dict) else result)

    async def _handle_call(self, msg: Any) -> None:
        """The library's entry point, kept for callers that use it directly."""
        await self._dispatch(msg.unique_id, msg.action, msg.payload)

    async def _send(self, message: str) -> bool:
        """Write an answer; False if the connection closed first."""
        logger.debug("station %s: send %s", self.station_id, message)
        try:
            await self._connection.send(message)
        except ConnectionClosed:
            logger.info("station %s: answer not sent, connection closed", self.station_id)
            return False
        return True

    # -- sending --------------------------------------------------------------------------
    async def request(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL (camelCase payload), return the CALLRESULT payload."""
        self._checked(action, validation.CALL, payload, "invalid request")
        self._invite(action, payload)
        unique_id = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        async with self._call_lock:
            fut: asyncio.Future[list[Any]] = loop.create_future()
            self._pending[unique_id] = (action, fut)
            try:
                try:
                    await self._connection.send(dumps([2, unique_id, action, payload]))
                except ConnectionClosed:
                    raise StationOffline(self.station_id, action) from None
                try:
                    # Not wait_for: on 3.11 it loses a cancellation that coincides with the
                    # answer, and the caller's task then never stops.
                    async with asyncio.timeout(self.call_timeout_s):
                        frame = await fut
                except TimeoutError:
                    raise CommandTimeout(self.station_id, action, self.call_timeout_s) from None
            finally:
                self._pending.pop(unique_id, None)
        if frame[0] == 4:
            code = frame[2] if len(frame) > 2 else "GenericError"
            description = frame[3] if len(frame) > 3 else ""
            raise CommandFailed(self.station_id, action, str(code), str(description))
        result = frame[2] if len(frame) > 2 else None
        if not isinstance(result, dict):
            raise CommandFailed(self.station_id, action, "ProtocolError", "answer has no payload")
        self._checked(action, validation.CALL_RESULT, result, "invalid answer")
        return result

    def _checked(self, action: str, kind: int, payload: dict[str, Any], what: str) -> None:
        """Validate an outgoing request or its answer; a failure is a :class:`CommandFailed`."""
        try:
            validation.validate(self.ocpp_version, action, kind, payload)
        except OCPPError as exc:
            raise CommandFailed(
                self.station_id, action, exc.code, f"{what}: {exc.description}"
            ) from None

    async def call(
        self,
        payload: Any,
        suppress: bool = False,
        unique_id: str | None = None,
        skip_schema_validation: bool = False,
    ) -> Any:
        """The library's ``call`` on top of :meth:`request` (errors always raise)."""
        del suppress, unique_id, skip_schema_validation
        action = payload.__class__.__name__
        answer = await self.request(action, to_camel(serialize_as_dict(payload)))
        cls = getattr(self._call_result, action)
        return cls(**to_snake(answer))

    async def send_raw(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.request(action, payload)

    def _invite(self, action: str, payload: dict[str, Any]) -> None:
        """A Pending station may answer what it is asked for (B02.FR.09)."""
        if action in ("GetBaseReport", "GetReport"):
            self._invited = {*self._invited, "NotifyReport"}
        elif action in ("TriggerMessage", "ExtendedTriggerMessage"):
            requested = str(payload.get("requestedMessage", ""))
            self._invited = {*self._invited, _TRIGGERED.get(requested, requested)}

    async def _status_call(self, action: str, payload: dict[str, Any]) -> CommandResult:
        answer = await self.request(action, payload)
        return CommandResult(str(answer.get("status", "")), answer)

    async def close(self, reason: str) -> None:
        await self._connection.close(code=1000, reason=reason)
