"""The site tables, on the store's ``metadata`` (migration ``0004_sites``).

A site is one JSON document (its limit tree, stations, assets, tariff, defaults: always read
and replaced whole, so one row keeps an apply atomic); constraints are rows, because they are
listed by time window and cancelled one by one.
"""

from __future__ import annotations

import sqlalchemy as sa

from csms.store.tables import Json, Text, UtcDateTime, metadata

__all__ = ["site_constraints", "sites"]

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("site_id", Text(255), primary_key=True),
    sa.Column("name", Text(255), nullable=False),
    sa.Column("spec", Json, nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

site_constraints = sa.Table(
    "site_constraints",
    metadata,
    sa.Column("id", Text(64), primary_key=True),
    sa.Column("site_id", Text(255), nullable=False),
    sa.Column("node_id", Text(255), nullable=False),
    sa.Column("kind", Text(16), nullable=False),
    sa.Column("source", Text(255), nullable=False),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("start", UtcDateTime(), nullable=False),
    sa.Column("end", UtcDateTime(), nullable=False),
    sa.Column("max_import_w", sa.Double()),
    sa.Column("max_export_w", sa.Double()),
    sa.Column("max_phase_current_a", sa.Double()),
    sa.Column("reduce_to_w", sa.Double()),
    sa.Column("reduce_by_pct", sa.Double()),
    sa.Column("import_price_per_kwh", sa.Double()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("cancelled_at", UtcDateTime()),
    sa.Index("ix_site_constraints_site_end", "site_id", "end"),
)
