"""Persistence of the API's records: the :class:`ApiRepository` protocol and its in-memory
implementation. :func:`open_repository` picks the SQL one when the central system's store is
a :class:`~csms.store.SqlStore` (same database, same group-commit writer).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Protocol

from csms.api.auth import ApiToken
from csms.api.records import (
    NEWEST_AUDIT,
    NEWEST_JOBS,
    AuditEntry,
    AuditQuery,
    Job,
    JobQuery,
    Webhook,
    WebhookDelivery,
)
from csms.store import SqlStore, Store

__all__ = ["ApiRepository", "MemoryApiRepository", "open_repository"]


class ApiRepository(Protocol):
    # -- tokens ---------------------------------------------------------------------------
    async def add_token(self, token: ApiToken) -> None: ...

    async def get_token(self, token_id: str) -> ApiToken | None: ...

    async def list_tokens(self) -> list[ApiToken]: ...

    async def revoke_token(self, token_id: str, at: datetime) -> bool:
        """Mark revoked; False when there is no such token."""

    # -- audit (append-only) --------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> AuditEntry: ...

    async def list_audit(self, query: AuditQuery = NEWEST_AUDIT) -> list[AuditEntry]:
        """The entries ``query`` asks for, newest first."""

    # -- jobs -----------------------------------------------------------------------------
    async def add_job(self, job: Job) -> bool:
        """Store a new job; False (nothing stored) when its token already has a job under its
        idempotency key: another server sharing the database was first."""

    async def finish_job(self, job: Job) -> None: ...

    async def get_job(self, job_id: str) -> Job | None: ...

    async def find_job(self, token_id: str, idempotency_key: str) -> Job | None: ...

    async def list_jobs(self, query: JobQuery = NEWEST_JOBS) -> list[Job]:
        """The jobs ``query`` asks for, newest first."""

    # -- webhooks -------------------------------------------------------------------------
    async def add_webhook(self, hook: Webhook) -> None: ...

    async def delete_webhook(self, webhook_id: str) -> bool: ...

    async def list_webhooks(self) -> list[Webhook]: ...

    async def put_delivery(self, delivery: WebhookDelivery) -> None: ...

    async def list_deliveries(self, webhook_id: str, *, limit: int = 100) -> list[WebhookDelivery]:
        """Newest first."""


class MemoryApiRepository:
    """:class:`ApiRepository` in memory (for the memory store and tests)."""

    def __init__(self) -> None:
        self._tokens: dict[str, ApiToken] = {}
        self._audit: list[AuditEntry] = []
        self._jobs: dict[str, Job] = {}
        self._hooks: dict[str, Webhook] = {}
        self._deliveries: dict[str, WebhookDelivery] = {}

    async def add_token(self, token: ApiToken) -> None:
        self._tokens[token.token_id] = token

    async def get_token(self, token_id: str) -> ApiToken | None:
        return self._tokens.get(token_id)

    async def list_tokens(self) -> list[ApiToken]:
        return sorted(self._tokens.values(), key=lambda t: (t.created_at, t.token_id))

    async def revoke_token(self, token_id: str, at: datetime) -> bool:
        token = self._tokens.get(token_id)
        if token is None:
            return False
        if token.revoked_at is None:
            self._tokens[token_id] = dataclasses.replace(token, revoked_at=at)
        return True

    async def append_audit(self, entry: AuditEntry) -> AuditEntry:
        stored = dataclasses.replace(entry, id=len(self._audit) + 1)
        self._audit.append(stored)
        return stored

    async def list_audit(self, query: AuditQuery = NEWEST_AUDIT) -> list[AuditEntry]:
        out = []
        for e in reversed(self._audit):
            if query.matches(e):
                out.append(e)
                if len(out) >= query.limit:
                    break
        return out

    async def add_job(self, job: Job) -> bool:
        key = job.idempotency_key
        if key is not None and await self.find_job(job.token_id, key) is not None:
            return False
        self._jobs[job.job_id] = job
        return True

    async def finish_job(self, job: Job) -> None:
        self._jobs[job.job_id] = job

    async def get_job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def find_job(self, token_id: str, idempotency_key: str) -> Job | None:
        for job in self._jobs.values():
            if job.token_id == token_id and job.idempotency_key == idempotency_key:
                return job
        return None

    async def list_jobs(self, query: JobQuery = NEWEST_JOBS) -> list[Job]:
        rows = [j for j in self._jobs.values() if query.matches(j)]
        rows.sort(key=lambda j: (j.created_at, j.job_id), reverse=True)
        return rows[: query.limit]

    async def add_webhook(self, hook: Webhook) -> None:
        self._hooks[hook.webhook_id] = hook

    async def delete_webhook(self, webhook_id: str) -> bool:
        return self._hooks.pop(webhook_id, None) is not None

    async def list_webhooks(self) -> list[Webhook]:
        return sorted(self._hooks.values(), key=lambda h: (h.created_at, h.webhook_id))

    async def put_delivery(self, delivery: WebhookDelivery) -> None:
        self._deliveries[delivery.delivery_id] = delivery

    async def list_deliveries(self, webhook_id: str, *, limit: int = 100) -> list[WebhookDelivery]:
        rows = [d for d in self._deliveries.values() if d.webhook_id == webhook_id]
        rows.sort(key=lambda d: (d.created_at, d.delivery_id), reverse=True)
        return rows[:limit]


def open_repository(store: Store) -> ApiRepository:
    """The repository beside ``store``: SQL on a :class:`SqlStore`, else in memory."""
    if isinstance(store, SqlStore):
        from csms.api.sql_repository import SqlApiRepository

        return SqlApiRepository(store)
    return MemoryApiRepository()
