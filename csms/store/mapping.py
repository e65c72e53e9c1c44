"""Between domain objects and rows of :mod:`csms.store.tables` (pure functions)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import RowMapping

from chargegrid.clock import utc
from csms.domain import (
    AuthorizationStatus,
    ConnectorStatus,
    EVChargingNeeds,
    IdToken,
    MeterSample,
    RegistrationStatus,
    StatusReport,
    Transaction,
    V2XParameters,
)
from csms.store.base import NewTransaction, StationEvent, StationRecord, StoredSample
from csms.store.tables import NO_TRANSACTION

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "event_dedup_key",
    "event_row",
    "id_token_row",
    "json_data",
    "needs_row",
    "new_transaction_row",
    "record_from_row",
    "record_row",
    "row_to_event",
    "row_to_id_token",
    "row_to_sample",
    "row_to_station",
    "row_to_status",
    "row_to_transaction",
    "sample_row",
    "station_row",
    "status_row",
    "transaction_update_row",
    "v2x_fields",
    "v2x_text",
]

logger = logging.getLogger(__name__)


D = TypeVar("D", bound="DataclassInstance")


@functools.cache
def _field_names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def record_row(record: DataclassInstance, **convert: Callable[[Any], Any]) -> dict[str, Any]:
    """The row of a record whose fields are its table's columns, by name; ``convert`` turns
    a field's value into the column's (an enum into its text, ...)."""
    row = {name: getattr(record, name) for name in _field_names(type(record))}
    for name, to_column in convert.items():
        row[name] = to_column(row[name])
    return row


def record_from_row(cls: type[D], m: RowMapping, **convert: Callable[[Any], Any]) -> D:
    """A record of ``cls`` from a row of its table: every field from the column of its name;
    ``convert`` turns a column's value into the field's type (an enum, a frozenset, ...)."""
    values = {name: m[name] for name in _field_names(cls)}
    for name, to_field in convert.items():
        values[name] = to_field(values[name])
    return cls(**values)


def station_row(r: StationRecord) -> dict[str, Any]:
    return record_row(r, registration=str)


def row_to_station(m: RowMapping) -> StationRecord:
    return record_from_row(StationRecord, m, registration=RegistrationStatus, connected=bool)


def status_row(r: StatusReport) -> dict[str, Any]:
    return record_row(r, status=str)


def row_to_status(m: RowMapping) -> StatusReport:
    return record_from_row(StatusReport, m, status=ConnectorStatus)


def _json_default(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def event_dedup_key(kind: str, at: datetime, data: dict[str, Any]) -> str:
    canonical = json.dumps([kind, utc(at).isoformat(), data], sort_keys=True, default=_json_default)
    return hashlib.sha256(canonical.encode()).hexdigest()


def json_data(data: dict[str, Any]) -> dict[str, Any]:
    """What a JSON column gives back of ``data`` (a TypeError for what JSON cannot hold)."""
    copied: dict[str, Any] = json.loads(json.dumps(data, default=_json_default))
    return copied


def event_row(e: StationEvent) -> dict[str, Any]:
    data = json_data(e.data)
    return {
        "station_id": e.station_id,
        "kind": e.kind,
        "at": e.at,
        "data": data,
        "dedup_key": event_dedup_key(e.kind, e.at, data),
    }


def row_to_event(m: RowMapping) -> StationEvent:
    return StationEvent(station_id=m["station_id"], kind=m["kind"], at=m["at"], data=m["data"])


def id_token_row(t: IdToken) -> dict[str, Any]:
    return record_row(t, status=str)


def row_to_id_token(m: RowMapping) -> IdToken:
    return record_from_row(IdToken, m, status=AuthorizationStatus)


def new_transaction_row(n: NewTransaction) -> dict[str, Any]:
    return {
        "station_id": n.station_id,
        "station_tx_id": n.station_tx_id,
        "start_key": n.start_key,
        "evse_id": n.evse_id,
        "connector_id": n.connector_id,
        "id_token": n.id_token,
        "started_at": n.started_at,
        "meter_start_wh": n.meter_start_wh,
        "offline": n.offline,
        "remote_start_id": n.remote_start_id,
        "has_needs": False,
    }


def needs_row(n: EVChargingNeeds | None) -> dict[str, Any]:
    if n is None:  # every update of a transaction without needs: built once
        return dict(_NO_NEEDS)
    return _needs_row(n, has=True)


def _needs_row(n: EVChargingNeeds, *, has: bool) -> dict[str, Any]:
    return {
        "has_needs": has,
        "needs_energy_requested_wh": n.energy_requested_wh,
        "needs_departure_at": n.departure_at,
        "needs_max_current_a": n.max_current_a,
        "needs_min_current_a": n.min_current_a,
        "needs_max_power_w": n.max_power_w,
        "needs_energy_transfer_mode": n.energy_transfer_mode,
        "needs_soc_pct": n.soc_pct,
        "needs_capacity_wh": n.capacity_wh,
        "needs_bulk_soc_pct": n.bulk_soc_pct,
        "needs_full_soc_pct": n.full_soc_pct,
        "needs_v2x": v2x_text(n),
    }


def v2x_text(n: EVChargingNeeds) -> str | None:
    """The needs' 2.1 part as JSON (None when the EV sent none)."""
    if n.v2x is None and not n.available_energy_transfer and n.control_mode is None:
        return None
    v2x = None if n.v2x is None else dataclasses.asdict(n.v2x)
    modes = list(n.available_energy_transfer)
    return json.dumps({"v2x": v2x, "available": modes, "control_mode": n.control_mode})


_NO_NEEDS = _needs_row(EVChargingNeeds(), has=False)


def v2x_fields(text: str | None) -> dict[str, Any]:
    """:class:`EVChargingNeeds` keyword arguments from :func:`v2x_text`'s JSON; a stored
    value that no longer reads is left out (the EV plans charging only) and logged."""
    if text is None:
        return {}
    try:
        data = json.loads(text)
        v2x = None if data["v2x"] is None else V2XParameters(**data["v2x"])
        modes = tuple(str(m) for m in data["available"])
        control = data["control_mode"]
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("stored V2X needs skipped: %s", exc)
        return {}
    return {"v2x": v2x, "available_energy_transfer": modes, "control_mode": control}


def transaction_update_row(tx: Transaction) -> dict[str, Any]:
    """The mutable fields :meth:`Store.save_transaction` persists: the columns of
    :data:`~csms.store.base.TRANSACTION_SAVED_FIELDS` and of the needs. Written out rather
    than read through the names (the writer maps every transaction update; a loop over them
    cost about 10,000 instructions a TransactionEvent); a test holds the two together."""
    return {
        "stopped_at": tx.stopped_at,
        "meter_stop_wh": tx.meter_stop_wh,
        "stop_reason": tx.stop_reason,
        "charging_state": tx.charging_state,
        "last_seq_no": tx.last_seq_no,
        "offline": tx.offline,
        "id_token": tx.id_token,
        "remote_start_id": tx.remote_start_id,
        **needs_row(tx.needs),
    }


def row_to_transaction(m: RowMapping) -> Transaction:
    needs = None
    if m["has_needs"]:
        needs = EVChargingNeeds(
            energy_requested_wh=m["needs_energy_requested_wh"],
            departure_at=m["needs_departure_at"],
            max_current_a=m["needs_max_current_a"],
            min_current_a=m["needs_min_current_a"],
            max_power_w=m["needs_max_power_w"],
            energy_transfer_mode=m["needs_energy_transfer_mode"],
            soc_pct=m["needs_soc_pct"],
            capacity_wh=m["needs_capacity_wh"],
            bulk_soc_pct=m["needs_bulk_soc_pct"],
            full_soc_pct=m["needs_full_soc_pct"],
            **v2x_fields(m["needs_v2x"]),
        )
    station_tx_id = m["station_tx_id"]
    return Transaction(
        id=m["id"],
        station_id=m["station_id"],
        station_tx_id=station_tx_id if station_tx_id is not None else str(m["id"]),
        evse_id=m["evse_id"],
        connector_id=m["connector_id"],
        id_token=m["id_token"],
        started_at=m["started_at"],
        meter_start_wh=m["meter_start_wh"],
        stopped_at=m["stopped_at"],
        meter_stop_wh=m["meter_stop_wh"],
        stop_reason=m["stop_reason"],
        charging_state=m["charging_state"],
        last_seq_no=m["last_seq_no"],
        offline=bool(m["offline"]),
        needs=needs,
        remote_start_id=m["remote_start_id"],
    )


def sample_row(s: StoredSample) -> dict[str, Any]:
    m = s.sample
    return {
        "station_id": s.station_id,
        "evse_id": s.evse_id,
        "connector_id": s.connector_id,
        "transaction_id": NO_TRANSACTION if s.transaction_id is None else s.transaction_id,
        "timestamp": m.timestamp,
        "measurand": m.measurand,
        "phase": m.phase or "",
        "location": m.location or "",
        "context": m.context or "",
        "value": m.value,
        "unit": m.unit,
        "raw_value": m.raw_value,
        "raw_unit": m.raw_unit,
    }


def row_to_sample(m: RowMapping) -> StoredSample:
    tx = m["transaction_id"]
    ts = m["timestamp"]
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return StoredSample(
        station_id=m["station_id"],
        evse_id=m["evse_id"],
        connector_id=m["connector_id"],
        transaction_id=None if tx == NO_TRANSACTION else tx,
        sample=MeterSample(
            timestamp=ts,
            measurand=m["measurand"],
            value=m["value"],
            unit=m["unit"],
            phase=m["phase"] or None,
            location=m["location"] or None,
            context=m["context"] or None,
            raw_value=m["raw_value"],
            raw_unit=m["raw_unit"],
        ),
    )
