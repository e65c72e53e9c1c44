"""The API's tables (tokens, audit log, jobs, webhooks) on the store's ``metadata``.

Created by the Alembic revision ``0005`` (``csms/store/migrations/versions/0005_api.py``).
"""

from __future__ import annotations

import sqlalchemy as sa

from csms.store.tables import Json, Text, UtcDateTime, metadata, serial_id

__all__ = ["api_tokens", "audit_log", "jobs", "webhook_deliveries", "webhooks"]

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", Text(32), primary_key=True),
    #: sha256 of the secret part (hex); the secret itself is never stored.
    sa.Column("secret_hash", Text(64), nullable=False),
    sa.Column("name", Text(255), nullable=False),
    sa.Column("role", Text(32), nullable=False),
    #: granted site ids; NULL means every site.
    sa.Column("sites", Json),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime()),
    sa.Column("revoked_at", UtcDateTime()),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    serial_id(),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("token_id", Text(32), nullable=False),
    sa.Column("actor", Text(255), nullable=False),
    sa.Column("role", Text(32), nullable=False),
    sa.Column("action", Text(64), nullable=False),
    sa.Column("site_id", Text(255)),
    sa.Column("station_id", Text(255)),
    sa.Column("target", Text(255)),
    sa.Column("request", Json, nullable=False),
    sa.Column("result", Text(32), nullable=False),
    sa.Column("detail", Json, nullable=False),
    sa.Index("ix_audit_log_at", "at"),
    sqlite_autoincrement=True,
)

jobs = sa.Table(
    "api_jobs",
    metadata,
    sa.Column("job_id", Text(32), primary_key=True),
    sa.Column("token_id", Text(32), nullable=False),
    sa.Column("idempotency_key", Text(255)),
    sa.Column("request_hash", Text(64), nullable=False),
    sa.Column("command", Text(64), nullable=False),
    sa.Column("station_id", Text(255), nullable=False),
    sa.Column("site_id", Text(255)),
    sa.Column("request", Json, nullable=False),
    sa.Column("status", Text(16), nullable=False),
    sa.Column("result", Json),
    sa.Column("error", Json),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime()),
    sa.UniqueConstraint("token_id", "idempotency_key", name="uq_api_jobs_idempotency"),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("webhook_id", Text(32), primary_key=True),
    sa.Column("url", Text(2048), nullable=False),
    #: the signing key; kept in clear because every delivery is signed with it.
    sa.Column("secret", Text(128), nullable=False),
    sa.Column("event_types", Json, nullable=False),
    sa.Column("site_id", Text(255)),
    sa.Column("station_id", Text(255)),
    sa.Column("created_by", Text(32), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_id", Text(32), primary_key=True),
    sa.Column("webhook_id", Text(32), nullable=False),
    sa.Column("event_id", Text(64), nullable=False),
    sa.Column("event_type", Text(64), nullable=False),
    sa.Column("status", Text(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_status_code", sa.Integer()),
    sa.Column("last_error", Text(512)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("last_attempt_at", UtcDateTime()),
    sa.Column("delivered_at", UtcDateTime()),
    sa.Index("ix_webhook_deliveries_webhook", "webhook_id", "created_at"),
)
