"""The SQL schema of the store (SQLAlchemy Core), shared by :mod:`csms.store.sql` and the
Alembic migrations.

Columns that take part in a unique key are NOT NULL so that redelivered rows collide (SQL
treats NULLs as distinct): a sample without transaction has ``transaction_id = 0``
(transaction ids start at 1) and a missing phase, location or context is ``''``.

Keys and enumerations have a length; free text a station sends (info, vendor codes, raw
values, firmware versions) is unbounded, so an odd station can never make a write fail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

__all__ = [
    "ADMISSION_COLUMNS",
    "CONNECTOR_KEY",
    "METER_KEY",
    "NO_TRANSACTION",
    "SAMPLE_IDENTITY",
    "UtcDateTime",
    "connector_key",
    "connector_status",
    "id_tokens",
    "metadata",
    "meters",
    "samples",
    "serial_id",
    "station_changes",
    "station_events",
    "stations",
    "status_history",
    "transaction_events",
    "transactions",
]

#: ``samples.transaction_id`` of a sample outside any transaction.
NO_TRANSACTION = 0


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out on every dialect.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text (fixed width, so text
    order is time order). Naive input is taken as UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: A 64-bit key on PostgreSQL; on SQLite only INTEGER is an alias of the rowid.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Text = sa.String


def serial_id() -> sa.Column[Any]:
    """A table's 64-bit key numbered by the database (new each call: a column belongs to one
    table)."""
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def connector_key(*, primary_key: bool = False) -> list[sa.Column[Any]]:
    """The three columns that name a connector: its station, its EVSE and the connector (new
    each call), part of the table's primary key or else NOT NULL."""
    key: dict[str, Any] = {"primary_key": True} if primary_key else {"nullable": False}
    return [
        sa.Column("station_id", Text(255), **key),
        sa.Column("evse_id", sa.Integer(), **key),
        sa.Column("connector_id", sa.Integer(), **key),
    ]


#: The columns that name a connector (:func:`connector_key`).
CONNECTOR_KEY = ("station_id", "evse_id", "connector_id")
#: The columns that name a meter: a connector's measurand on one phase.
METER_KEY = (*CONNECTOR_KEY, "measurand", "phase")
#: A sample's identity: a sample stored again with the same values is the same sample. Its
#: meter first, so that the unique index on them also finds a meter's newest sample.
SAMPLE_IDENTITY = (*METER_KEY, "timestamp", "transaction_id", "location", "context")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

stations = sa.Table(
    "stations",
    metadata,
    sa.Column("station_id", Text(255), primary_key=True),
    sa.Column("password_hash", sa.Text()),
    sa.Column("site_id", Text(255)),
    sa.Column("registration", Text(16), nullable=False),
    sa.Column("ocpp_version", Text(16)),
    sa.Column("vendor", sa.Text()),
    sa.Column("model", sa.Text()),
    sa.Column("serial_number", sa.Text()),
    sa.Column("firmware_version", sa.Text()),
    sa.Column("last_boot_at", UtcDateTime()),
    sa.Column("last_seen_at", UtcDateTime()),
    sa.Column("connected", sa.Boolean(), nullable=False),
    sa.Column("security_profile", sa.SmallInteger()),
    sa.Column("pending_password_hash", sa.Text()),
    sa.Column("pending_security_profile", sa.SmallInteger()),
)

#: What a station's admission reads (:data:`ADMISSION_COLUMNS`), changed: one row per change,
#: written by triggers on ``stations`` (migration 0012), in commit order, whoever wrote it
#: (this process, another node, a command on the database). Nodes read it to keep their
#: cached station records true (:mod:`csms.store.station_feed`, decision 0246).
station_changes = sa.Table(
    "station_changes",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("station_id", Text(255), nullable=False),
    sqlite_autoincrement=True,
)

#: The columns of ``stations`` a handshake and a first boot decide on.
ADMISSION_COLUMNS = (
    "password_hash",
    "pending_password_hash",
    "registration",
    "security_profile",
    "pending_security_profile",
)

connector_status = sa.Table(
    "connector_status",
    metadata,
    *connector_key(primary_key=True),
    sa.Column("status", Text(32), nullable=False),
    sa.Column("timestamp", UtcDateTime(), nullable=False),
    sa.Column("error_code", sa.Text()),
    sa.Column("info", sa.Text()),
    sa.Column("vendor_id", sa.Text()),
    sa.Column("vendor_error_code", sa.Text()),
)

status_history = sa.Table(
    "status_history",
    metadata,
    serial_id(),
    *connector_key(),
    sa.Column("timestamp", UtcDateTime(), nullable=False),
    sa.Column("status", Text(32), nullable=False),
    sa.Column("error_code", sa.Text()),
    sa.Column("info", sa.Text()),
    sa.Column("vendor_id", sa.Text()),
    sa.Column("vendor_error_code", sa.Text()),
    sa.UniqueConstraint(
        "station_id",
        "evse_id",
        "connector_id",
        "timestamp",
        "status",
        name="uq_status_history_identity",
    ),
    sa.Index("ix_status_history_station_time", "station_id", "timestamp"),
)

station_events = sa.Table(
    "station_events",
    metadata,
    serial_id(),
    sa.Column("station_id", Text(255), nullable=False),
    sa.Column("kind", Text(64), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("data", Json, nullable=False),
    #: sha256 of (kind, at, data): a redelivered event is stored once.
    sa.Column("dedup_key", Text(64), nullable=False),
    sa.UniqueConstraint("station_id", "dedup_key", name="uq_station_events_dedup"),
    sa.Index("ix_station_events_station_at", "station_id", "at"),
)

id_tokens = sa.Table(
    "id_tokens",
    metadata,
    sa.Column("token", Text(255), primary_key=True),
    sa.Column("kind", Text(32), nullable=False),
    sa.Column("status", Text(32), nullable=False),
    sa.Column("expires_at", UtcDateTime()),
    sa.Column("group_id", Text(255)),
)

transactions = sa.Table(
    "transactions",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("station_id", Text(255), nullable=False),
    #: The 2.0.1 transactionId; NULL for 1.6, whose station-facing id is str(id).
    sa.Column("station_tx_id", Text(64)),
    sa.Column("start_key", Text(512), unique=True),
    sa.Column("evse_id", sa.Integer(), nullable=False),
    sa.Column("connector_id", sa.Integer(), nullable=False),
    sa.Column("id_token", Text(255)),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("meter_start_wh", sa.Double()),
    sa.Column("stopped_at", UtcDateTime()),
    sa.Column("meter_stop_wh", sa.Double()),
    sa.Column("stop_reason", sa.Text()),
    sa.Column("charging_state", sa.Text()),
    sa.Column("last_seq_no", sa.Integer()),
    sa.Column("offline", sa.Boolean(), nullable=False),
    sa.Column("remote_start_id", sa.Integer()),
    sa.Column("has_needs", sa.Boolean(), nullable=False),
    sa.Column("needs_energy_requested_wh", sa.Double()),
    sa.Column("needs_departure_at", UtcDateTime()),
    sa.Column("needs_max_current_a", sa.Double()),
    sa.Column("needs_min_current_a", sa.Double()),
    sa.Column("needs_max_power_w", sa.Double()),
    sa.Column("needs_energy_transfer_mode", sa.Text()),
    sa.Column("needs_soc_pct", sa.Double()),
    sa.Column("needs_capacity_wh", sa.Double()),
    sa.Column("needs_bulk_soc_pct", sa.Double()),
    sa.Column("needs_full_soc_pct", sa.Double()),
    sa.Column("needs_v2x", sa.Text()),  # JSON: V2X parameters, transfer modes, control mode
    sa.UniqueConstraint("station_id", "station_tx_id", name="uq_transactions_station_tx"),
    sa.Index("ix_transactions_active", "station_id", "evse_id", "stopped_at"),
    sa.Index("ix_transactions_started_at", "started_at"),
    sqlite_autoincrement=True,
)

transaction_events = sa.Table(
    "transaction_events",
    metadata,
    sa.Column(
        "transaction_id",
        sa.Integer(),
        sa.ForeignKey("transactions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("seq_no", sa.Integer(), primary_key=True),
    sa.Column("kind", Text(16), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)

samples = sa.Table(
    "samples",
    metadata,
    serial_id(),
    *connector_key(),
    sa.Column("transaction_id", sa.Integer(), nullable=False),
    sa.Column("timestamp", UtcDateTime(), nullable=False),
    sa.Column("measurand", Text(64), nullable=False),
    sa.Column("phase", Text(8), nullable=False),
    sa.Column("location", Text(16), nullable=False),
    sa.Column("context", Text(32), nullable=False),
    sa.Column("value", sa.Double(), nullable=False),
    sa.Column("unit", sa.Text(), nullable=False),
    sa.Column("raw_value", sa.Text()),
    sa.Column("raw_unit", sa.Text()),
    # Also serves latest_samples: a meter, then time.
    sa.UniqueConstraint(*SAMPLE_IDENTITY, name="uq_samples_identity"),
    sa.Index("ix_samples_transaction_time", "transaction_id", "timestamp"),
)

#: Every meter (station, evse, connector, measurand, phase) that has samples: the writer adds
#: a meter the first time it sees it, and ``latest_samples`` seeks each meter's newest sample
#: in the ``samples`` unique index instead of scanning the station's history.
meters = sa.Table(
    "meters",
    metadata,
    *connector_key(primary_key=True),
    sa.Column("measurand", Text(64), primary_key=True),
    sa.Column("phase", Text(8), primary_key=True),
)
