"""The API's records in the central system's SQL database (through the store's writer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.api import tables as t
from csms.api.auth import ApiToken, Role
from csms.api.records import (
    NEWEST_AUDIT,
    NEWEST_JOBS,
    AuditEntry,
    AuditQuery,
    DeliveryStatus,
    Job,
    JobQuery,
    JobStatus,
    Webhook,
    WebhookDelivery,
)
from csms.store.mapping import record_from_row, record_row
from csms.store.ops import dialect_insert
from csms.store.statements import SqlTables, where_equal

__all__ = ["SqlApiRepository"]


def _token(m: sa.RowMapping) -> ApiToken:
    return record_from_row(
        ApiToken, m, role=Role, sites=lambda sites: None if sites is None else frozenset(sites)
    )


def _audit(m: sa.RowMapping) -> AuditEntry:
    return record_from_row(AuditEntry, m, id=int, request=dict, detail=dict)


def _job(m: sa.RowMapping) -> Job:
    return record_from_row(Job, m, request=dict, status=JobStatus)


def _hook(m: sa.RowMapping) -> Webhook:
    return record_from_row(Webhook, m, event_types=tuple)


def _delivery(m: sa.RowMapping) -> WebhookDelivery:
    return record_from_row(WebhookDelivery, m, status=DeliveryStatus)


class SqlApiRepository(SqlTables):
    """:class:`~csms.api.repository.ApiRepository` on the store's database."""

    # -- tokens ---------------------------------------------------------------------------
    async def add_token(self, token: ApiToken) -> None:
        await self._execute(
            sa.insert(t.api_tokens).values(
                record_row(
                    token,
                    role=lambda role: role.value,
                    sites=lambda sites: None if sites is None else sorted(sites),
                )
            )
        )

    async def get_token(self, token_id: str) -> ApiToken | None:
        m = await self._first(sa.select(t.api_tokens).where(t.api_tokens.c.token_id == token_id))
        return None if m is None else _token(m)

    async def list_tokens(self) -> list[ApiToken]:
        c = t.api_tokens.c
        rows = await self._rows(sa.select(t.api_tokens).order_by(c.created_at, c.token_id))
        return [_token(m) for m in rows]

    async def revoke_token(self, token_id: str, at: datetime) -> bool:
        c = t.api_tokens.c
        if await self.get_token(token_id) is None:
            return False
        await self._execute(
            sa.update(t.api_tokens)
            .where(c.token_id == token_id, c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return True

    # -- audit ----------------------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> AuditEntry:
        values: dict[str, Any] = {
            "at": entry.at,
            "token_id": entry.token_id,
            "actor": entry.actor,
            "role": entry.role,
            "action": entry.action,
            "site_id": entry.site_id,
            "station_id": entry.station_id,
            "target": entry.target,
            "request": entry.request,
            "result": entry.result,
            "detail": entry.detail,
        }

        async def run(conn: AsyncConnection) -> int:
            result = await conn.execute(sa.insert(t.audit_log).values(values))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

        new_id = await self._run(run)
        return AuditEntry(**{**values, "id": new_id})

    async def list_audit(self, query: AuditQuery = NEWEST_AUDIT) -> list[AuditEntry]:
        c = t.audit_log.c
        stmt = sa.select(t.audit_log)
        if query.since is not None:
            stmt = stmt.where(c.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(c.at < query.until)
        stmt = where_equal(stmt, c, action=query.action)
        if query.site_ids is not None:
            stmt = stmt.where(c.site_id.in_(sorted(query.site_ids)))
        if query.action_prefixes is not None:
            stmt = stmt.where(
                sa.or_(
                    sa.false(),
                    *(sa.func.substr(c.action, 1, len(p)) == p for p in query.action_prefixes),
                )
            )
        rows = await self._rows(stmt.order_by(c.id.desc()).limit(max(query.limit, 0)))
        return [_audit(m) for m in rows]

    # -- jobs -----------------------------------------------------------------------------
    async def add_job(self, job: Job) -> bool:
        stmt = (
            dialect_insert(self._store.dialect, t.jobs)
            .values(record_row(job, status=lambda status: status.value))
            .on_conflict_do_nothing()  # the token's idempotency key taken by another server
        )
        return await self._execute(stmt) == 1

    async def finish_job(self, job: Job) -> None:
        await self._execute(
            sa.update(t.jobs)
            .where(t.jobs.c.job_id == job.job_id)
            .values(
                status=job.status.value,
                result=job.result,
                error=job.error,
                finished_at=job.finished_at,
            )
        )

    async def get_job(self, job_id: str) -> Job | None:
        m = await self._first(sa.select(t.jobs).where(t.jobs.c.job_id == job_id))
        return None if m is None else _job(m)

    async def find_job(self, token_id: str, idempotency_key: str) -> Job | None:
        c = t.jobs.c
        m = await self._first(
            sa.select(t.jobs).where(c.token_id == token_id, c.idempotency_key == idempotency_key)
        )
        return None if m is None else _job(m)

    async def list_jobs(self, query: JobQuery = NEWEST_JOBS) -> list[Job]:
        c = t.jobs.c
        stmt = where_equal(sa.select(t.jobs), c, station_id=query.station_id, status=query.status)
        if query.site_ids is not None:
            stmt = stmt.where(c.site_id.in_(sorted(query.site_ids)))
        rows = await self._rows(
            stmt.order_by(c.created_at.desc(), c.job_id.desc()).limit(max(query.limit, 0))
        )
        return [_job(m) for m in rows]

    # -- webhooks -------------------------------------------------------------------------
    async def add_webhook(self, hook: Webhook) -> None:
        await self._execute(sa.insert(t.webhooks).values(record_row(hook, event_types=list)))

    async def delete_webhook(self, webhook_id: str) -> bool:
        return (
            await self._execute(sa.delete(t.webhooks).where(t.webhooks.c.webhook_id == webhook_id))
            > 0
        )

    async def list_webhooks(self) -> list[Webhook]:
        c = t.webhooks.c
        rows = await self._rows(sa.select(t.webhooks).order_by(c.created_at, c.webhook_id))
        return [_hook(m) for m in rows]

    async def put_delivery(self, delivery: WebhookDelivery) -> None:
        values = {
            "webhook_id": delivery.webhook_id,
            "event_id": delivery.event_id,
            "event_type": delivery.event_type,
            "status": delivery.status.value,
            "attempts": delivery.attempts,
            "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
            "created_at": delivery.created_at,
            "last_attempt_at": delivery.last_attempt_at,
            "delivered_at": delivery.delivered_at,
        }
        c = t.webhook_deliveries.c

        async def run(conn: AsyncConnection) -> None:
            result = await conn.execute(
                sa.update(t.webhook_deliveries)
                .where(c.delivery_id == delivery.delivery_id)
                .values(values)
            )
            if result.rowcount == 0:
                await conn.execute(
                    sa.insert(t.webhook_deliveries).values(
                        delivery_id=delivery.delivery_id, **values
                    )
                )

        await self._run(run)

    async def list_deliveries(self, webhook_id: str, *, limit: int = 100) -> list[WebhookDelivery]:
        c = t.webhook_deliveries.c
        rows = await self._rows(
            sa.select(t.webhook_deliveries)
            .where(c.webhook_id == webhook_id)
            .order_by(c.created_at.desc(), c.delivery_id.desc())
            .limit(max(limit, 0))
        )
        return [_delivery(m) for m in rows]
