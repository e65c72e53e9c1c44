"""A station's new password while it is being rotated (accepted beside the old one until
the station uses it).

Created 2026-12-07 05:00:00.
"""

from __future__ import annotations

import sqlalchemy as sa

from csms.store.migrations.ops import add_columns

revision, down_revision = "0008", "0007"
upgrade, downgrade = add_columns("stations", pending_password_hash=sa.Text())
