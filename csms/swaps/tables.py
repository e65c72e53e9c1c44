"""The battery-swap tables, on the store's ``metadata`` (migration ``0010_der_and_swaps``).

A pack is one row (registered with its capacity, then moved by swap events); a swap session
is one row, written with the packs it moved in one transaction.
"""

from __future__ import annotations

import sqlalchemy as sa

from csms.store.tables import Json, Text, UtcDateTime, metadata, serial_id

__all__ = ["battery_packs", "battery_swaps"]

battery_packs = sa.Table(
    "battery_packs",
    metadata,
    sa.Column("serial_number", Text(50), primary_key=True),
    sa.Column("capacity_wh", sa.Double(), nullable=False),
    sa.Column("station_id", Text(255)),
    sa.Column("slot", sa.Integer()),
    sa.Column("soc_pct", sa.Double()),
    sa.Column("soh_pct", sa.Double()),
    sa.Column("updated_at", UtcDateTime()),
)

battery_swaps = sa.Table(
    "battery_swaps",
    metadata,
    serial_id(),
    sa.Column("station_id", Text(255), nullable=False),
    sa.Column("request_id", sa.BigInteger(), nullable=False),
    sa.Column("id_token", Text(255), nullable=False),
    sa.Column("state", Text(16), nullable=False),
    sa.Column("auth_status", Text(32)),
    sa.Column("requested", sa.Boolean(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("started_at", UtcDateTime()),
    sa.Column("ended_at", UtcDateTime()),
    sa.Column("packs_in", Json, nullable=False),
    sa.Column("packs_out", Json, nullable=False),
    sa.Column("energy_in_wh", sa.Double()),
    sa.Column("energy_out_wh", sa.Double()),
    sa.Index("ix_battery_swaps_station_id", "station_id", "request_id"),
    sa.Index("ix_battery_swaps_created_at", "created_at"),
)
