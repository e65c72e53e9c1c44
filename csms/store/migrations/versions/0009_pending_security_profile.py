"""A security profile a station was asked to move to and has not yet connected with: kept
across a restart, so the station's registered profile is raised when it first connects on it.

Created 2026-12-07 08:00:00.
"""

from __future__ import annotations

import sqlalchemy as sa

from csms.store.migrations.ops import add_columns

revision, down_revision = "0009", "0008"
upgrade, downgrade = add_columns("stations", pending_security_profile=sa.SmallInteger())
