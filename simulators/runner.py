"""The asyncio layer of one simulated station: connect, boot, pump messages, call the model.

Two tasks per station. The *simulation* task steps the :class:`~simulators.station.Station`
at its next wake-up on the injected clock, whether the station is connected or not, and puts
what the model says into the outbox. The *connection* task connects (Basic auth, the
version's subprotocol), boots (retrying while Pending/Rejected, honouring the interval),
then sends the outbox in order, heartbeats, and on a dropped connection reconnects with
exponential backoff and jitter.

Transaction messages (and 2.0.1 charging needs) stay in the outbox until the central system
has answered them, so an outage delays them but keeps them complete and in order (marked
offline for 2.0.1). Status
notifications produced while offline are dropped (current states are sent after the next
boot) and authorizations are decided locally (``LocalAuthorizeOffline``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from ocpp.exceptions import OCPPError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from chargegrid.clock import Clock
from simulators.credentials import StationCredentials
from simulators.exceptions import BootRejected, CallErrorReceived, ResponseTimeout
from simulators.faults import FAULT_KINDS, FaultInjection
from simulators.messages import (
    QUEUED_OFFLINE,
    AuthorizeRequest,
    Outgoing,
    TransactionStarted,
)
from simulators.session_waits import AnswerHandOver, ConnectionLost, answered, slept
from simulators.station import Station
from simulators.stats import RunnerStats
from simulators.tls import StationTls

__all__ = ["FAULT_KINDS", "Adapter", "OutItem", "RunnerStats", "StationRunner"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class OutItem:
    """One thing to send: a model message, or ``"Heartbeat"`` / ``"BootNotification"``."""

    message: Outgoing | str
    offline: bool = False
    attempts: int = 0


class Adapter(Protocol):
    """What a protocol version supplies: the subprotocol, the handlers and the encoding."""

    subprotocol: str

    def charge_point(self, runner: StationRunner, ws: ClientConnection) -> Any: ...

    def boot_request(self, station: Station) -> Any: ...

    def boot_result(self, result: Any) -> tuple[str, int]: ...

    def heartbeat_request(self) -> Any: ...

    def sign_certificate_request(self, csr: str) -> Any: ...

    def encode(self, item: OutItem, station: Station) -> Any | None: ...

    def on_result(
        self, item: OutItem, result: Any, station: Station, runner: StationRunner
    ) -> list[Outgoing]: ...


class StationRunner(StationCredentials, FaultInjection):
    """Runs one :class:`Station` against a central system at ``{url}/{station_id}``."""

    def __init__(
        self,
        station: Station,
        adapter: Adapter,
        *,
        url: str,
        clock: Clock,
        password: str | None = None,
        tls: StationTls | None = None,
        response_timeout_s: float = 30.0,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 120.0,
        boot_retry_s: float = 60.0,
        max_boot_rejections: int | None = None,
        attempts: int = 3,
        rng: random.Random | None = None,
    ) -> None:
        self.station = station
        self.adapter = adapter
        self.url = f"{url.rstrip('/')}/{station.spec.station_id}"
        self.clock = clock
        self.init_credentials(password, tls)
        self._cp: Any = None
        #: the answer to the call in flight, applied before the reader takes the next frame
        self.answers = AnswerHandOver()
        self._tasks: set[asyncio.Task[None]] = set()
        self.response_timeout_s = response_timeout_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.boot_retry_s = boot_retry_s
        #: Give up (``run`` raises :class:`BootRejected`) after this many rejections; None: never.
        self.max_boot_rejections = max_boot_rejections
        self.attempts = attempts
        self.rng = rng or random.Random()
        #: How long a stop waits for the closing handshake.
        self.close_timeout_s = 2.0
        self.stats = RunnerStats()
        self.outbox: deque[OutItem] = deque()
        self.online = False
        self.booted_once = False
        #: Fault injection: delay every answer to the central system by this many clock seconds.
        self.answer_delay_s = 0.0
        self._ws: ClientConnection | None = None
        self._outbox_ready = asyncio.Event()
        self._poke = asyncio.Event()
        self._reboot = False
        self._sim: asyncio.Task[None] | None = None
        #: When the model stopped (:meth:`stop_simulating`): it is never stepped past it.
        self.stopped_at: datetime | None = None
        #: A reset asked for "when idle" (2.0.1 OnIdle) waits for the last transaction's end.
        self.reset_when_idle = False

    @property
    def station_id(self) -> str:
        return self.station.spec.station_id

    @property
    def heartbeat_s(self) -> float:
        """The heartbeat interval in force: the boot's, or a later ChangeConfiguration's."""
        return float(self.station.config["HeartbeatInterval"])

    # --- model side --------------------------------------------------------------------------

    def submit(self, messages: list[Outgoing]) -> None:
        """Take what the model said: queue, or decide locally while offline."""
        for message in messages:
            if isinstance(message, QUEUED_OFFLINE):
                self.outbox.append(OutItem(message, offline=not self.online))
                if not self.online:
                    self.stats.offline_queued += 1
            elif self.online:
                self.outbox.append(OutItem(message))
            elif isinstance(message, AuthorizeRequest):
                local = self.station.config.get("LocalAuthorizeOffline") == "true"
                self.submit(self.station.on_authorized(message.connector_id, local, message.at))
        if self.reset_when_idle and all(c.tx is None for c in self.station.connectors.values()):
            self.reset_when_idle = False
            self.reboot()
        if self.outbox:
            self._outbox_ready.set()

    def config_changed(self) -> None:
        """A configuration key changed: the idle pump re-reads the heartbeat interval."""
        self._outbox_ready.set()

    def poke(self) -> None:
        """Something changed from outside (a command): step the model now."""
        self._poke.set()

    def request_certificate(self) -> bool:
        """Send SignCertificate with a CSR for a fresh key (soon, not from a handler).
        False when the station keeps no certificates or is offline."""
        if self.certificates is None or self._cp is None:
            return False
        task = asyncio.ensure_future(self._sign_certificate(self._cp))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _sign_certificate(self, cp: Any) -> None:
        assert self.certificates is not None
        payload = self.adapter.sign_certificate_request(self.certificates.new_csr())
        try:
            result = await cp.call(payload, suppress=False)
        except (OCPPError, TimeoutError, ConnectionClosed) as exc:
            self.stats.error(f"SignCertificate: {exc!r}")
            return
        status = getattr(result, "status", "")
        if status != "Accepted":
            self.stats.error(f"SignCertificate {status}")

    def reboot(self) -> None:
        """Close the connection once the outbox is sent; the station then boots again
        (on the network profile a reset made current, if any)."""
        self.switch_network()
        self._reboot = True
        self._outbox_ready.set()

    def send_later(self, what: str) -> None:
        """Queue a triggered ``"Heartbeat"`` or ``"BootNotification"``."""
        self.outbox.append(OutItem(what))
        self._outbox_ready.set()

    async def send_malformed(self) -> None:
        """Fault injection: send a frame that is not valid OCPP."""
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send('[2, "broken", "Heartbeat", ')

    # --- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled (or :class:`BootRejected` when ``max_boot_rejections`` is set)."""
        self._sim = asyncio.create_task(self._simulate(), name=f"{self.station_id}-sim")
        try:
            await self._connect_loop()
        finally:
            await self.stop_simulating()

    async def stop_simulating(self, *, at: datetime | None = None) -> None:
        """Stop the model at ``at`` (default now): it decides nothing more; what it decided
        is still sent."""
        if self._sim is not None:
            self._sim.cancel()
            await asyncio.gather(self._sim, return_exceptions=True)
            self.stopped_at = self.stopped_at or at or self.clock.now()

    async def _simulate(self) -> None:
        while True:
            self.submit(self.step_model(self.clock.now()))
            delay = (self.model_wakeup() - self.clock.now()).total_seconds()
            await self._sleep_or(delay, self._poke)

    # The model behind three methods; a runner of another device overrides them.
    def step_model(self, now: datetime) -> list[Outgoing]:
        return self.station.step(now)

    def model_wakeup(self) -> datetime:
        return self.station.next_wakeup()

    def model_statuses(self, now: datetime) -> list[Outgoing]:
        return list(self.station.boot_statuses(now))

    async def _sleep_or(self, delay_s: float, event: asyncio.Event) -> None:
        event.clear()
        if delay_s <= 0:
            await asyncio.sleep(0)
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(delay_s))
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()

    async def _connect_loop(self) -> None:
        attempt = 0
        while True:
            try:
                async with connect(
                    self.url,
                    subprotocols=[Subprotocol(self.adapter.subprotocol)],
                    additional_headers=self.auth_headers(),
                    open_timeout=max(5.0, self.response_timeout_s),
                    ssl=self.ssl_context(),
                ) as ws:
                    if ws.subprotocol != self.adapter.subprotocol:
                        raise InvalidHandshake(f"server chose subprotocol {ws.subprotocol!r}")
                    self.stats.connects += 1
                    attempt = 0
                    try:
                        await self._session(ws)
                    except asyncio.CancelledError:
                        # Stopping is a normal end, not an internal error (which the
                        # connection's context manager would send, 1011): close with 1000.
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(
                                ws.close(1000, "station stopping"), self.close_timeout_s
                            )
                        raise
            except (
                OSError,
                InvalidHandshake,
                InvalidURI,
                TimeoutError,
                ConnectionClosed,
                ConnectionLost,
            ) as exc:
                if self.online:
                    self.stats.disconnects += 1
                if self.online or attempt == 0:
                    logger.warning(
                        "%s: connection lost: %s", self.station_id, exc or type(exc).__name__
                    )
                self.stats.error(f"connection: {exc or type(exc).__name__}")
            except BootRejected:
                raise
            except Exception as exc:  # a bug or an answer nobody expected: log it, go on
                if self.online:
                    self.stats.disconnects += 1
                logger.exception("%s: unexpected error, reconnecting", self.station_id)
                self.stats.error(f"unexpected: {exc!r}")
            finally:
                self.online = False
                self.station.online = False
                self._ws = None
                self._cp = None
            delay = min(self.reconnect_max_s, self.reconnect_min_s * 2**attempt)
            delay *= self.rng.uniform(0.5, 1.0)
            attempt = min(attempt + 1, 16)
            # Never spin faster than every 50 ms of real time, whatever the clock speed.
            await self.clock.sleep(max(delay, 0.05 * self.clock.speed))

    async def _session(self, ws: ClientConnection) -> None:
        self._ws = ws
        cp = self.adapter.charge_point(self, ws)
        self._cp = cp
        reader = asyncio.create_task(cp.start(), name=f"{self.station_id}-reader")
        try:
            await self._boot(cp, reader)
            self.online = True
            self.station.online = True
            self.booted_once = True
            now = self.clock.now()
            self.outbox.extend(OutItem(s) for s in self.model_statuses(now))
            self.poke()
            await self._pump(cp, reader)
        finally:
            for task in (*self._tasks, reader):  # nothing of this session outlives it
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, Exception):
                await reader

    async def _call(
        self, cp: Any, payload: Any, reader: asyncio.Task[None], *, then: Any = None
    ) -> Any:
        """``payload``'s answer, or ``then(answer)``: applied before the next frame is read."""
        action = type(payload).__name__
        unique_id = self.answers.expect()
        try:
            call = await answered(cp.call(payload, suppress=False, unique_id=unique_id), reader)
            self.stats.calls_sent += 1
            try:
                result = call.result()
            except OCPPError as exc:
                self.stats.call_errors += 1
                code = getattr(exc, "code", type(exc).__name__)
                err = CallErrorReceived(action, str(code), str(exc.description))
                self.stats.error(str(err))
                raise err from exc
            except TimeoutError as exc:
                self.stats.timeouts += 1
                err2 = ResponseTimeout(action, self.response_timeout_s)
                self.stats.error(str(err2))
                raise err2 from exc
            return result if then is None else then(result)
        finally:
            self.answers.applied()

    async def _boot(self, cp: Any, reader: asyncio.Task[None]) -> None:
        attempt = 0
        while True:
            try:
                result = await self._call(cp, self.adapter.boot_request(self.station), reader)
                status, interval = self.adapter.boot_result(result)
            except (CallErrorReceived, ResponseTimeout) as exc:
                logger.warning("%s: boot failed: %s", self.station_id, exc)
                status, interval = "Error", 0
            if status == "Accepted":
                if interval > 0:
                    self.station.config["HeartbeatInterval"] = str(interval)
                logger.info("%s: booted (heartbeat %d s)", self.station_id, int(self.heartbeat_s))
                return
            if status == "Pending":
                self.stats.boots_pending += 1
            else:
                self.stats.boots_rejected += 1
                self.stats.error(f"boot {status}")
                if self.max_boot_rejections is not None and (
                    self.stats.boots_rejected >= self.max_boot_rejections
                ):
                    raise BootRejected(
                        f"{self.station_id}: boot not accepted after "
                        f"{self.stats.boots_rejected} attempts (last: {status})"
                    )
            wait = interval if interval > 0 else min(self.boot_retry_s, 2.0 * 2**attempt)
            logger.info("%s: boot %s, retrying in %s s", self.station_id, status, wait)
            attempt = min(attempt + 1, 10)
            await slept(self.clock, float(wait), reader)

    async def _pump(self, cp: Any, reader: asyncio.Task[None]) -> None:
        last_sent = self.clock.monotonic()
        while True:
            if reader.done():
                raise ConnectionLost("connection closed")
            if not self.outbox:
                if self._reboot:
                    self._reboot = False
                    await cp._connection.close()
                    raise ConnectionLost("rebooting")
                due = self.heartbeat_s - (self.clock.monotonic() - last_sent)
                if due <= 0:
                    self.outbox.append(OutItem("Heartbeat"))
                else:
                    self._outbox_ready.clear()
                    sleeper = asyncio.ensure_future(self.clock.sleep(due))
                    ready = asyncio.ensure_future(self._outbox_ready.wait())
                    try:
                        await asyncio.wait(
                            {sleeper, ready, reader}, return_when=asyncio.FIRST_COMPLETED
                        )
                    finally:
                        sleeper.cancel()
                        ready.cancel()
                    continue
            item = self.outbox[0]
            try:
                payload = self.adapter.encode(item, self.station)
            except Exception:
                logger.exception("%s: cannot encode %r; dropped", self.station_id, item.message)
                payload = None
            if payload is None:
                self.outbox.popleft()
                continue
            # Intervals from the send, not the answer; a heartbeat's from when due (no drift).
            sent_at, beat_s = self.clock.monotonic(), self.heartbeat_s
            if item.message == "Heartbeat" and 0 <= sent_at - last_sent - beat_s < beat_s:
                sent_at = last_sent + beat_s
            try:
                follow = await self._call(cp, payload, reader, then=partial(self._apply, item))
            except (CallErrorReceived, ResponseTimeout) as exc:
                item.attempts += 1
                if item.attempts < self.attempts and isinstance(exc, ResponseTimeout):
                    continue
                logger.warning(
                    "%s: giving up on %s: %s", self.station_id, type(payload).__name__, exc
                )
                self.stats.dropped += 1
                self.outbox.popleft()
                if isinstance(item.message, TransactionStarted):
                    item.message.tx.failed = True
                if isinstance(item.message, AuthorizeRequest):  # no answer is no authorization
                    m = item.message
                    self.submit(self.station.on_authorized(m.connector_id, False, self.clock.now()))
                continue
            self.outbox.popleft()
            last_sent = sent_at
            if follow:
                self.submit(follow)
                self.poke()

    def _apply(self, item: OutItem, result: Any) -> list[Outgoing]:
        self.sync()  # bring the model to the clock before it takes the answer
        return self.adapter.on_result(item, result, self.station, self)

    # --- helpers for the handlers --------------------------------------------------------------

    def report(self, text: str) -> None:
        self.stats.error(text)

    def sync(self) -> datetime:
        """Bring the model up to the clock (or its stop) before a command changes it."""
        now = self.stopped_at or self.clock.now()
        self.submit(self.step_model(now))
        return now

    async def answer_delay(self) -> None:
        self.stats.calls_received += 1
        if self.answer_delay_s > 0:
            await self.clock.sleep(self.answer_delay_s)

    def profile_rejected(self, why: str) -> None:
        """A charging profile from the central system was answered Rejected: report why."""
        text = f"charging profile rejected: {why}"
        logger.warning("%s: %s", self.station_id, text)
        self.stats.profiles_rejected += 1
        self.stats.error(text)

    def refused(self, action: str, exc: OCPPError) -> None:
        """A call from the central system was answered with a CALLERROR: report and count it."""
        self.stats.calls_refused += 1
        code = getattr(exc, "code", type(exc).__name__)
        text = f"{action} from the central system refused with CALLERROR {code}: {exc.description}"
        logger.warning("%s: %s", self.station_id, text)
        self.stats.error(text)

    def statuses_now(self, connector_id: int | None) -> None:
        now = self.clock.now()
        wanted: list[Outgoing] = [
            s for s in self.station.boot_statuses(now) if connector_id in (None, 0, s.connector_id)
        ]
        self.submit(wanted)
