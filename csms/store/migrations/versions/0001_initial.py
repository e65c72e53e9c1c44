"""Initial schema: stations, statuses, station events, id tokens, transactions, samples.

Created 2026-11-26 03:58:17.611708.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from csms.store.migrations.ops import BIG_ID, JSON, UTC_DATETIME, connector_key

revision, down_revision = "0001", None


def upgrade() -> None:
    op.create_table(
        "connector_status",
        *connector_key(),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("timestamp", UTC_DATETIME, nullable=False),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("info", sa.Text(), nullable=True),
        sa.Column("vendor_id", sa.Text(), nullable=True),
        sa.Column("vendor_error_code", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint(
            "station_id", "evse_id", "connector_id", name=op.f("pk_connector_status")
        ),
    )
    op.create_table(
        "id_tokens",
        sa.Column("token", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=True),
        sa.Column("group_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_id_tokens")),
    )
    op.create_table(
        "samples",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        *connector_key(),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", UTC_DATETIME, nullable=False),
        sa.Column("measurand", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column("location", sa.String(length=16), nullable=False),
        sa.Column("context", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("raw_value", sa.Text(), nullable=True),
        sa.Column("raw_unit", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_samples")),
        sa.UniqueConstraint(
            "station_id",
            "evse_id",
            "connector_id",
            "measurand",
            "phase",
            "timestamp",
            "transaction_id",
            "location",
            "context",
            name="uq_samples_identity",
        ),
    )
    op.create_index(
        "ix_samples_transaction_time", "samples", ["transaction_id", "timestamp"], unique=False
    )

    op.create_table(
        "station_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("dedup_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_events")),
        sa.UniqueConstraint("station_id", "dedup_key", name="uq_station_events_dedup"),
    )
    op.create_index(
        "ix_station_events_station_at", "station_events", ["station_id", "at"], unique=False
    )

    op.create_table(
        "stations",
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("site_id", sa.String(length=255), nullable=True),
        sa.Column("registration", sa.String(length=16), nullable=False),
        sa.Column("ocpp_version", sa.String(length=16), nullable=True),
        sa.Column("vendor", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("serial_number", sa.Text(), nullable=True),
        sa.Column("firmware_version", sa.Text(), nullable=True),
        sa.Column("last_boot_at", UTC_DATETIME, nullable=True),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=True),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_stations")),
    )
    op.create_table(
        "status_history",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        *connector_key(),
        sa.Column("timestamp", UTC_DATETIME, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("info", sa.Text(), nullable=True),
        sa.Column("vendor_id", sa.Text(), nullable=True),
        sa.Column("vendor_error_code", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_history")),
        sa.UniqueConstraint(
            "station_id",
            "evse_id",
            "connector_id",
            "timestamp",
            "status",
            name="uq_status_history_identity",
        ),
    )
    op.create_index(
        "ix_status_history_station_time",
        "status_history",
        ["station_id", "timestamp"],
        unique=False,
    )

    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("station_tx_id", sa.String(length=64), nullable=True),
        sa.Column("start_key", sa.String(length=512), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_token", sa.String(length=255), nullable=True),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("meter_start_wh", sa.Double(), nullable=True),
        sa.Column("stopped_at", UTC_DATETIME, nullable=True),
        sa.Column("meter_stop_wh", sa.Double(), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("charging_state", sa.Text(), nullable=True),
        sa.Column("last_seq_no", sa.Integer(), nullable=True),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("remote_start_id", sa.Integer(), nullable=True),
        sa.Column("has_needs", sa.Boolean(), nullable=False),
        sa.Column("needs_energy_requested_wh", sa.Double(), nullable=True),
        sa.Column("needs_departure_at", UTC_DATETIME, nullable=True),
        sa.Column("needs_max_current_a", sa.Double(), nullable=True),
        sa.Column("needs_min_current_a", sa.Double(), nullable=True),
        sa.Column("needs_max_power_w", sa.Double(), nullable=True),
        sa.Column("needs_energy_transfer_mode", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint("start_key", name=op.f("uq_transactions_start_key")),
        sa.UniqueConstraint("station_id", "station_tx_id", name="uq_transactions_station_tx"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_transactions_active",
        "transactions",
        ["station_id", "evse_id", "stopped_at"],
        unique=False,
    )
    op.create_index("ix_transactions_started_at", "transactions", ["started_at"], unique=False)

    op.create_table(
        "transaction_events",
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("seq_no", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_transaction_events_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transaction_id", "seq_no", name=op.f("pk_transaction_events")),
    )


def downgrade() -> None:
    op.drop_table("transaction_events")
    op.drop_index("ix_transactions_started_at", table_name="transactions")
    op.drop_index("ix_transactions_active", table_name="transactions")

    op.drop_table("transactions")
    op.drop_index("ix_status_history_station_time", table_name="status_history")

    op.drop_table("status_history")
    op.drop_table("stations")
    op.drop_index("ix_station_events_station_at", table_name="station_events")

    op.drop_table("station_events")
    op.drop_index("ix_samples_transaction_time", table_name="samples")

    op.drop_table("samples")
    op.drop_table("id_tokens")
    op.drop_table("connector_status")
