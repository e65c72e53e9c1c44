"""The site families of telemetry points: plans, grid constraints, storage and site readings.

Encoders chosen by :class:`~csms.telemetry.points.PointEncoder`'s type table; each writes
its record through the encoder's ``Point`` helper (:class:`PointWriter`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from csms.events import (
    GridConstraintSet,
    PlanComputed,
    SiteReadingsReceived,
    StorageDispatched,
)
from csms.telemetry.lineprotocol import Encoded, Precision
from csms.telemetry.plan_points import plan_lines
from csms.telemetry.records import (
    GridConstraintRecord,
    PlanRecord,
    SiteRecord,
    StorageRecord,
)
from csms.telemetry.schema import Field, Measurement, Tag

__all__ = ["SITE_FAMILIES", "PointWriter", "opt_float"]

#: tag or field pairs of a ``Point``, in the order they are set
Pairs = Iterable[tuple[str, Any]]


class PointWriter(Protocol):
    """What a family encoder needs of the encoder."""

    precision: Precision
    plan_steps: int
    #: a station's site (None: not known), for points whose record does not carry it
    site_of: Callable[[str], str | None]

    def point(
        self,
        into: Encoded,
        measurement: str,
        at: datetime,
        now: int,
        tags: Pairs,
        fields: Pairs,
        *,
        check: bool = True,
    ) -> None:
        """Write one ``Point`` (see :meth:`csms.telemetry.points.PointEncoder.point`)."""


def opt_float(value: float | None) -> float | None:
    """``value`` as a float, None kept (a field left out)."""
    return None if value is None else float(value)


def _plan_computed(enc: PointWriter, record: PlanComputed, now: int, into: Encoded) -> None:
    plan_lines(record, into.lines, precision=enc.precision, plan_steps=enc.plan_steps)


def _plan_record(enc: PointWriter, record: PlanRecord, now: int, into: Encoded) -> None:
    tags = ((Tag.SITE, record.site), (Tag.ASSET_KIND, record.asset_kind), (Tag.ASSET, record.asset))
    for step in record.steps:
        fields = (
            (Field.POWER_W, float(step.power_w)),
            (Field.ENERGY_SETPOINT_WH, opt_float(step.energy_wh)),
            (Field.SOC_PCT, opt_float(step.soc_pct)),
            (Field.CONSTRAINT, step.constraint or "none"),
            (Field.PLAN_ID, record.plan_id),
        )
        enc.point(into, Measurement.PLAN, step.start, now, tags, fields, check=False)


def _grid_constraint_set(
    enc: PointWriter, record: GridConstraintSet, now: int, into: Encoded
) -> None:
    """A created constraint: per limit a point at its start (``value``, ``active=true``)
    and one at its end (``active=false``); a cancelled one: ``active=false`` from the
    cancellation on (at its start when cancelled before it began)."""
    stamps: tuple[tuple[datetime, bool], ...]
    if record.change == "created":
        stamps = ((record.start, True), (record.end, False))
    else:
        stamps = ((min(max(record.at, record.start), record.end), False),)
    for kind, value, unit in record.limits:
        tags = (
            (Tag.SITE, record.site_id),
            (Tag.NODE, record.node_id),
            (Tag.KIND, kind),
            (Tag.UNIT, unit),
        )
        for at, active in stamps:
            fields: list[tuple[str, Any]] = []
            if active:
                fields += [(Field.VALUE, float(value)), (Field.REASON, record.source)]
            fields += [(Field.ACTIVE, active), (Field.CONSTRAINT_ID, record.constraint_id)]
            enc.point(into, Measurement.GRID_CONSTRAINT, at, now, tags, fields, check=False)


def _grid_constraint(
    enc: PointWriter, record: GridConstraintRecord, now: int, into: Encoded
) -> None:
    tags = (
        (Tag.SITE, record.site),
        (Tag.KIND, record.kind),
        (Tag.UNIT, record.unit),
        (Tag.NODE, record.node),
    )
    fields = ((Field.VALUE, float(record.value)), (Field.REASON, record.reason))
    enc.point(into, Measurement.GRID_CONSTRAINT, record.at, now, tags, fields, check=False)


def _storage(enc: PointWriter, record: StorageRecord, now: int, into: Encoded) -> None:
    tags = ((Tag.SITE, record.site), (Tag.STORAGE, record.storage))
    fields = (
        (Field.SOC_PCT, opt_float(record.soc_pct)),
        (Field.SETPOINT_W, opt_float(record.setpoint_w)),
        (Field.POWER_W, opt_float(record.power_w)),
    )
    enc.point(into, Measurement.STORAGE, record.at, now, tags, fields)


def _site(enc: PointWriter, record: SiteRecord, now: int, into: Encoded) -> None:
    fields = (
        (Field.IMPORT_W, opt_float(record.import_w)),
        (Field.EXPORT_W, opt_float(record.export_w)),
        (Field.PV_W, opt_float(record.pv_w)),
        (Field.LOAD_W, opt_float(record.load_w)),
    )
    enc.point(into, Measurement.SITE, record.at, now, ((Tag.SITE, record.site),), fields)


def _site_readings(enc: PointWriter, record: SiteReadingsReceived, now: int, into: Encoded) -> None:
    """Each storage unit's reading, the site's PV production (summed, at the newest) and
    its grid meter's import and export."""
    for unit in record.storage:
        storage = StorageRecord(
            record.site_id, unit.storage_id, unit.at, unit.soc_pct, None, unit.power_w
        )
        _storage(enc, storage, now, into)
    if record.pv:
        at = max(pv.at for pv in record.pv)
        pv_w = sum(pv.power_w for pv in record.pv)
        _site(enc, SiteRecord(record.site_id, at, pv_w=pv_w), now, into)
    meter = record.meter
    if meter is not None:
        grid = SiteRecord(
            record.site_id, meter.at, import_w=meter.import_w, export_w=meter.export_w
        )
        _site(enc, grid, now, into)


def _storage_dispatched(
    enc: PointWriter, record: StorageDispatched, now: int, into: Encoded
) -> None:
    """A storage-control step: per unit its SoC and power as read, and the setpoint decided
    (none for a unit not counted on)."""
    setpoints = {unit: w for unit, w, _ in record.setpoints}
    for unit, soc_pct, power_w in record.readings:
        storage = StorageRecord(
            record.site_id, unit, record.at, soc_pct, setpoints.get(unit), power_w
        )
        _storage(enc, storage, now, into)


#: The site families' encoders by record type.
SITE_FAMILIES: dict[type, Callable[[Any, Any, int, Encoded], None]] = {
    PlanComputed: _plan_computed,
    PlanRecord: _plan_record,
    GridConstraintSet: _grid_constraint_set,
    GridConstraintRecord: _grid_constraint,
    SiteReadingsReceived: _site_readings,
    StorageRecord: _storage,
    SiteRecord: _site,
    StorageDispatched: _storage_dispatched,
}
