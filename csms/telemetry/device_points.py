"""The OCPP 2.1 device families of telemetry points: battery swaps and DER control events.

Encoders chosen by :class:`~csms.telemetry.points.PointEncoder`'s type table, fed by the bus
like the others (decision 0921): a swap session's state changes (``BatterySwapUpdated``) and
each swap the planning wing counted at a site's rack, with or without a ready pack
(``SwapFromReadyPack``, ``SwapWithoutReadyPack``), as ``swap`` points; DER controls set,
cleared, reported, started and stopped, and DER alarms as ``der`` points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import groupby
from typing import Any

from csms.events import (
    BatterySwapUpdated,
    DerAlarmRaised,
    DerControlsCleared,
    DerControlSet,
    DerControlsReported,
    DerStartStopped,
    SwapFromReadyPack,
    SwapReadiness,
)
from csms.swaps.model import PackReading, SwapState
from csms.telemetry.lineprotocol import Encoded
from csms.telemetry.schema import Field, Measurement, Tag
from csms.telemetry.site_points import PointWriter, opt_float

__all__ = ["DEVICE_FAMILIES", "SWAP_EVENTS"]

#: A swap session's state -> the ``event`` tag of its point.
SWAP_EVENTS = {
    SwapState.REQUESTED: "requested",
    SwapState.OPEN: "in",
    SwapState.COMPLETED: "out",
    SwapState.TIMED_OUT: "timed_out",
}


def _ids(names: Iterable[str]) -> str | None:
    """Ids as one string field (``A,B``); None (left out) when there are none."""
    return ",".join(names) or None


def _mean_soc(packs: tuple[PackReading, ...]) -> float | None:
    return sum(p.soc_pct for p in packs) / len(packs) if packs else None


def _swap(enc: PointWriter, record: BatterySwapUpdated, now: int, into: Encoded) -> None:
    """A swap session's state change, at the moment it happened: asked for (``requested``),
    the driver's packs in (``in``), charged packs out (``out``) or not taken (``timed_out``),
    with what is known of the session by then."""
    swap = record.swap
    if swap.state is SwapState.REQUESTED:
        at = swap.created_at
    elif swap.state is SwapState.OPEN:
        at = swap.started_at or record.at
    else:
        at = swap.ended_at or record.at
    duration_s = None
    if swap.state in (SwapState.COMPLETED, SwapState.TIMED_OUT) and swap.started_at is not None:
        duration_s = max(0.0, ((swap.ended_at or record.at) - swap.started_at).total_seconds())
    tags = (
        (Tag.SITE, enc.site_of(swap.station_id)),
        (Tag.STATION, swap.station_id),
        (Tag.EVENT, SWAP_EVENTS[swap.state]),
    )
    fields = (
        (Field.SWAP_ID, swap.id),
        (Field.REQUEST_ID, swap.request_id),
        (Field.PACKS_IN, _ids(p.serial_number for p in swap.packs_in)),
        (Field.PACKS_OUT, _ids(p.serial_number for p in swap.packs_out)),
        (Field.SOC_IN_PCT, opt_float(_mean_soc(swap.packs_in))),
        (Field.SOC_OUT_PCT, opt_float(_mean_soc(swap.packs_out))),
        (Field.ENERGY_IN_WH, opt_float(swap.energy_in_wh)),
        (Field.ENERGY_OUT_WH, opt_float(swap.energy_out_wh)),
        (Field.DURATION_S, duration_s),
        (Field.AUTH_STATUS, swap.auth_status),
    )
    enc.point(into, Measurement.SWAP, at, now, tags, fields)


def _rack_swap(enc: PointWriter, record: SwapReadiness, now: int, into: Encoded) -> None:
    """A swap at a site's rack: whether it found a pack at the readiness threshold
    (``ready_pack``, and the event ``ready_pack`` / ``no_ready_pack``), the pack it got."""
    ready = isinstance(record, SwapFromReadyPack)
    tags = (
        (Tag.SITE, record.site_id),
        (Tag.STATION, record.station_id),
        (Tag.EVENT, "ready_pack" if ready else "no_ready_pack"),
    )
    fields = (
        (Field.READY_PACK, ready),
        (Field.SOC_OUT_PCT, opt_float(record.pack_out_soc_pct)),
        (Field.READY_SOC_PCT, float(record.ready_soc_pct)),
        (Field.RACK, record.swap_id),
    )
    enc.point(into, Measurement.SWAP, record.at, now, tags, fields)


def _der(
    enc: PointWriter,
    into: Encoded,
    now: int,
    where: tuple[str, datetime],
    event: str,
    control_type: str | None,
    fields: Iterable[tuple[str, Any]],
) -> None:
    """One ``der`` point of station ``where[0]`` at ``where[1]``."""
    station_id, at = where
    tags = ((Tag.STATION, station_id), (Tag.EVENT, event), (Tag.CONTROL_TYPE, control_type))
    enc.point(into, Measurement.DER, at, now, tags, fields)


def _der_set(enc: PointWriter, record: DerControlSet, now: int, into: Encoded) -> None:
    """A control the station accepted: in force from now."""
    c = record.control
    fields = (
        (Field.VALUE, 1),
        (Field.CONTROL_ID, c.control_id),
        (Field.IN_FORCE, True),
        (Field.IS_DEFAULT, c.is_default),
        (Field.PRIORITY, c.priority),
        (Field.SUPERSEDED, _ids(record.superseded_ids)),
    )
    _der(enc, into, now, (record.station_id, record.at), "set", str(c.control_type), fields)


def _der_cleared(enc: PointWriter, record: DerControlsCleared, now: int, into: Encoded) -> None:
    """Controls cleared at once: one point, their ids, out of force."""
    fields = (
        (Field.VALUE, len(record.control_ids)),
        (Field.CONTROL_ID, _ids(record.control_ids)),
        (Field.IN_FORCE, False),
    )
    _der(enc, into, now, (record.station_id, record.at), "cleared", None, fields)


def _der_reported(enc: PointWriter, record: DerControlsReported, now: int, into: Encoded) -> None:
    """A report's controls, one point per control type: how many, their ids, and whether
    any of them is in force (not superseded)."""
    by_type = sorted(record.controls, key=lambda c: str(c.control_type))
    for kind, group in groupby(by_type, key=lambda c: str(c.control_type)):
        controls = list(group)
        fields = (
            (Field.VALUE, len(controls)),
            (Field.CONTROL_ID, _ids(c.control_id for c in controls)),
            (Field.IN_FORCE, any(not c.superseded for c in controls)),
        )
        _der(enc, into, now, (record.station_id, record.at), "reported", kind, fields)


def _der_start_stop(enc: PointWriter, record: DerStartStopped, now: int, into: Encoded) -> None:
    """The station started (or stopped) applying a control."""
    change = record.change
    fields = (
        (Field.VALUE, 1),
        (Field.CONTROL_ID, change.control_id),
        (Field.IN_FORCE, change.started),
        (Field.SUPERSEDED, _ids(change.superseded_ids)),
    )
    event = "started" if change.started else "stopped"
    _der(enc, into, now, (record.station_id, change.at), event, None, fields)


def _der_alarm(enc: PointWriter, record: DerAlarmRaised, now: int, into: Encoded) -> None:
    """A grid event a DER function reacted to (``alarm``), or its end (``alarm_ended``)."""
    alarm = record.alarm
    fields = (
        (Field.VALUE, 1),
        (Field.GRID_EVENT_FAULT, alarm.grid_event_fault),
        (Field.EXTRA_INFO, alarm.extra_info),
    )
    event = "alarm_ended" if alarm.alarm_ended else "alarm"
    _der(enc, into, now, (record.station_id, alarm.at), event, str(alarm.control_type), fields)


#: The device families' encoders by record type.
DEVICE_FAMILIES: dict[type, Callable[[Any, Any, int, Encoded], None]] = {
    BatterySwapUpdated: _swap,
    SwapReadiness: _rack_swap,  # from a ready pack or without one
    DerControlSet: _der_set,
    DerControlsCleared: _der_cleared,
    DerControlsReported: _der_reported,
    DerStartStopped: _der_start_stop,
    DerAlarmRaised: _der_alarm,
}
