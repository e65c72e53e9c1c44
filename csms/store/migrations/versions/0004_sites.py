"""Sites (limit tree, stations, assets, tariff as one document) and grid constraints.

Created 2026-11-26 04:40:00.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from csms.store.migrations.ops import JSON, UTC_DATETIME

revision, down_revision = "0004", "0003"


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_sites")),
    )
    op.create_table(
        "site_constraints",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=255), nullable=False),
        sa.Column("node_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("start", UTC_DATETIME, nullable=False),
        sa.Column("end", UTC_DATETIME, nullable=False),
        sa.Column("max_import_w", sa.Double(), nullable=True),
        sa.Column("max_export_w", sa.Double(), nullable=True),
        sa.Column("max_phase_current_a", sa.Double(), nullable=True),
        sa.Column("reduce_to_w", sa.Double(), nullable=True),
        sa.Column("reduce_by_pct", sa.Double(), nullable=True),
        sa.Column("import_price_per_kwh", sa.Double(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("cancelled_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_constraints")),
    )
    op.create_index(
        "ix_site_constraints_site_end", "site_constraints", ["site_id", "end"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_site_constraints_site_end", table_name="site_constraints")
    op.drop_table("site_constraints")
    op.drop_table("sites")
