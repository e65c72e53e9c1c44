"""The security profile a station must connect with (OCPP security profiles 1-3).

Created 2026-12-07 04:40:00.
"""

from __future__ import annotations

import sqlalchemy as sa

from csms.store.migrations.ops import add_columns

revision, down_revision = "0007", "0006"
upgrade, downgrade = add_columns("stations", security_profile=sa.SmallInteger())
