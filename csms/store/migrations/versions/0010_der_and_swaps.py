"""OCPP 2.1 DER control and battery swaps: the DER controls per station and their alarms;
the registered battery packs and the swap sessions.

Created 2026-12-07 09:00:00.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from csms.store.migrations.ops import BIG_ID, JSON, UTC_DATETIME

revision, down_revision = "0010", "0009"


def _der() -> None:
    op.create_table(
        "der_controls",
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("control_id", sa.String(length=36), nullable=False),
        sa.Column("control_type", sa.String(length=32), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("setting", JSON, nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", UTC_DATETIME, nullable=False),
        sa.Column("started", sa.Boolean(), nullable=True),
        sa.Column("started_changed_at", UTC_DATETIME, nullable=True),
        sa.Column("cleared_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("station_id", "control_id", name=op.f("pk_der_controls")),
    )
    op.create_table(
        "der_alarms",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("control_type", sa.String(length=32), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("grid_event_fault", sa.String(length=32), nullable=True),
        sa.Column("alarm_ended", sa.Boolean(), nullable=False),
        sa.Column("extra_info", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_der_alarms")),
    )
    op.create_index("ix_der_alarms_station_id", "der_alarms", ["station_id", "at"])


def _swaps() -> None:
    op.create_table(
        "battery_packs",
        sa.Column("serial_number", sa.String(length=50), nullable=False),
        sa.Column("capacity_wh", sa.Double(), nullable=False),
        sa.Column("station_id", sa.String(length=255), nullable=True),
        sa.Column("slot", sa.Integer(), nullable=True),
        sa.Column("soc_pct", sa.Double(), nullable=True),
        sa.Column("soh_pct", sa.Double(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("serial_number", name=op.f("pk_battery_packs")),
    )
    op.create_table(
        "battery_swaps",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("id_token", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("auth_status", sa.String(length=32), nullable=True),
        sa.Column("requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=True),
        sa.Column("ended_at", UTC_DATETIME, nullable=True),
        sa.Column("packs_in", JSON, nullable=False),
        sa.Column("packs_out", JSON, nullable=False),
        sa.Column("energy_in_wh", sa.Double(), nullable=True),
        sa.Column("energy_out_wh", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_battery_swaps")),
    )
    op.create_index("ix_battery_swaps_station_id", "battery_swaps", ["station_id", "request_id"])
    op.create_index("ix_battery_swaps_created_at", "battery_swaps", ["created_at"])


def upgrade() -> None:
    _der()
    _swaps()


def downgrade() -> None:
    for table in ("battery_swaps", "battery_packs", "der_alarms", "der_controls"):
        op.drop_table(table)
