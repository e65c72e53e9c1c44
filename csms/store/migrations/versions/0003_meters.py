"""Meters instead of a latest-sample table: the writer no longer updates a row per sample;
latest_samples seeks each meter's newest sample in the samples index.

Created 2026-11-26 04:40:00.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from csms.store.migrations.ops import connector_key

revision, down_revision = "0003", "0002"

_METER = "station_id, evse_id, connector_id, measurand, phase"


def upgrade() -> None:
    op.create_table(
        "meters",
        *connector_key(),
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
