"""Webhook deliveries: signed POSTs with retries and a delivery log.

Each delivery is a POST of the event's JSON with the headers

- ``X-Chargegrid-Event``: the event type;
- ``X-Chargegrid-Delivery``: the delivery id (the same on every retry; receivers dedupe on it);
- ``X-Chargegrid-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Chargegrid-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``"{timestamp}.{body}"`` under
  the subscription's secret.

A 2xx answer delivers; anything else (or no answer within ``timeout_s``) is retried after
``backoff_s(attempt)`` until ``max_attempts``, then the delivery is marked failed. Deliveries
wait in a bounded queue; when it is full new ones are logged and dropped (the bus never
waits for a receiver).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import httpx

from csms.api.records import DeliveryStatus, Webhook, WebhookDelivery
from csms.api.repository import ApiRepository
from csms.api.stream import ApiEvent
from csms.supervisor import cancel_and_wait

__all__ = ["WebhookDispatcher", "backoff_s", "sign", "verify_signature"]

logger = logging.getLogger(__name__)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Chargegrid-Signature`` value of a delivery."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def backoff_s(attempt: int, *, initial_s: float, max_s: float) -> float:
    """Wait before retry number ``attempt`` (1 = the first retry): doubling, capped."""
    return float(min(max_s, initial_s * 2 ** max(attempt - 1, 0)))


class WebhookDispatcher:
    """Subscriptions in memory (loaded from the repository), deliveries on worker tasks."""

    def __init__(
        self,
        repo: ApiRepository,
        *,
        now: Callable[[], datetime],
        max_attempts: int = 5,
        initial_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 10.0,
        max_queue: int = 10000,
        workers: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._repo = repo
        self._now = now
        self.max_attempts = max_attempts
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self._queue: asyncio.Queue[tuple[Webhook, WebhookDelivery, bytes]] = asyncio.Queue(
            max_queue
        )
        self._workers = workers
        self._transport = transport
        self._hooks: dict[str, Webhook] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self.dropped = 0

    async def start(self) -> None:
        self._hooks = {h.webhook_id: h for h in await self._repo.list_webhooks()}
        self._client = httpx.AsyncClient(
            timeout=self.timeout_s, transport=self._transport, follow_redirects=False
        )
        self._worker_tasks = [self._spawn(self._work()) for _ in range(self._workers)]

    def problem(self) -> str | None:
        """None while every delivery worker runs, else what stopped (for ``/health``)."""
        stopped = sum(1 for task in self._worker_tasks if task.done())
        return f"{stopped} of {len(self._worker_tasks)} workers stopped" if stopped else None

    async def stop(self) -> None:
        self._worker_tasks = []
        await cancel_and_wait(tuple(self._tasks))
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- subscriptions --------------------------------------------------------------------
    async def add(
        self,
        *,
        url: str,
        event_types: tuple[str, ...],
        created_by: str,
        secret: str | None = None,
        site_id: str | None = None,
        station_id: str | None = None,
    ) -> Webhook:
        hook = Webhook(
            webhook_id=secrets.token_hex(8),
            url=url,
            secret=secret or secrets.token_urlsafe(32),
            event_types=event_types,
            created_by=created_by,
            created_at=self._now(),
            site_id=site_id,
            station_id=station_id,
        )
        await self._repo.add_webhook(hook)
        self._hooks[hook.webhook_id] = hook
        return hook

    async def remove(self, webhook_id: str) -> bool:
        self._hooks.pop(webhook_id, None)
        return await self._repo.delete_webhook(webhook_id)

    @property
    def has_hooks(self) -> bool:
        return bool(self._hooks)

    def get(self, webhook_id: str) -> Webhook | None:
        return self._hooks.get(webhook_id)

    def list(self) -> list[Webhook]:
        return sorted(self._hooks.values(), key=lambda h: (h.created_at, h.webhook_id))

    # -- deliveries -----------------------------------------------------------------------
    def on_event(self, event: ApiEvent) -> None:
        """Hub listener: queue a delivery per matching subscription (never blocks)."""
        body: bytes | None = None
        for hook in tuple(self._hooks.values()):
            if not hook.matches(event.type, event.site_id, event.station_id):
                continue
            if body is None:
                body = json.dumps(event.as_json(), separators=(",", ":")).encode()
            delivery = WebhookDelivery(
                delivery_id=secrets.token_hex(12),
                webhook_id=hook.webhook_id,
                event_id=str(event.id),
                event_type=event.type,
                status=DeliveryStatus.PENDING,
                attempts=0,
                created_at=self._now(),
            )
            try:
                self._queue.put_nowait((hook, delivery, body))
            except asyncio.QueueFull:
                self.dropped += 1
                logger.warning("webhook queue full: dropped %s for %s", event.type, hook.url)

    async def _work(self) -> None:
        while True:
            hook, delivery, body = await self._queue.get()
            await self._attempt_logged(hook, delivery, body)

    async def _attempt_logged(self, hook: Webhook, delivery: WebhookDelivery, body: bytes) -> None:
        """:meth:`_attempt`; an error it did not foresee is logged and ends this attempt
        only (the worker goes on with the next delivery)."""
        try:
            await self._attempt(hook, delivery, body)
        except Exception:
            logger.exception("webhook delivery %s failed unexpectedly", delivery.delivery_id)

    async def _attempt(self, hook: Webhook, delivery: WebhookDelivery, body: bytes) -> None:
        assert self._client is not None
        now = self._now()
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "X-Chargegrid-Event": delivery.event_type,
            "X-Chargegrid-Delivery": delivery.delivery_id,
            "X-Chargegrid-Timestamp": str(timestamp),
            "X-Chargegrid-Signature": sign(hook.secret, timestamp, body),
        }
        code: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(hook.url, content=body, headers=headers)
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempts = delivery.attempts + 1
        if error is None:
            status = DeliveryStatus.DELIVERED
        elif attempts >= self.max_attempts:
            status = DeliveryStatus.FAILED
        else:
            status = DeliveryStatus.PENDING
        delivery = dataclasses.replace(
            delivery,
            attempts=attempts,
            status=status,
            last_status_code=code,
            last_error=error,
            last_attempt_at=now,
            delivered_at=now if status is DeliveryStatus.DELIVERED else None,
        )
        try:
            await self._repo.put_delivery(delivery)
        except Exception:
            logger.exception("cannot record webhook delivery %s", delivery.delivery_id)
        if status is DeliveryStatus.PENDING:
            wait_s = backoff_s(attempts, initial_s=self.initial_backoff_s, max_s=self.max_backoff_s)
            logger.info(
                "webhook %s to %s: %s; retry %d in %.1f s",
                delivery.delivery_id,
                hook.url,
                error,
                attempts,
                wait_s,
            )
            self._spawn(self._retry_later(hook, delivery, body, wait_s))

    async def _retry_later(
        self, hook: Webhook, delivery: WebhookDelivery, body: bytes, wait_s: float
    ) -> None:
        await asyncio.sleep(wait_s)
        if hook.webhook_id in self._hooks:
            await self._attempt_logged(hook, delivery, body)
