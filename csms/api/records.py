"""Records the API keeps: audit entries, command jobs, webhooks and their deliveries."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "NEWEST_AUDIT",
    "NEWEST_JOBS",
    "AuditEntry",
    "AuditQuery",
    "DeliveryStatus",
    "Job",
    "JobQuery",
    "JobStatus",
    "Webhook",
    "WebhookDelivery",
]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what, when, and how it ended. ``id`` is given by the repository."""

    at: datetime
    token_id: str
    actor: str
    role: str
    action: str
    result: str
    site_id: str | None = None
    station_id: str | None = None
    target: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    id: int = 0


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit entries a listing asks for (newest first, at most ``limit``): at or after
    ``since``, before ``until``, of ``action``, of one of ``site_ids``, with an action that
    starts with one of ``action_prefixes``; None asks nothing of that field. The in-memory
    repository filters with :meth:`matches`; the SQL one asks the same of its table."""

    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    site_ids: frozenset[str] | None = None
    action_prefixes: tuple[str, ...] | None = None
    limit: int = 100

    def matches(self, entry: AuditEntry) -> bool:
        return (
            (self.since is None or entry.at >= self.since)
            and (self.until is None or entry.at < self.until)
            and (self.action is None or entry.action == self.action)
            and (self.site_ids is None or entry.site_id in self.site_ids)
            and (self.action_prefixes is None or entry.action.startswith(self.action_prefixes))
        )


#: The newest 100 entries, unfiltered: a listing's default.
NEWEST_AUDIT = AuditQuery()


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    token_id: str
    idempotency_key: str | None
    request_hash: str
    command: str
    station_id: str
    site_id: str | None
    request: dict[str, Any]
    status: JobStatus
    created_at: datetime
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Which jobs a listing asks for (newest first, at most ``limit``): of ``station_id``,
    in ``status`` (a :class:`JobStatus` value), of one of ``site_ids``; None asks nothing of
    that field. The in-memory repository filters with :meth:`matches`; the SQL one asks the
    same of its table."""

    station_id: str | None = None
    status: str | None = None
    site_ids: frozenset[str] | None = None
    limit: int = 100

    def matches(self, job: Job) -> bool:
        return (
            (self.station_id is None or job.station_id == self.station_id)
            and (self.status is None or job.status.value == self.status)
            and (self.site_ids is None or job.site_id in self.site_ids)
        )


#: The newest 100 jobs, unfiltered: a listing's default.
NEWEST_JOBS = JobQuery()


@dataclass(frozen=True, slots=True)
class Webhook:
    webhook_id: str
    url: str
    secret: str
    event_types: tuple[str, ...]
    created_by: str
    created_at: datetime
    site_id: str | None = None
    station_id: str | None = None

    def matches(self, event_type: str, site_id: str | None, station_id: str | None) -> bool:
        if self.event_types and not any(
            event_type == t or (t.endswith(".*") and event_type.startswith(t[:-1]))
            for t in self.event_types
        ):
            return False
        if self.site_id is not None and self.site_id != site_id:
            return False
        return self.station_id is None or self.station_id == station_id


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    last_status_code: int | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
