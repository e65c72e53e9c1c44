"""Domain events: what the core tells the rest of the system.

The core publishes these on an :class:`EventBus`; telemetry, the planner trigger, the API's
event stream and webhooks subscribe. Publishing never blocks and never fails: a listener
must hand slow work to its own task or queue, and a listener that raises is logged and
skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from csms.der.model import DerAlarm, DerControl, DerStartStop
from csms.domain import (
    BootInfo,
    ChargingLimit,
    DeviceEvent,
    EVChargingNeeds,
    GridMeterReading,
    MeterSample,
    PvReading,
    RegistrationStatus,
    StatusReport,
    StorageReading,
    SwapRackReading,
    Transaction,
)
from csms.swaps.model import BatterySwap

if TYPE_CHECKING:
    from optimizer import Plan, Problem

__all__ = [
    "BatterySwapUpdated",
    "ChargingLimitSent",
    "ConstraintsChanged",
    "DepartureMissed",
    "DerAlarmRaised",
    "DerControlSet",
    "DerControlsCleared",
    "DerControlsReported",
    "DerStartStopped",
    "DeviceEventsNotified",
    "DomainEvent",
    "EVChargingNeedsReceived",
    "EventBus",
    "GridConstraintSet",
    "HeartbeatReceived",
    "Listener",
    "MeterValueUnreadable",
    "MeterValuesReceived",
    "PlanComputed",
    "PlanUpdated",
    "SecurityEventReceived",
    "SiteChanged",
    "SiteReadingsReceived",
    "StationBooted",
    "StationConnected",
    "StationDisconnected",
    "StationNonCompliant",
    "StatusChanged",
    "StorageDispatched",
    "SwapFromReadyPack",
    "SwapReadiness",
    "SwapWithoutReadyPack",
    "TransactionChanged",
    "TransactionEnded",
    "TransactionStarted",
    "TransactionUpdated",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StationConnected:
    station_id: str
    ocpp_version: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StationDisconnected:
    station_id: str
    at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StationBooted:
    station_id: str
    info: BootInfo
    status: RegistrationStatus
    at: datetime


@dataclass(frozen=True, slots=True)
class HeartbeatReceived:
    station_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StatusChanged:
    report: StatusReport


@dataclass(frozen=True, slots=True)
class TransactionChanged:
    """What the three transaction events share: the transaction as stored after the
    change. Never published itself; a listener that treats the three alike (planning,
    telemetry) tests for it. Two events of different kinds are never equal."""

    transaction: Transaction


@dataclass(frozen=True, slots=True)
class TransactionStarted(TransactionChanged):
    pass


@dataclass(frozen=True, slots=True)
class TransactionUpdated(TransactionChanged):
    pass


@dataclass(frozen=True, slots=True)
class TransactionEnded(TransactionChanged):
    pass


@dataclass(frozen=True, slots=True)
class MeterValuesReceived:
    station_id: str
    evse_id: int
    connector_id: int
    transaction_id: int | None
    samples: tuple[MeterSample, ...]


@dataclass(frozen=True, slots=True)
class MeterValueUnreadable:
    """A sampled value that is not a finite number (signed data, text, NaN): neither stored
    nor in telemetry, which counts it (``not_a_number``). The station's answer is as usual."""

    station_id: str
    measurand: str | None
    value: str
    at: datetime


@dataclass(frozen=True, slots=True)
class EVChargingNeedsReceived:
    station_id: str
    evse_id: int
    transaction_id: int | None
    needs: EVChargingNeeds


@dataclass(frozen=True, slots=True)
class ChargingLimitSent:
    limit: ChargingLimit
    accepted: bool
    at: datetime


# -- sites and planning (csms.sites, csms.planning) ----------------------------------------


@dataclass(frozen=True, slots=True)
class SiteChanged:
    site_id: str
    revision: int  # 0 = deleted
    at: datetime


@dataclass(frozen=True, slots=True)
class SiteReadingsReceived:
    """PV and storage readings of a site, as its energy management reported them."""

    site_id: str
    pv: tuple[PvReading, ...]
    storage: tuple[StorageReading, ...]
    at: datetime
    swap: tuple[SwapRackReading, ...] = ()
    #: the grid meter's reading, for a site whose ``[meter]`` reports through the API
    meter: GridMeterReading | None = None


@dataclass(frozen=True, slots=True)
class ConstraintsChanged:
    site_id: str
    constraint_id: str
    change: str  # "created" or "cancelled"
    at: datetime


@dataclass(frozen=True, slots=True)
class PlanUpdated:
    site_id: str
    at: datetime
    status: str  # "optimal", "fallback" or "default"
    limits_w: tuple[tuple[str, int, float], ...]  # (station_id, evse_id, limit W) dispatched


@dataclass(frozen=True, slots=True)
class PlanComputed:
    """A site's new optimizer plan, whole (for telemetry's ``plan`` measurement): the plan,
    the problem it solved (each EVSE's and storage unit's node, storage capacities) and every
    node's chain of ancestors up to the root, where the constraint in force is looked up."""

    site_id: str
    plan_id: str
    at: datetime
    plan: Plan
    problem: Problem
    ancestors: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class GridConstraintSet:
    """A grid operator's constraint as set (``change="created"``) or cancelled, with the
    limits it sets: ``(kind, value, unit)`` such as ``("import_max", 50000.0, "W")``."""

    site_id: str
    node_id: str
    constraint_id: str
    source: str
    change: str  # "created" or "cancelled"
    limits: tuple[tuple[str, float, str], ...]
    start: datetime
    end: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class StationNonCompliant:
    station_id: str
    evse_id: int
    limit_w: float
    measured_w: float
    at: datetime


@dataclass(frozen=True, slots=True)
class SecurityEventReceived:
    """A station's SecurityEventNotification; ``critical`` as the OCPP security part (and
    ``security.critical_events``) rank its type."""

    station_id: str
    type: str
    tech_info: str | None
    critical: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class DepartureMissed:
    site_id: str
    station_id: str
    evse_id: int
    transaction_id: int | None
    missing_wh: float
    at: datetime


@dataclass(frozen=True, slots=True)
class SwapReadiness:
    """What the two events below share: a swap at a swap station, the state of charge of
    the pack it handed out (``pack_out_soc_pct``) and the rack's readiness threshold. Never
    published itself; telemetry tests for it."""

    site_id: str
    swap_id: str
    station_id: str
    pack_out_soc_pct: float | None
    ready_soc_pct: float
    at: datetime


@dataclass(frozen=True, slots=True)
class SwapFromReadyPack(SwapReadiness):
    """A swap at a swap station handed out a pack at or above its readiness threshold:
    the counterpart of :class:`SwapWithoutReadyPack`."""

    pack_out_soc_pct: float  # always a pack


@dataclass(frozen=True, slots=True)
class SwapWithoutReadyPack(SwapReadiness):
    """A swap at a swap station found no pack at its readiness threshold: it handed out
    one below it (``pack_out_soc_pct``) or none (None)."""


@dataclass(frozen=True, slots=True)
class DeviceEventsNotified:
    """A station's NotifyEvent (after it was recorded): its events as domain values."""

    station_id: str
    events: tuple[DeviceEvent, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class StorageDispatched:
    """One storage-control step of a site (decision 0905): each unit's setpoint (W, charging
    positive) and why, the units not counted on and why, what the EV limits must take off
    (``ev_reduction_w``), the export the units could not absorb, the corrections made."""

    site_id: str
    at: datetime
    setpoints: tuple[tuple[str, float, tuple[str, ...]], ...]
    excluded: tuple[tuple[str, str], ...]
    ev_reduction_w: float
    export_excess_w: float
    corrections: tuple[tuple[str, float, float], ...] = ()
    #: each unit's reading the step used: (unit, SoC %, power W), None where unknown
    readings: tuple[tuple[str, float | None, float | None], ...] = ()
    #: the site import the step used (W) and where from: ``meter``, or ``estimate`` (the sum
    #: of what the central system knows; a site without a meter, or its meter stale)
    site_import_w: float | None = None
    import_source: str = "estimate"


# -- DER control and battery swaps (OCPP 2.1: csms.der, csms.swaps) ------------------------


@dataclass(frozen=True, slots=True)
class DerControlSet:
    """A station accepted a DER control (SetDERControl); ``superseded_ids`` are the
    controls it replaced."""

    station_id: str
    control: DerControl
    superseded_ids: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class DerControlsCleared:
    station_id: str
    control_ids: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class DerControlsReported:
    """A station's ReportDERControl (one message of a report: ``tbc`` more follow)."""

    station_id: str
    request_id: int
    controls: tuple[DerControl, ...]
    tbc: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class DerAlarmRaised:
    station_id: str
    alarm: DerAlarm


@dataclass(frozen=True, slots=True)
class DerStartStopped:
    station_id: str
    change: DerStartStop


@dataclass(frozen=True, slots=True)
class BatterySwapUpdated:
    """A swap session as stored after a BatterySwap event or an accepted
    RequestBatterySwap."""

    station_id: str
    swap: BatterySwap
    at: datetime


DomainEvent = (
    StationConnected
    | StationDisconnected
    | StationBooted
    | HeartbeatReceived
    | StatusChanged
    | TransactionStarted
    | TransactionUpdated
    | TransactionEnded
    | MeterValuesReceived
    | MeterValueUnreadable
    | EVChargingNeedsReceived
    | ChargingLimitSent
    | SiteChanged
    | SiteReadingsReceived
    | ConstraintsChanged
    | PlanUpdated
    | PlanComputed
    | GridConstraintSet
    | StationNonCompliant
    | DepartureMissed
    | SwapWithoutReadyPack
    | SwapFromReadyPack
    | SecurityEventReceived
    | StorageDispatched
    | DeviceEventsNotified
    | DerControlSet
    | DerControlsCleared
    | DerControlsReported
    | DerAlarmRaised
    | DerStartStopped
    | BatterySwapUpdated
)

Listener = Callable[[DomainEvent], None]


class EventBus:
    """In-process, synchronous fan-out of domain events."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns a function that removes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: DomainEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("event listener %r failed on %s", listener, type(event).__name__)
