"""Meters instead of a latest-sample table: the writer no longer updates a row per sample;
latest_samples seeks each meter's newest sample in the samples index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 04:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_METER = "station_id, evse_id, connector_id, measurand, phase"


def upgrade() -> None:
    op.create_table(
        "meters",
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("measurand", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint(
            "station_id", "evse_id", "connector_id", "measurand", "phase", name=op.f("pk_meters")
        ),
    )
    op.execute(f"INSERT INTO meters ({_METER}) SELECT DISTINCT {_METER} FROM samples")
    op.drop_table("sample_latest")


def downgrade() -> None:
    raise NotImplementedError("0003 cannot be downgraded; restore a backup instead")
