"""Shared values and builders of the Store conformance tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from csms.domain import MeterSample
from csms.store import NewTransaction, StoredSample

T0 = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_tx(**kw: object) -> NewTransaction:
    fields: dict[str, object] = {
        "station_id": "CP1",
        "evse_id": 1,
        "connector_id": 1,
        "started_at": T0,
        "id_token": "TAG1",
        "meter_start_wh": 1000.0,
    }
    fields.update(kw)
    return NewTransaction(**fields)  # type: ignore[arg-type]


def sample(
    ts: datetime,
    measurand: str = "Energy.Active.Import.Register",
    value: float = 1.0,
    *,
    tx: int | None = None,
    station: str = "CP1",
    evse: int = 1,
    connector: int = 1,
    **kw: str | None,
) -> StoredSample:
    unit = kw.pop("unit", None) or "Wh"
    return StoredSample(station, evse, connector, tx, MeterSample(ts, measurand, value, unit, **kw))


def assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)
