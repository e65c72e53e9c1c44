"""What the revisions share: the column types the first revisions declared, and the upgrade
and downgrade of a revision that only adds nullable columns to one table.

Frozen like the revisions that use it: a revision's DDL must not change once it has run, so
nothing here is edited. A later revision that needs another type or shape adds a new name.
The DDL the revisions emit through it is the DDL they emitted when each declared its own
(`alembic upgrade --sql` compared on PostgreSQL, the upgraded schema on SQLite)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

__all__ = ["BIG_ID", "JSON", "UTC_DATETIME", "add_columns", "connector_key"]

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def connector_key() -> list[sa.Column[Any]]:
    """The three columns that name a connector, first in the tables of 0001 to 0003: the
    station, its EVSE and the connector (new each call: a column belongs to one table)."""
    return [
        sa.Column("station_id", sa.String(length=255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
    ]


Step = Callable[[], None]


def add_columns(table: str, **types: sa.types.TypeEngine[Any]) -> tuple[Step, Step]:
    """The ``upgrade`` and ``downgrade`` of a revision that adds one nullable column per
    keyword to ``table``: added in the order given, dropped in the reverse order."""

    def upgrade() -> None:
        with op.batch_alter_table(table) as batch:
            for name, type_ in types.items():
                batch.add_column(sa.Column(name, type_, nullable=True))

    def downgrade() -> None:
        with op.batch_alter_table(table) as batch:
            for name in reversed(types):
                batch.drop_column(name)

    return upgrade, downgrade
