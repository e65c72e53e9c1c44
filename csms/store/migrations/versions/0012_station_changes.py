"""A change feed of what a station's admission reads: a ``station_changes`` row for every
station created, deleted, or changed in its passwords, registration or security profiles,
written by triggers so that every writer (any node, the API, a command on the database)
is seen, in commit order (decision 0246).

On PostgreSQL the trigger takes a transaction-level advisory lock before it takes its
sequence number, so numbers are handed out in commit order: a row a reader sees implies
every lower number is committed or will never be. SQLite has one writer at a time.

Created 2026-12-07 17:10:00.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from csms.store.migrations.ops import BIG_ID

revision, down_revision = "0012", "0011"

#: The columns of ``stations`` an admission decides on (``csms.store.tables.ADMISSION_COLUMNS``
#: at this revision; a migration keeps its own copy).
_COLUMNS = (
    "password_hash",
    "pending_password_hash",
    "registration",
    "security_profile",
    "pending_security_profile",
)
#: The advisory lock that orders the change numbers by commit ("cgchg").
_LOCK_KEY = 0x6367636867


def _changed(old: str, new: str, distinct: str) -> str:
    return " OR ".join(f"{old}.{c} {distinct} {new}.{c}" for c in (*_COLUMNS, "station_id"))


def upgrade() -> None:
    op.create_table(
        "station_changes",
        sa.Column("seq", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(255), nullable=False),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION chargegrid_station_changed() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_advisory_xact_lock({_LOCK_KEY});
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO station_changes (station_id) VALUES (NEW.station_id);
                ELSE
                    INSERT INTO station_changes (station_id) VALUES (OLD.station_id);
                    IF TG_OP = 'UPDATE' AND NEW.station_id <> OLD.station_id THEN
                        INSERT INTO station_changes (station_id) VALUES (NEW.station_id);
                    END IF;
                END IF;
                RETURN NULL;
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER station_changes_insert_delete AFTER INSERT OR DELETE ON stations "
            "FOR EACH ROW EXECUTE FUNCTION chargegrid_station_changed()"
        )
        op.execute(
            "CREATE TRIGGER station_changes_update AFTER UPDATE ON stations FOR EACH ROW "
            f"WHEN ({_changed('OLD', 'NEW', 'IS DISTINCT FROM')}) "
            "EXECUTE FUNCTION chargegrid_station_changed()"
        )
        return
    op.execute(
        "CREATE TRIGGER station_changes_insert AFTER INSERT ON stations BEGIN "
        "INSERT INTO station_changes (station_id) VALUES (NEW.station_id); END"
    )
    op.execute(
        "CREATE TRIGGER station_changes_delete AFTER DELETE ON stations BEGIN "
        "INSERT INTO station_changes (station_id) VALUES (OLD.station_id); END"
    )
    op.execute(
        "CREATE TRIGGER station_changes_update AFTER UPDATE ON stations "
        f"WHEN {_changed('OLD', 'NEW', 'IS NOT')} BEGIN "
        "INSERT INTO station_changes (station_id) VALUES (OLD.station_id); "
        "INSERT INTO station_changes (station_id) SELECT NEW.station_id "
        "WHERE NEW.station_id <> OLD.station_id; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER station_changes_update ON stations")
        op.execute("DROP TRIGGER station_changes_insert_delete ON stations")
        op.execute("DROP FUNCTION chargegrid_station_changed()")
    else:
        op.execute("DROP TRIGGER station_changes_update")
        op.execute("DROP TRIGGER station_changes_delete")
        op.execute("DROP TRIGGER station_changes_insert")
    op.drop_table("station_changes")
