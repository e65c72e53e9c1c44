"""The API's answers made from stored records (``record_out``): every field read by name,
checked here against the record classes so that a renamed field fails without a route."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from csms.api.models import (
    ConnectorOut,
    DeliveryOut,
    IdTokenOut,
    JobOut,
    MeterReadingOut,
    StationOut,
    TransactionOut,
    WebhookOut,
    record_out,
)
from csms.api.records import Job, JobStatus, Webhook, WebhookDelivery
from csms.api.routers.der import DerControlOut
from csms.api.routers.swaps import BatteryPackOut, PackOut, SwapOut
from csms.api.site_models import PlanEvseOut, PlanSwapRackOut
from csms.der import DerAlarm, DerControl, DerControlRecord
from csms.domain import IdToken, MeterSample, StatusReport, Transaction
from csms.planning.view import EvseView, RackView
from csms.store.base import StationRecord, StoredSample
from csms.swaps.model import BatteryPack, BatterySwap, PackReading

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

# (answer, the records it is read from in the routes, the fields the routes give)
ANSWERS: list[tuple[type[BaseModel], tuple[type, ...], frozenset[str]]] = [
    (JobOut, (Job,), frozenset()),
    (WebhookOut, (Webhook,), frozenset()),
    (DeliveryOut, (WebhookDelivery,), frozenset()),
    (IdTokenOut, (IdToken,), frozenset()),
    (StationOut, (StationRecord,), frozenset({"site_id", "online", "has_password"})),
    (ConnectorOut, (StatusReport,), frozenset()),
    (MeterReadingOut, (StoredSample, MeterSample), frozenset()),
    (TransactionOut, (Transaction,), frozenset({"site_id", "cost", "currency"})),
    (DerControlOut, (DerControlRecord, DerControl), frozenset()),
    (SwapOut, (BatterySwap,), frozenset({"site_id", "cost", "currency"})),
    (PackOut, (PackReading,), frozenset()),
    (BatteryPackOut, (BatteryPack,), frozenset()),
    (PlanEvseOut, (EvseView,), frozenset({"power_w"})),
    (PlanSwapRackOut, (RackView,), frozenset({"power_w"})),
]


def _attributes(cls: type) -> set[str]:
    """A record class's fields and properties."""
    names = {f.name for f in dataclasses.fields(cls)}
    return names | {n for n in dir(cls) if isinstance(getattr(cls, n, None), property)}


@pytest.mark.parametrize(("answer", "records", "given"), ANSWERS, ids=lambda a: str(a))
def test_every_field_of_an_answer_is_on_its_records(
    answer: type[BaseModel], records: tuple[type, ...], given: frozenset[str]
) -> None:
    have = set(given).union(*(_attributes(r) for r in records))
    assert set(answer.model_fields) - have == set()


def test_der_alarm_answer_reads_the_alarm() -> None:
    from csms.api.routers.der import DerAlarmOut

    assert set(DerAlarmOut.model_fields) <= _attributes(DerAlarm)


def test_a_field_no_record_has_is_an_error_not_a_default() -> None:
    class Out(BaseModel):
        a: int
        b: int | None = None

    class Record:
        a = 1

    with pytest.raises(AttributeError, match=r"Out\.b"):
        record_out(Out, Record())
    assert record_out(Out, Record(), b=2) == Out(a=1, b=2)


def test_enums_tuples_and_mappings_come_out_as_json_values() -> None:
    class Out(BaseModel):
        status: Literal["pending", "succeeded", "failed"]
        name: str
        items: list[str]
        data: dict[str, Any]

    @dataclasses.dataclass
    class Record:
        status: JobStatus
        name: JobStatus
        items: tuple[str, ...]
        data: MappingProxyType[str, Any]

    out = record_out(
        Out, Record(JobStatus.PENDING, JobStatus.FAILED, ("x",), MappingProxyType({"k": 1}))
    )
    assert out.model_dump() == {
        "status": "pending",
        "name": "failed",
        "items": ["x"],
        "data": {"k": 1},
    }
    assert type(out.name) is str


def test_the_first_record_with_the_field_wins_and_nested_answers_read_attributes() -> None:
    class Inner(BaseModel):
        x: int

    class Out(BaseModel):
        a: int
        inner: list[Inner]

    @dataclasses.dataclass
    class Point:
        x: int

    @dataclasses.dataclass
    class First:
        a: int

    @dataclasses.dataclass
    class Second:
        a: int
        inner: tuple[Point, ...]

    out = record_out(Out, First(1), Second(2, (Point(3),)))
    assert out == Out(a=1, inner=[Inner(x=3)])


def test_a_job_answer_is_the_job() -> None:
    job = Job(
        job_id="j1",
        token_id="t",
        idempotency_key=None,
        request_hash="h",
        command="reset",
        station_id="CP1",
        site_id=None,
        request={"hard": False},
        status=JobStatus.SUCCEEDED,
        created_at=T0,
        result={"status": "Accepted"},
        finished_at=T0,
    )
    assert record_out(JobOut, job).model_dump(mode="json") == {
        "job_id": "j1",
        "command": "reset",
        "station_id": "CP1",
        "site_id": None,
        "status": "succeeded",
        "request": {"hard": False},
        "result": {"status": "Accepted"},
        "error": None,
        "created_at": "2026-03-02T06:00:00Z",
        "finished_at": "2026-03-02T06:00:00Z",
    }
