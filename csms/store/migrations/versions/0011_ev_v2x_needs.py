"""The EV's 2.1 V2X parameters, offered transfer modes and control mode from
NotifyEVChargingNeeds, as one JSON text (decision 0909).

Created 2026-12-07 09:00:00.
"""

from __future__ import annotations

import sqlalchemy as sa

from csms.store.migrations.ops import add_columns

revision, down_revision = "0011", "0010"
upgrade, downgrade = add_columns("transactions", needs_v2x=sa.Text())
