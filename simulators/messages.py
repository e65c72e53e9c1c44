"""What a simulated station says, independent of the OCPP version.

The station model emits these; the 1.6 and 2.0.1 adapters turn them into OCPP calls.
Transaction-related ones (:data:`TX_MESSAGES`) go through the offline queue.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chargegrid.measurands import MEASURAND_UNITS
from chargegrid.measurands import Measurand as M
from simulators.composite import CompositeSchedule

__all__ = [
    "QUEUED_OFFLINE",
    "TX_MESSAGES",
    "AuthorizeRequest",
    "ChargingNeeds",
    "ChargingStateChanged",
    "ConnectorStatus",
    "DeviceRequest",
    "MeterSample",
    "Outgoing",
    "StatusChanged",
    "StopReason",
    "Transaction",
    "TransactionEnded",
    "TransactionStarted",
    "iso",
    "sampled_values",
    "schedule_periods",
]


class ConnectorStatus(enum.Enum):
    """OCPP 1.6 connector states; the 2.0.1 adapter folds them into its five."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    FAULTED = "Faulted"
    UNAVAILABLE = "Unavailable"


class StopReason(enum.Enum):
    EV_DISCONNECTED = "EVDisconnected"
    LOCAL = "Local"
    REMOTE = "Remote"
    REBOOT = "HardReset"
    SOFT_RESET = "SoftReset"
    DEAUTHORIZED = "DeAuthorized"
    UNLOCK = "UnlockCommand"
    FAULT = "Other"


@dataclass(slots=True, eq=False)
class Transaction:
    """A transaction as the station knows it; ``csms_id`` arrives later in 1.6."""

    local_id: str
    connector_id: int
    id_tag: str
    started_at: datetime
    meter_start_wh: float
    remote: bool = False
    csms_id: int | None = None
    remote_start_id: int | None = None
    seq_no: int = 0
    ended: bool = False
    failed: bool = False

    def next_seq(self) -> int:
        value = self.seq_no
        self.seq_no += 1
        return value


@dataclass(frozen=True, slots=True)
class StatusChanged:
    connector_id: int
    status: ConnectorStatus
    at: datetime
    error_code: str = "NoError"


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    connector_id: int
    id_tag: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TransactionStarted:
    tx: Transaction
    at: datetime
    seq_no: int


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One sample: energy register, power, per-phase current and voltage, SoC on DC."""

    connector_id: int
    tx: Transaction | None
    at: datetime
    energy_wh: float
    power_w: float
    current_a: tuple[float, ...]
    voltage_v: float
    soc_pct: float | None = None
    seq_no: int = 0
    context: str = "Sample.Periodic"
    dc: bool = False
    export_wh: float | None = None
    """The export register of a connector a V2G vehicle is on (None: no export to report)."""


@dataclass(frozen=True, slots=True)
class TransactionEnded:
    tx: Transaction
    at: datetime
    meter_stop_wh: float
    reason: StopReason
    seq_no: int
    last: MeterSample | None = None


@dataclass(frozen=True, slots=True)
class ChargingNeeds:
    """The vehicle's needs (2.0.1 NotifyEVChargingNeeds)."""

    connector_id: int
    at: datetime
    energy_amount_wh: float
    departure: datetime | None
    max_current_a: float
    min_current_a: float
    max_voltage_v: float
    dc: bool
    soc_pct: float
    extra: dict[str, float] = field(default_factory=dict)
    #: The battery (sent with DC parameters): usable capacity, where fast charging ends (the
    #: taper's start) and the state of charge the EV stops at.
    capacity_wh: float | None = None
    bulk_soc_pct: float | None = None
    full_soc_pct: float | None = None
    #: Phases the vehicle charges on (AC): 2.0.1's requestedEnergyTransfer.
    phases: int = 3
    #: A V2G vehicle's 2.1 needs (camelCase: ``v2xChargingParameters``, the energy transfer
    #: modes, control and mobility needs mode), sent by 2.1 stations only.
    v2x: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ChargingStateChanged:
    """A running transaction changed between Charging, SuspendedEV and SuspendedEVSE (2.0.1
    reports it as a TransactionEvent; 1.6 only through the StatusNotification)."""

    tx: Transaction
    state: ConnectorStatus
    at: datetime
    seq_no: int


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """A request a device model composes in its own OCPP version's terms (the 2.1 storage
    unit's MeterValues, NotifyEvent, StatusNotification): the action and its camelCase
    payload, which the version's adapter sends as it is. Kept while offline."""

    action: str
    payload: dict[str, Any]


Outgoing = (
    StatusChanged
    | AuthorizeRequest
    | TransactionStarted
    | MeterSample
    | ChargingStateChanged
    | TransactionEnded
    | ChargingNeeds
    | DeviceRequest
)

#: Messages that belong to a transaction and go through the offline queue.
TX_MESSAGES = (TransactionStarted, MeterSample, ChargingStateChanged, TransactionEnded)
#: Messages kept while offline and delivered in order after the reconnect: the transaction's,
#: the vehicle's charging needs (which the central system needs to plan that transaction) and
#: a device's own reports (a storage unit's readings and alarms).
QUEUED_OFFLINE = (*TX_MESSAGES, ChargingNeeds, DeviceRequest)


def iso(at: datetime) -> str:
    """An OCPP timestamp: UTC with milliseconds and a ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _value(value: float, measurand: str, **phase: str) -> dict[str, Any]:
    """A sampled value in the measurand's own unit (the vocabulary's)."""
    return {"value": value, "measurand": measurand, "unit": MEASURAND_UNITS[measurand], **phase}


def sampled_values(sample: MeterSample) -> list[dict[str, Any]]:
    """The sampled values of a meter sample in the snake_case form both versions share:
    energy register, power, then current and voltage per phase (AC) or once (DC), SoC on DC."""
    values = [_value(sample.energy_wh, M.ENERGY_ACTIVE_IMPORT_REGISTER)]
    values.append(_value(sample.power_w, M.POWER_ACTIVE_IMPORT))  # negative: V2G discharge
    if sample.export_wh is not None:
        values.append(_value(sample.export_wh, M.ENERGY_ACTIVE_EXPORT_REGISTER))
        values.append(_value(max(0.0, -sample.power_w), M.POWER_ACTIVE_EXPORT))
    if sample.dc:
        values.append(_value(sample.current_a[0], M.CURRENT_IMPORT))
        values.append(_value(sample.voltage_v, M.VOLTAGE))
    else:
        for i, amps in enumerate(sample.current_a, start=1):
            values.append(_value(amps, M.CURRENT_IMPORT, phase=f"L{i}"))
        for i in range(1, len(sample.current_a) + 1):
            values.append(_value(sample.voltage_v, M.VOLTAGE, phase=f"L{i}-N"))
    if sample.soc_pct is not None:
        values.append(_value(sample.soc_pct, M.SOC))
    for v in values:
        v["context"] = sample.context
    return values


def schedule_periods(schedule: CompositeSchedule) -> list[dict[str, Any]]:
    """A composite schedule's periods as GetCompositeSchedule answers carry them (both
    versions), limits rounded down to 0.1: the 1.6 schema wants multiples of 0.1."""
    return [
        {
            "start_period": p.start_period_s,
            "limit": math.floor(p.limit * 10) / 10,
            "number_phases": p.number_phases,
        }
        for p in schedule.periods
    ]
