"""The EV's battery from NotifyEVChargingNeeds (2.0.1 DC parameters), for the planner's taper.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("needs_soc_pct", "needs_capacity_wh", "needs_bulk_soc_pct", "needs_full_soc_pct")


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
