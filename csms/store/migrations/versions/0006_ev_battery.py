"""The EV's battery from NotifyEVChargingNeeds (2.0.1 DC parameters), for the planner's taper.

Created 2026-11-26 10:00:00.
"""

from __future__ import annotations

import sqlalchemy as sa

from csms.store.migrations.ops import add_columns

revision, down_revision = "0006", "0005"
upgrade, downgrade = add_columns(
    "transactions",
    needs_soc_pct=sa.Double(),
    needs_capacity_wh=sa.Double(),
    needs_bulk_soc_pct=sa.Double(),
    needs_full_soc_pct=sa.Double(),
)
