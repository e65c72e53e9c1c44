"""Turning domain events and telemetry records into line protocol (sans-I/O).

:class:`PointEncoder` runs on the pipeline's ingest thread, never on the OCPP path. Each
family of records has its encoder, chosen by the record's type (:data:`_FAMILIES`): meter
samples go through the fast :meth:`PointEncoder._meter`, status reports and heartbeats are
written as ``Point`` would write them without it, plans by :mod:`csms.telemetry.plan_points`,
everything else with influxdb-client's ``Point`` (the site families in
:mod:`csms.telemetry.site_points`, battery swaps and DER events in
:mod:`csms.telemetry.device_points`). Bad samples are rejected here with a
:class:`Reject` reason.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from chargegrid.measurands import DEFAULT_MEASURAND, canonical_measurand
from csms.domain import MeterSample
from csms.events import (
    ChargingLimitSent,
    HeartbeatReceived,
    MeterValuesReceived,
    MeterValueUnreadable,
    StationBooted,
    StationConnected,
    StationDisconnected,
    StatusChanged,
    TransactionChanged,
    TransactionEnded,
    TransactionStarted,
)
from csms.telemetry.device_points import DEVICE_FAMILIES
from csms.telemetry.lineprotocol import (
    PRECISION_NS,
    Encoded,
    FieldPoint,
    MeterPoint,
    Precision,
    escape_string,
    escape_tag,
    meter_series,
    to_epoch,
)
from csms.telemetry.normalize import Reject, check_time, to_number, unit_conversion
from csms.telemetry.records import Record
from csms.telemetry.schema import Field, Measurement, Tag
from csms.telemetry.site_points import SITE_FAMILIES, Pairs, opt_float

__all__ = ["PointEncoder"]

logger = logging.getLogger(__name__)

_WRITE_PRECISION = {
    "ns": WritePrecision.NS,
    "us": WritePrecision.US,
    "ms": WritePrecision.MS,
    "s": WritePrecision.S,
}
_BEAT: tuple[tuple[str, str | int], ...] = (("value", 1),)


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
        site_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self.precision: Precision = precision
        #: steps of each plan written per EVSE and storage unit (0: all of them)
        self.plan_steps = plan_steps
        #: a station's site, for the points of records that do not carry it (swap sessions)
        self.site_of: Callable[[str], str | None] = site_of or (lambda _station_id: None)
        self._per_s = 1_000_000_000 // PRECISION_NS[precision]
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
        self._families: dict[type, _Encode] = {}

    def encode_many(
        self,
        records: Sequence[Record],
        out: list[str],
        meter_out: list[MeterPoint] | None = None,
        field_out: list[FieldPoint] | None = None,
    ) -> None:
        """Append the lines of every record to ``out`` (see :class:`Encoded` for
        ``meter_out`` and ``field_out``)."""
        self.encode(records, Encoded(out, meter_out, field_out))

    def encode(self, records: Sequence[Record], into: Encoded) -> None:
        """Encode every record into ``into``, each by its family's encoder."""
        now = int(self._now_s() * self._per_s)
        families = self._families
        for record in records:
            try:
                encode = families.get(type(record)) or self._family(type(record))
                encode(self, record, now, into)
            except Exception:  # one malformed record must not cost the others
                self.encode_errors += 1
                logger.exception("could not encode %s: %r", type(record).__name__, record)
                self.on_reject(Reject.ENCODE_ERROR, type(record).__name__)

    def _family(self, kind: type) -> _Encode:
        """The encoder of ``kind`` (of its nearest base class in the table), cached."""
        encode = next((_FAMILIES[k] for k in kind.__mro__ if k in _FAMILIES), _nothing)
        self._families[kind] = encode
        return encode

    def _time_ok(self, t: int, now: int, what: str) -> bool:
        reason = check_time(t, now, max_future_ns=self._max_future, max_past_ns=self._max_past)
        if reason is None:
            return True
        self.on_reject(reason, what)
        return False

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
        """One ``Point`` at ``at`` with ``tags`` and ``fields`` (None values left out);
        ``check=False`` for plans and limits, which are about the future."""
        t = to_epoch(at, self.precision)
        if check and not self._time_ok(t, now, f"{measurement} at {at}"):
            return
        p = Point(measurement).time(t, self._wp)
        for key, value in tags:
            p.tag(key, value)
        for key, value in fields:
            p.field(key, value)
        line = p.to_line_protocol()
        if line:
            into.lines.append(line)

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

    def _meter(self, event: MeterValuesReceived, now: int, into: Encoded) -> None:
        """The hot path: series prefixes and unit conversions are cached per series."""
        cache = self._series
        precision = self.precision
        out, meter_out = into.lines, into.meter
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

    def station_tag(self, station_id: str) -> str:
        """``station_id`` escaped as a tag value (cached)."""
        tag = self._station_tags.get(station_id)
        if tag is None:
            if len(self._station_tags) >= self.max_cached_series:
                self._station_tags.clear()
            tag = self._station_tags[station_id] = escape_tag(station_id)
        return tag


_Encode = Callable[[PointEncoder, Any, int, Encoded], None]


def _nothing(enc: PointEncoder, record: object, now: int, into: Encoded) -> None:
    """Events that carry nothing telemetry stores (EV charging needs, ...)."""


# -- status reports and heartbeats: what ``Point`` makes of them, without it --------------


def _heartbeat(enc: PointEncoder, record: HeartbeatReceived, now: int, into: Encoded) -> None:
    """One per station and heartbeat interval."""
    t = to_epoch(record.at, enc.precision)
    if enc._time_ok(t, now, f"{Measurement.CONNECTION} at {record.at}"):
        station = enc.station_tag(record.station_id)
        into.field_point((f"connection,event=heartbeat,station={station} ", t, _BEAT))


def _status(enc: PointEncoder, record: StatusChanged, now: int, into: Encoded) -> None:
    """Tags and fields in key order, fields that are None left out."""
    r = record.report
    t = to_epoch(r.timestamp, enc.precision)
    if not enc._time_ok(t, now, f"{Measurement.STATUS} at {r.timestamp}"):
        return
    fields: list[tuple[str, str | int]] = []
    if r.error_code is not None:
        fields.append(("error_code", r.error_code))
    if r.info is not None:
        fields.append(("info", r.info))
    fields.append(("status", str(r.status)))
    if r.vendor_error_code is not None:
        fields.append(("vendor_error_code", r.vendor_error_code))
    station = enc.station_tag(r.station_id)
    prefix = f"status,connector={r.connector_id},evse={r.evse_id},station={station} "
    into.field_point((prefix, t, tuple(fields)))


# -- stations and sessions ------------------------------------------------------------------


def _transaction(
    enc: PointEncoder,
    record: TransactionChanged,
    now: int,
    into: Encoded,
) -> None:
    tx = record.transaction
    ended = isinstance(record, TransactionEnded)
    if isinstance(record, TransactionStarted):
        event, at, meter = "started", tx.started_at, tx.meter_start_wh
    elif ended:
        event, at, meter = "ended", tx.stopped_at or tx.started_at, tx.meter_stop_wh
    else:
        # the domain Transaction has no update time: stamp it when telemetry sees it
        event, at, meter = "updated", datetime.fromtimestamp(enc._now_s(), UTC), None
    fields: list[tuple[str, Any]] = [
        (Field.TRANSACTION_ID, tx.id),
        (Field.STATION_TX_ID, tx.station_tx_id),
        (Field.METER_WH, opt_float(meter)),
        (Field.CHARGING_STATE, tx.charging_state),
    ]
    if ended:
        fields += [(Field.ENERGY_WH, opt_float(tx.energy_wh)), (Field.STOP_REASON, tx.stop_reason)]
    tags = ((Tag.STATION, tx.station_id), (Tag.EVSE, str(tx.evse_id)), (Tag.EVENT, event))
    enc.point(into, Measurement.TRANSACTION, at, now, tags, fields)


def _connection(
    enc: PointEncoder,
    station_id: str,
    event: str,
    at: datetime,
    now: int,
    into: Encoded,
    fields: tuple[tuple[str, str | int | None], ...],
) -> None:
    """A connection point as a :data:`FieldPoint` (no ``Point`` built and its line parsed
    again by the embedded store): ``fields`` in key order, ``value=1`` among them; those
    that are None are left out, as ``Point`` leaves them out."""
    t = to_epoch(at, enc.precision)
    if not enc._time_ok(t, now, f"{Measurement.CONNECTION} at {at}"):
        return
    prefix = f"{Measurement.CONNECTION},event={event},station={enc.station_tag(station_id)} "
    into.field_point((prefix, t, tuple((k, v) for k, v in fields if v is not None)))


def _connected(enc: PointEncoder, r: StationConnected, now: int, into: Encoded) -> None:
    fields = ((Field.OCPP_VERSION, r.ocpp_version), (Field.VALUE, 1))
    _connection(enc, r.station_id, "connected", r.at, now, into, fields)


def _disconnected(enc: PointEncoder, r: StationDisconnected, now: int, into: Encoded) -> None:
    fields = ((Field.REASON, r.reason or None), (Field.VALUE, 1))
    _connection(enc, r.station_id, "disconnected", r.at, now, into, fields)


def _booted(enc: PointEncoder, r: StationBooted, now: int, into: Encoded) -> None:
    info = r.info
    fields = (
        (Field.FIRMWARE, info.firmware_version),
        (Field.MODEL, info.model),
        (Field.OCPP_VERSION, info.ocpp_version),
        (Field.REGISTRATION, str(r.status)),
        (Field.VALUE, 1),
        (Field.VENDOR, info.vendor),
    )
    _connection(enc, r.station_id, "booted", r.at, now, into, fields)


def _unreadable(enc: PointEncoder, r: MeterValueUnreadable, now: int, into: Encoded) -> None:
    enc.on_reject(
        Reject.NOT_A_NUMBER, f"{r.station_id}: {r.measurand or DEFAULT_MEASURAND}={r.value!r}"
    )


def _charging_limit(enc: PointEncoder, record: ChargingLimitSent, now: int, into: Encoded) -> None:
    """One point per schedule period."""
    limit = record.limit
    base = limit.start_at or record.at
    tags = (
        (Tag.STATION, limit.station_id),
        (Tag.EVSE, str(limit.evse_id)),
        (Tag.PURPOSE, limit.purpose),
        (Tag.UNIT, str(limit.unit)),
    )
    for offset_s, value, phases in limit.schedule:
        fields = (
            (Field.LIMIT, float(value)),
            (Field.NUMBER_PHASES, phases),
            (Field.ACCEPTED, record.accepted),
            (Field.PROFILE_ID, limit.profile_id),
            (Field.STACK_LEVEL, limit.stack_level),
            (Field.TRANSACTION_ID, limit.transaction_id),
        )
        at = base + timedelta(seconds=offset_s)
        enc.point(into, Measurement.CHARGING_LIMIT, at, now, tags, fields, check=False)


#: Each record type's encoder; a type not here (or below one here) stores nothing.
_FAMILIES: dict[type, _Encode] = {
    MeterValuesReceived: PointEncoder._meter,
    HeartbeatReceived: _heartbeat,
    StatusChanged: _status,
    TransactionChanged: _transaction,  # started, updated, ended
    StationConnected: _connected,
    StationDisconnected: _disconnected,
    StationBooted: _booted,
    MeterValueUnreadable: _unreadable,
    ChargingLimitSent: _charging_limit,
    **SITE_FAMILIES,
    **DEVICE_FAMILIES,
}
