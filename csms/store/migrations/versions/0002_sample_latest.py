"""The latest sample per meter, kept by the writer (filled from the samples held so far).

Created 2026-11-26 04:20:00.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from csms.store.migrations.ops import connector_key

revision, down_revision = "0002", "0001"

_COLUMNS = (
    "station_id, evse_id, connector_id, measurand, phase, transaction_id, timestamp, "
    "location, context, value, unit, raw_value, raw_unit"
)


def upgrade() -> None:
    op.create_table(
        "sample_latest",
        *connector_key(),
        sa.Column("measurand", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=16), nullable=False),
        sa.Column("context", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("raw_value", sa.Text(), nullable=True),
        sa.Column("raw_unit", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint(
            "station_id",
            "evse_id",
            "connector_id",
            "measurand",
            "phase",
            name=op.f("pk_sample_latest"),
        ),
    )
    op.execute(
        f"INSERT INTO sample_latest ({_COLUMNS}) "
        f"SELECT {_COLUMNS} FROM ("
        f"SELECT {_COLUMNS}, ROW_NUMBER() OVER ("
        "PARTITION BY station_id, evse_id, connector_id, measurand, phase "
        "ORDER BY timestamp DESC, id DESC) AS newest FROM samples"
        ") ranked WHERE newest = 1"
    )


def downgrade() -> None:
    op.drop_table("sample_latest")
