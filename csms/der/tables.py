"""The DER tables, on the store's ``metadata`` (migration ``0010_der_and_swaps``).

A control is one row per (station, control id): set, reported, started or stopped,
superseded and cleared in place (a cleared control keeps its row, with ``cleared_at``).
Alarms are appended.
"""

from __future__ import annotations

import sqlalchemy as sa

from csms.store.tables import Json, Text, UtcDateTime, metadata, serial_id

__all__ = ["der_alarms", "der_controls"]

der_controls = sa.Table(
    "der_controls",
    metadata,
    sa.Column("station_id", Text(255), primary_key=True),
    sa.Column("control_id", Text(36), primary_key=True),
    sa.Column("control_type", Text(32), nullable=False),
    sa.Column("is_default", sa.Boolean(), nullable=False),
    sa.Column("setting", Json, nullable=False),
    sa.Column("superseded", sa.Boolean(), nullable=False),
    sa.Column("source", Text(16), nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
    sa.Column("started", sa.Boolean()),
    sa.Column("started_changed_at", UtcDateTime()),
    sa.Column("cleared_at", UtcDateTime()),
)

der_alarms = sa.Table(
    "der_alarms",
    metadata,
    serial_id(),
    sa.Column("station_id", Text(255), nullable=False),
    sa.Column("control_type", Text(32), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("grid_event_fault", Text(32)),
    sa.Column("alarm_ended", sa.Boolean(), nullable=False),
    sa.Column("extra_info", sa.Text()),
    sa.Index("ix_der_alarms_station_id", "station_id", "at"),
)
