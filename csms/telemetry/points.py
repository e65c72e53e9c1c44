"""Turning domain events and planner records into line protocol (sans-I/O).

:class:`PointEncoder` runs on the pipeline's ingest thread, never on the OCPP path. Meter
samples go through the fast :func:`meter_line`; everything else is built with
influxdb-client's ``Point``. Bad samples are rejected here with a :class:`Reject` reason.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from chargegrid.measurands import DEFAULT_MEASURAND, canonical_measurand
from csms.domain import ChargingLimit, MeterSample
from csms.events import (
    ChargingLimitSent,
    DomainEvent,
    GridConstraintSet,
    HeartbeatReceived,
    MeterValuesReceived,
    MeterValueUnreadable,
    PlanComputed,
    SiteReadingsReceived,
    StationBooted,
    StationConnected,
    StationDisconnected,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from csms.telemetry.lineprotocol import escape_string, escape_tag, format_float, meter_series
from csms.telemetry.normalize import Reject, check_time, to_number, unit_conversion
from csms.telemetry.schema import Field, Measurement, Tag
from csms.telemetry.writers import Precision

__all__ = [
    "FieldPoint",
    "GridConstraintRecord",
    "MeterPoint",
    "PlanStep",
    "PointEncoder",
    "Record",
    "SiteRecord",
    "StorageRecord",
    "field_point_line",
    "meter_point_line",
    "to_epoch",
]

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIT = {
    "ns": timedelta(microseconds=1),  # scaled by 1000 below
    "us": timedelta(microseconds=1),
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
}
_PER_SECOND = {"ns": 1_000_000_000, "us": 1_000_000, "ms": 1000, "s": 1}
_WRITE_PRECISION = {
    "ns": WritePrecision.NS,
    "us": WritePrecision.US,
    "ms": WritePrecision.MS,
    "s": WritePrecision.S,
}


def to_epoch(at: datetime, precision: Precision) -> int:
    """``at`` as an integer count of ``precision`` units since the epoch (naive = UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    value = (at - _EPOCH) // _UNIT[precision]
    return value * 1000 if precision == "ns" else value


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One step of an optimizer plan for one asset."""

    start: datetime
    power_w: float
    constraint: str | None = None
    energy_wh: float | None = None
    soc_pct: float | None = None


@dataclass(frozen=True, slots=True)
class PlanRecord:
    site: str
    asset_kind: str
    asset: str
    plan_id: str | None
    steps: tuple[PlanStep, ...]


@dataclass(frozen=True, slots=True)
class GridConstraintRecord:
    site: str
    kind: str
    value: float
    unit: str
    at: datetime
    reason: str | None = None
    node: str | None = None


@dataclass(frozen=True, slots=True)
class StorageRecord:
    site: str
    storage: str
    at: datetime
    soc_pct: float | None = None
    setpoint_w: float | None = None
    power_w: float | None = None


@dataclass(frozen=True, slots=True)
class SiteRecord:
    site: str
    at: datetime
    import_w: float | None = None
    export_w: float | None = None
    pv_w: float | None = None
    load_w: float | None = None


Record = DomainEvent | PlanRecord | GridConstraintRecord | StorageRecord | SiteRecord

#: A meter point before it becomes a line: the line's measurement-and-tags prefix (as
#: :func:`~csms.telemetry.lineprotocol.meter_series` makes it), the time in the encoder's
#: precision, the transaction id, the normalized value and the reading context. Exactly the
#: line's content: :func:`meter_point_line` turns it into the line.
MeterPoint = tuple[str, int, int | None, float, str | None]


#: A point as its line's measurement-and-tags prefix, its time in the encoder's precision and
#: its fields in key order (str or int values, none None): status reports and heartbeats.
FieldPoint = tuple[str, int, tuple[tuple[str, str | int], ...]]

_BEAT: tuple[tuple[str, str | int], ...] = (("value", 1),)


def field_point_line(point: FieldPoint) -> str:
    """The line protocol of a :data:`FieldPoint`, as influxdb-client's ``Point`` writes it."""
    prefix, t, fields = point
    text = ",".join(
        f'{key}="{escape_string(value)}"' if type(value) is str else f"{key}={value}i"
        for key, value in fields
    )
    return f"{prefix}{text} {t}"


def meter_point_line(point: MeterPoint) -> str:
    """The line protocol of a :data:`MeterPoint` (what :class:`PointEncoder` writes)."""
    prefix, t, tx, value, context = point
    tx_field = "" if tx is None else f"transaction_id={tx}i,"
    text = str(value)
    if text.endswith(".0"):
        text = text[:-2]
    if context is None:
        return f"{prefix}{tx_field}value={text} {t}"
    return f'{prefix}context="{escape_string(context)}",{tx_field}value={text} {t}'


class PointEncoder:
    """Encodes records into lines; calls ``on_reject(reason, detail)`` for each bad sample."""

    def __init__(
        self,
        *,
        precision: Precision = "ms",
        now_s: Callable[[], float] = _time.time,
        max_future_s: float = 300.0,
        max_past_s: float = 30 * 86400.0,
        on_reject: Callable[[Reject, str], None] | None = None,
        max_cached_series: int = 200_000,
        plan_steps: int = 0,
    ) -> None:
        self.precision: Precision = precision
        #: steps of each plan written per EVSE and storage unit (0: all of them)
        self.plan_steps = plan_steps
        self._per_s = _PER_SECOND[precision]
        self._wp = _WRITE_PRECISION[precision]
        self._now_s = now_s
        self._max_future = int(max_future_s * self._per_s)
        self._max_past = int(max_past_s * self._per_s)
        self.on_reject: Callable[[Reject, str], None] = on_reject or (lambda reason, detail: None)
        self.max_cached_series = max_cached_series
        self.encode_errors = 0
        self._station_tags: dict[str, str] = {}
        self._series: dict[
            tuple[str, int, int, str, str, str | None, str | None],
            tuple[str, Callable[[float], float] | None] | Reject,
        ] = {}

    def encode_many(
        self,
        records: Sequence[Record],
        out: list[str],
        meter_out: list[MeterPoint] | None = None,
        field_out: list[FieldPoint] | None = None,
    ) -> None:
        """Append the lines of every record to ``out``. With ``meter_out``, meter samples go
        there as :data:`MeterPoint` tuples instead of lines, and with ``field_out`` status
        reports and heartbeats as :data:`FieldPoint` (the embedded store takes them as they
        are: no line to build and parse again); everything else still goes to ``out``."""
        now = int(self._now_s() * self._per_s)
        for record in records:
            try:
                if type(record) is MeterValuesReceived:
                    self._meter(record, now, out, meter_out)
                else:
                    self._other(record, now, out, field_out)
            except Exception:  # one malformed record must not cost the others
                self.encode_errors += 1
                logger.exception("could not encode %s: %r", type(record).__name__, record)
                self.on_reject(Reject.ENCODE_ERROR, type(record).__name__)

    def _time_ok(self, t: int, now: int, what: str) -> bool:
        reason = check_time(t, now, max_future_ns=self._max_future, max_past_ns=self._max_past)
        if reason is None:
            return True
        self.on_reject(reason, what)
        return False

    def _series_entry(
        self, event: MeterValuesReceived, sample: MeterSample
    ) -> tuple[str, Callable[[float], float] | None] | Reject:
        measurand = canonical_measurand(sample.measurand)
        if measurand is None:
            return Reject.UNKNOWN_MEASURAND
        conversion = unit_conversion(measurand, sample.unit)
        if isinstance(conversion, Reject):
            return conversion
        convert, unit = conversion
        prefix = meter_series(
            station=event.station_id,
            evse=event.evse_id,
            connector=event.connector_id,
            measurand=measurand,
            unit=unit,
            phase=sample.phase,
            location=sample.location,
        )
        return prefix, convert

    def _meter(
        self,
        event: MeterValuesReceived,
        now: int,
        out: list[str],
        meter_out: list[MeterPoint] | None = None,
    ) -> None:
        """The hot path: series prefixes and unit conversions are cached per series."""
        cache = self._series
        precision = self.precision
        tx = event.transaction_id
        tx_field = "" if tx is None else f"transaction_id={tx}i,"
        last_ts: datetime | None = None
        t = 0
        t_reject: Reject | None = None
        for sample in event.samples:
            key = (
                event.station_id,
                event.evse_id,
                event.connector_id,
                sample.measurand,
                sample.unit,
                sample.phase,
                sample.location,
            )
            entry = cache.get(key)
            if entry is None:
                if len(cache) >= self.max_cached_series:
                    cache.clear()
                entry = cache[key] = self._series_entry(event, sample)
            if isinstance(entry, Reject):
                self.on_reject(
                    entry,
                    f"{event.station_id}: {sample.measurand!r}={sample.value!r} {sample.unit!r}",
                )
                continue
            prefix, convert = entry
            value = sample.value
            if type(value) is not float or value - value != 0.0:  # not a finite float
                number = to_number(sample.raw_value if sample.raw_value is not None else value)
                if isinstance(number, Reject):
                    self.on_reject(number, f"{event.station_id}: {sample.measurand}={value!r}")
                    continue
                value = number
            if convert is not None:
                value = convert(value)
            ts = sample.timestamp
            if ts is not last_ts:
                last_ts = ts
                t = to_epoch(ts, precision)
                t_reject = check_time(
                    t, now, max_future_ns=self._max_future, max_past_ns=self._max_past
                )
            if t_reject is not None:
                self.on_reject(t_reject, f"{event.station_id}: {sample.measurand} at {ts}")
                continue
            if meter_out is not None:
                meter_out.append((prefix, t, tx, value, sample.context))
                continue
            text = str(value)
            if text.endswith(".0"):
                text = text[:-2]
            context = sample.context
            if context is None:
                out.append(f"{prefix}{tx_field}value={text} {t}")
            else:
                ctx = escape_string(context)
                out.append(f'{prefix}context="{ctx}",{tx_field}value={text} {t}')

    def _point(
        self, measurement: str, at: datetime, now: int, *, check: bool = True
    ) -> Point | None:
        """A point at ``at``; ``check=False`` for plans and limits, which are about the future."""
        t = to_epoch(at, self.precision)
        if check and not self._time_ok(t, now, f"{measurement} at {at}"):
            return None
        point: Point = Point(measurement).time(t, self._wp)
        return point

    def _emit(self, point: Point | None, out: list[str]) -> None:
        if point is not None:
            line = point.to_line_protocol()
            if line:
                out.append(line)

    def _station_tag(self, station_id: str) -> str:
        tag = self._station_tags.get(station_id)
        if tag is None:
            if len(self._station_tags) >= self.max_cached_series:
                self._station_tags.clear()
            tag = self._station_tags[station_id] = escape_tag(station_id)
        return tag

    def _heartbeat(
        self,
        record: HeartbeatReceived,
        now: int,
        out: list[str],
        field_out: list[FieldPoint] | None,
    ) -> None:
        """What ``Point`` makes of a heartbeat, without it (one per station and interval)."""
        t = to_epoch(record.at, self.precision)
        if self._time_ok(t, now, f"{Measurement.CONNECTION} at {record.at}"):
            station = self._station_tag(record.station_id)
            point: FieldPoint = (f"connection,event=heartbeat,station={station} ", t, _BEAT)
            if field_out is None:
                out.append(field_point_line(point))
            else:
                field_out.append(point)

    def _status(
        self, record: StatusChanged, now: int, out: list[str], field_out: list[FieldPoint] | None
    ) -> None:
        """What ``Point`` makes of a status report, without it (tags and fields in key
        order, fields that are None left out)."""
        r = record.report
        t = to_epoch(r.timestamp, self.precision)
        if not self._time_ok(t, now, f"{Measurement.STATUS} at {r.timestamp}"):
            return
        fields: list[tuple[str, str | int]] = []
        if r.error_code is not None:
            fields.append(("error_code", r.error_code))
        if r.info is not None:
            fields.append(("info", r.info))
        fields.append(("status", str(r.status)))
        if r.vendor_error_code is not None:
            fields.append(("vendor_error_code", r.vendor_error_code))
        station = self._station_tag(r.station_id)
        point: FieldPoint = (
            f"status,connector={r.connector_id},evse={r.evse_id},station={station} ",
            t,
            tuple(fields),
        )
        if field_out is None:
            out.append(field_point_line(point))
        else:
            field_out.append(point)

    def _other(
        self, record: Record, now: int, out: list[str], field_out: list[FieldPoint] | None = None
    ) -> None:
        p: Point | None
        kind = type(record)
        if kind is HeartbeatReceived:
            self._heartbeat(cast(HeartbeatReceived, record), now, out, field_out)
        elif kind is StatusChanged:
            self._status(cast(StatusChanged, record), now, out, field_out)
        elif isinstance(record, StatusChanged):
            r = record.report
            p = self._point(Measurement.STATUS, r.timestamp, now)
            if p is not None:
                p.tag(Tag.STATION, r.station_id).tag(Tag.EVSE, str(r.evse_id))
                p.tag(Tag.CONNECTOR, str(r.connector_id))
                p.field(Field.STATUS, str(r.status))
                p.field(Field.ERROR_CODE, r.error_code).field(Field.INFO, r.info)
                p.field(Field.VENDOR_ERROR_CODE, r.vendor_error_code)
            self._emit(p, out)
        elif isinstance(record, TransactionStarted | TransactionUpdated | TransactionEnded):
            tx = record.transaction
            if isinstance(record, TransactionStarted):
                event, at, meter = "started", tx.started_at, tx.meter_start_wh
            elif isinstance(record, TransactionEnded):
                event, at, meter = "ended", tx.stopped_at or tx.started_at, tx.meter_stop_wh
            else:
                # the domain Transaction has no update time: stamp it when telemetry sees it
                at = datetime.fromtimestamp(self._now_s(), UTC)
                event, meter = "updated", None
            p = self._point(Measurement.TRANSACTION, at, now)
            if p is not None:
                p.tag(Tag.STATION, tx.station_id).tag(Tag.EVSE, str(tx.evse_id))
                p.tag(Tag.EVENT, event)
                p.field(Field.TRANSACTION_ID, tx.id).field(Field.STATION_TX_ID, tx.station_tx_id)
                p.field(Field.METER_WH, None if meter is None else float(meter))
                p.field(Field.CHARGING_STATE, tx.charging_state)
                if isinstance(record, TransactionEnded):
                    energy = tx.energy_wh
                    p.field(Field.ENERGY_WH, None if energy is None else float(energy))
                    p.field(Field.STOP_REASON, tx.stop_reason)
            self._emit(p, out)
        elif isinstance(record, StationConnected):
            p = self._point(Measurement.CONNECTION, record.at, now)
            if p is not None:
                p.tag(Tag.STATION, record.station_id).tag(Tag.EVENT, "connected")
                p.field(Field.VALUE, 1).field(Field.OCPP_VERSION, record.ocpp_version)
            self._emit(p, out)
        elif isinstance(record, StationDisconnected):
            p = self._point(Measurement.CONNECTION, record.at, now)
            if p is not None:
                p.tag(Tag.STATION, record.station_id).tag(Tag.EVENT, "disconnected")
                p.field(Field.VALUE, 1).field(Field.REASON, record.reason or None)
            self._emit(p, out)
        elif isinstance(record, StationBooted):
            p = self._point(Measurement.CONNECTION, record.at, now)
            if p is not None:
                info = record.info
                p.tag(Tag.STATION, record.station_id).tag(Tag.EVENT, "booted")
                p.field(Field.VALUE, 1).field(Field.REGISTRATION, str(record.status))
                p.field(Field.VENDOR, info.vendor).field(Field.MODEL, info.model)
                p.field(Field.FIRMWARE, info.firmware_version)
                p.field(Field.OCPP_VERSION, info.ocpp_version)
            self._emit(p, out)
        elif isinstance(record, HeartbeatReceived):
            p = self._point(Measurement.CONNECTION, record.at, now)
            if p is not None:
                p.tag(Tag.STATION, record.station_id).tag(Tag.EVENT, "heartbeat")
                p.field(Field.VALUE, 1)
            self._emit(p, out)
        elif isinstance(record, ChargingLimitSent):
            self._limit(record.limit, record.accepted, record.at, now, out)
        elif isinstance(record, MeterValueUnreadable):
            self.on_reject(
                Reject.NOT_A_NUMBER,
                f"{record.station_id}: {record.measurand or DEFAULT_MEASURAND}={record.value!r}",
            )
        elif isinstance(record, PlanComputed):
            self._plan_computed(record, out)
        elif isinstance(record, GridConstraintSet):
            self._grid_constraint_set(record, out)
        elif isinstance(record, PlanRecord):
            for step in record.steps:
                p = self._point(Measurement.PLAN, step.start, now, check=False)
                if p is not None:
                    p.tag(Tag.SITE, record.site).tag(Tag.ASSET_KIND, record.asset_kind)
                    p.tag(Tag.ASSET, record.asset)
                    p.field(Field.POWER_W, float(step.power_w))
                    p.field(Field.ENERGY_SETPOINT_WH, _opt_float(step.energy_wh))
                    p.field(Field.SOC_PCT, _opt_float(step.soc_pct))
                    p.field(Field.CONSTRAINT, step.constraint or "none")
                    p.field(Field.PLAN_ID, record.plan_id)
                self._emit(p, out)
        elif isinstance(record, GridConstraintRecord):
            p = self._point(Measurement.GRID_CONSTRAINT, record.at, now, check=False)
            if p is not None:
                p.tag(Tag.SITE, record.site).tag(Tag.KIND, record.kind).tag(Tag.UNIT, record.unit)
                p.tag(Tag.NODE, record.node)
                p.field(Field.VALUE, float(record.value)).field(Field.REASON, record.reason)
            self._emit(p, out)
        elif isinstance(record, SiteReadingsReceived):
            for unit in record.storage:
                self._other(
                    StorageRecord(
                        record.site_id, unit.storage_id, unit.at, unit.soc_pct, None, unit.power_w
                    ),
                    now,
                    out,
                )
            if record.pv:
                at = max(pv.at for pv in record.pv)
                pv_w = sum(pv.power_w for pv in record.pv)
                self._other(SiteRecord(record.site_id, at, pv_w=pv_w), now, out)
        elif isinstance(record, StorageRecord):
            p = self._point(Measurement.STORAGE, record.at, now)
            if p is not None:
                p.tag(Tag.SITE, record.site).tag(Tag.STORAGE, record.storage)
                p.field(Field.SOC_PCT, _opt_float(record.soc_pct))
                p.field(Field.SETPOINT_W, _opt_float(record.setpoint_w))
                p.field(Field.POWER_W, _opt_float(record.power_w))
            self._emit(p, out)
        elif isinstance(record, SiteRecord):
            p = self._point(Measurement.SITE, record.at, now)
            if p is not None:
                p.tag(Tag.SITE, record.site)
                p.field(Field.IMPORT_W, _opt_float(record.import_w))
                p.field(Field.EXPORT_W, _opt_float(record.export_w))
                p.field(Field.PV_W, _opt_float(record.pv_w))
                p.field(Field.LOAD_W, _opt_float(record.load_w))
            self._emit(p, out)
        # other events (EV charging needs, ...) carry nothing telemetry stores

    def _plan_computed(self, record: PlanComputed, out: list[str]) -> None:
        """One ``plan`` point per EVSE and storage unit and step, with the constraint in force:
        the nearest node (the asset's own, then up to the root) whose limit binds in the step,
        as ``node:import`` (``export``, ``L1``, ...), or ``none``; and one per node of the limit
        tree and step (``asset_kind=site`` for the root, ``node`` for the others): the planned
        net import through it with its own import limit in force (and, at the root, the
        import price the plan used).

        A plan is EVSEs x steps points (96,000 for 1,000 EVSEs over a day), so the lines are
        written directly, as ``Point`` writes them (a test compares the bytes), not through it.
        """
        plan, problem = record.plan, record.problem
        grid = plan.grid
        n_steps = grid.n_steps if self.plan_steps <= 0 else min(self.plan_steps, grid.n_steps)
        starts = [to_epoch(grid.step_start(k), self.precision) for k in range(n_steps)]
        hours = [d / 3600.0 for d in grid.step_durations_s]
        nodes = plan.nodes
        site = escape_tag(record.site_id)
        plan_id = escape_string(record.plan_id)

        def in_force(node_id: str) -> list[tuple[str, str]]:
            """Per step: the constraint field and the limit field (or ""), as line text."""
            chain = [nodes[n] for n in record.ancestors.get(node_id, (node_id,)) if n in nodes]
            texts = []
            for k in range(n_steps):
                text, limit_text = 'constraint="none"', ""
                for n in chain:
                    binding = n.binding[k]
                    if binding is not None:
                        text = f'constraint="{escape_string(f"{n.node_id}:{binding}")}"'
                        limit = n.max_import_w[k]
                        if binding == "import" and limit is not None:
                            limit_text = f",limit_w={format_float(float(limit))}"
                        break
                texts.append((text, limit_text))
            return texts

        def lines(
            kind: str, asset: str, node_id: str, power: Sequence[float], soc: Sequence[str] | None
        ) -> None:
            prefix = f"plan,asset={escape_tag(asset)},asset_kind={kind},site={site} "
            constraint = cache.get(node_id)
            if constraint is None:
                constraint = cache[node_id] = in_force(node_id)
            for k, w in enumerate(power[:n_steps]):
                w = float(w)
                if w - w != 0.0:  # not finite: Point leaves such a field out
                    continue
                binding, limit = constraint[k]
                text = (
                    f"{prefix}{binding},energy_wh={format_float(w * hours[k])}{limit},"
                    f'plan_id="{plan_id}",power_w={format_float(w)}'
                )
                if soc is not None and soc[k]:
                    text += f",soc_pct={soc[k]}"
                out.append(f"{text} {starts[k]}")

        cache: dict[str, list[tuple[str, str]]] = {}
        evse_nodes = {e.evse_id: e.node_id for e in problem.evses}
        units = {u.storage_id: u for u in problem.storage}
        for evse_id, ep in plan.evses.items():
            node_id = evse_nodes.get(evse_id)
            if node_id is not None:
                lines("evse", evse_id, node_id, ep.power_w, None)
        for storage_id, sp in plan.storage.items():
            unit = units.get(storage_id)
            if unit is not None:
                soc = [100.0 * wh / unit.capacity_wh for wh in sp.soc_wh]
                texts = [format_float(v) if v - v == 0.0 else "" for v in soc]
                lines("storage", storage_id, unit.node_id, sp.power_w, texts)
        prices = problem.tariff.import_price_per_kwh
        for node_id, np_ in nodes.items():
            # The limit tree's nodes: planned net import against the node's own import limit
            # in force; the root (``asset_kind=site``) also with the import price planned with.
            is_root = node_id == problem.root_id
            prefix = (
                f"plan,asset={escape_tag(node_id)},asset_kind={'site' if is_root else 'node'},"
                f"site={site} "
            )
            constraint = cache.get(node_id)
            if constraint is None:
                constraint = cache[node_id] = in_force(node_id)
            for k, w in enumerate(np_.power_w[:n_steps]):
                w = float(w)
                if w - w != 0.0:
                    continue
                text = f"{prefix}{constraint[k][0]},energy_wh={format_float(w * hours[k])}"
                price = prices[k] if is_root and k < len(prices) else None
                if price is not None and price - price == 0.0:
                    text += f",import_price_per_kwh={format_float(float(price))}"
                limit = np_.max_import_w[k]
                if limit is not None and limit - limit == 0.0:
                    text += f",limit_w={format_float(float(limit))}"
                out.append(f'{text},plan_id="{plan_id}",power_w={format_float(w)} {starts[k]}')

    def _grid_constraint_set(self, record: GridConstraintSet, out: list[str]) -> None:
        """A created constraint: per limit a point at its start (``value``, ``active=true``)
        and one at its end (``active=false``); a cancelled one: ``active=false`` from the
        cancellation on (at its start when cancelled before it began)."""
        stamps: tuple[tuple[datetime, bool], ...]
        if record.change == "created":
            stamps = ((record.start, True), (record.end, False))
        else:
            stamps = ((min(max(record.at, record.start), record.end), False),)
        for kind, value, unit in record.limits:
            for at, active in stamps:
                p = Point(Measurement.GRID_CONSTRAINT).time(to_epoch(at, self.precision), self._wp)
                p.tag(Tag.SITE, record.site_id).tag(Tag.NODE, record.node_id)
                p.tag(Tag.KIND, kind).tag(Tag.UNIT, unit)
                if active:
                    p.field(Field.VALUE, float(value)).field(Field.REASON, record.source)
                p.field(Field.ACTIVE, active).field(Field.CONSTRAINT_ID, record.constraint_id)
                self._emit(p, out)

    def _limit(
        self, limit: ChargingLimit, accepted: bool, at: datetime, now: int, out: list[str]
    ) -> None:
        base = limit.start_at or at
        for offset_s, value, phases in limit.schedule:
            p = self._point(
                Measurement.CHARGING_LIMIT, base + timedelta(seconds=offset_s), now, check=False
            )
            if p is not None:
                p.tag(Tag.STATION, limit.station_id).tag(Tag.EVSE, str(limit.evse_id))
                p.tag(Tag.PURPOSE, limit.purpose).tag(Tag.UNIT, str(limit.unit))
                p.field(Field.LIMIT, float(value)).field(Field.NUMBER_PHASES, phases)
                p.field(Field.ACCEPTED, accepted).field(Field.PROFILE_ID, limit.profile_id)
                p.field(Field.STACK_LEVEL, limit.stack_level)
                p.field(Field.TRANSACTION_ID, limit.transaction_id)
            self._emit(p, out)


def _opt_float(value: float | None) -> float | None:
    return None if value is None else float(value)
