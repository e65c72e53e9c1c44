"""The version-neutral domain model every OCPP adapter maps into.

Core services speak only these types. Units are W, Wh, A, V, %, seconds; datetimes are aware
UTC. OCPP 1.6 ``connectorId`` N maps to ``evse_id=N, connector_id=1``; connector 0 (the whole
station) maps to ``evse_id=0, connector_id=0``. OCPP 2.0.1 EVSE and connector ids map as they
are.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "BIDIRECTIONAL_MODES",
    "OPERATION_MODES",
    "AuthorizationResult",
    "AuthorizationStatus",
    "BootInfo",
    "ChargingLimit",
    "ChargingRateUnit",
    "ConnectorStatus",
    "DeviceEvent",
    "EVChargingNeeds",
    "GridMeterReading",
    "IdToken",
    "MeterSample",
    "PvReading",
    "RackSwap",
    "RegistrationStatus",
    "StatusReport",
    "StorageReading",
    "SwapRackReading",
    "Transaction",
    "TransactionEventKind",
    "TransactionUpdate",
    "V2XParameters",
    "V2XPeriod",
]

#: Energy transfer modes in which power flows both ways (ISO 15118-20 bidirectional).
BIDIRECTIONAL_MODES = frozenset({"AC_BPT", "AC_BPT_DER", "DC_BPT", "DC_ACDP_BPT"})
#: OCPP 2.1 operation modes of a charging schedule period.
OPERATION_MODES = (
    "Idle", "ChargingOnly", "CentralSetpoint", "ExternalSetpoint", "ExternalLimits",
    "CentralFrequency", "LocalFrequency", "LocalLoadBalancing",
)  # fmt: skip


class RegistrationStatus(enum.StrEnum):
    """The answer to a BootNotification."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class ConnectorStatus(enum.StrEnum):
    """Union of the 1.6 ChargePointStatus and the 2.0.1 ConnectorStatus values."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EVSE = "SuspendedEVSE"
    SUSPENDED_EV = "SuspendedEV"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"
    OCCUPIED = "Occupied"


class AuthorizationStatus(enum.StrEnum):
    """Union of the 1.6 AuthorizationStatus and the 2.0.1 AuthorizationStatusEnumType."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"
    UNKNOWN = "Unknown"
    NO_CREDIT = "NoCredit"
    NOT_ALLOWED_TYPE_EVSE = "NotAllowedTypeEVSE"
    NOT_AT_THIS_LOCATION = "NotAtThisLocation"
    NOT_AT_THIS_TIME = "NotAtThisTime"


class ChargingRateUnit(enum.StrEnum):
    AMPERE = "A"
    WATT = "W"


class TransactionEventKind(enum.StrEnum):
    STARTED = "Started"
    UPDATED = "Updated"
    ENDED = "Ended"


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What a station says about itself at boot."""

    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    reason: str | None = None
    ocpp_version: str = "1.6"


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A connector (or, with ``evse_id == 0``, the whole station) changed status."""

    station_id: str
    evse_id: int
    connector_id: int
    status: ConnectorStatus
    timestamp: datetime
    error_code: str | None = None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None


@dataclass(frozen=True, slots=True)
class IdToken:
    """A driver's credential: an RFID card, an app token, a contract id."""

    token: str
    kind: str = "ISO14443"
    status: AuthorizationStatus = AuthorizationStatus.ACCEPTED
    expires_at: datetime | None = None
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    status: AuthorizationStatus
    expires_at: datetime | None = None
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One sampled value, normalized to W, Wh, A, V, %, var, varh, Hz, Celsius.

    ``unit`` is the normalized unit; ``raw_unit`` and ``raw_value`` keep what the station sent.
    """

    timestamp: datetime
    measurand: str
    value: float
    unit: str
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    raw_value: str | None = None
    raw_unit: str | None = None


@dataclass(frozen=True, slots=True)
class V2XParameters:
    """What a bidirectional EV offers (2.1 ``v2xChargingParameters``, ISO 15118-20).

    Powers in W (the sum of the phases, or L1 where the ``_l2``/``_l3`` values are given),
    currents in A, voltages in V. The energy requests are signed Wh from the EV's state now:
    to its minimum, target and maximum state of charge, and to the bounds it may be cycled
    within for V2X (negative: it is above that level and may give that much)."""

    min_charge_power_w: float | None = None
    min_charge_power_l2_w: float | None = None
    min_charge_power_l3_w: float | None = None
    max_charge_power_w: float | None = None
    max_charge_power_l2_w: float | None = None
    max_charge_power_l3_w: float | None = None
    min_discharge_power_w: float | None = None
    min_discharge_power_l2_w: float | None = None
    min_discharge_power_l3_w: float | None = None
    max_discharge_power_w: float | None = None
    max_discharge_power_l2_w: float | None = None
    max_discharge_power_l3_w: float | None = None
    min_charge_current_a: float | None = None
    max_charge_current_a: float | None = None
    min_discharge_current_a: float | None = None
    max_discharge_current_a: float | None = None
    min_voltage_v: float | None = None
    max_voltage_v: float | None = None
    target_energy_wh: float | None = None
    min_energy_wh: float | None = None
    max_energy_wh: float | None = None
    min_v2x_energy_wh: float | None = None
    max_v2x_energy_wh: float | None = None
    target_soc_pct: float | None = None

    @property
    def may_give_wh(self) -> float:
        """How much the EV may give before it reaches its V2X floor (0 when it does not say)."""
        return max(0.0, -self.min_v2x_energy_wh) if self.min_v2x_energy_wh is not None else 0.0

    @property
    def discharge_w(self) -> float:
        """The most it may give back (W, all phases), 0 when it does not say."""
        total = self.max_discharge_power_w or 0.0
        if self.max_discharge_power_l2_w is not None or self.max_discharge_power_l3_w is not None:
            total += (self.max_discharge_power_l2_w or 0.0) + (self.max_discharge_power_l3_w or 0.0)
        return total


@dataclass(frozen=True, slots=True)
class EVChargingNeeds:
    """What the EV asked for (2.0.1 NotifyEVChargingNeeds), kept on the session for the planner.

    2.1 adds the bidirectional part: ``v2x`` (the EV's V2X parameters), the transfer modes it
    says it can do (``available_energy_transfer``) and its control mode."""

    energy_requested_wh: float | None = None
    departure_at: datetime | None = None
    max_current_a: float | None = None
    min_current_a: float | None = None
    max_power_w: float | None = None
    energy_transfer_mode: str | None = None
    #: The battery, where the EV tells it (2.0.1 DC parameters): state of charge when the
    #: needs were sent, usable capacity, and where fast charging ends (the taper's start).
    soc_pct: float | None = None
    capacity_wh: float | None = None
    bulk_soc_pct: float | None = None
    full_soc_pct: float | None = None
    v2x: V2XParameters | None = None
    available_energy_transfer: tuple[str, ...] = ()
    control_mode: str | None = None

    @property
    def discharge_allowed(self) -> bool:
        """The EV asked for a bidirectional transfer and may give something back."""
        return (
            self.energy_transfer_mode in BIDIRECTIONAL_MODES
            and self.v2x is not None
            and self.v2x.discharge_w > 0
            and self.v2x.may_give_wh > 0
        )


@dataclass(slots=True)
class Transaction:
    """A charging session as the core knows it.

    ``id`` is the CSMS-wide key (the integer sent to 1.6 stations); ``station_tx_id`` is the
    id the station uses (the 2.0.1 ``transactionId``; ``str(id)`` for 1.6).
    """

    id: int
    station_id: str
    station_tx_id: str
    evse_id: int
    connector_id: int
    id_token: str | None
    started_at: datetime
    meter_start_wh: float | None = None
    stopped_at: datetime | None = None
    meter_stop_wh: float | None = None
    stop_reason: str | None = None
    charging_state: str | None = None
    last_seq_no: int | None = None
    offline: bool = False
    needs: EVChargingNeeds | None = None
    remote_start_id: int | None = None

    @property
    def active(self) -> bool:
        return self.stopped_at is None

    @property
    def energy_wh(self) -> float | None:
        if self.meter_start_wh is None or self.meter_stop_wh is None:
            return None
        return self.meter_stop_wh - self.meter_start_wh


@dataclass(frozen=True, slots=True)
class TransactionUpdate:
    """A version-neutral transaction message: 1.6 Start/StopTransaction and
    transaction MeterValues, 2.0.1 TransactionEvent."""

    station_id: str
    kind: TransactionEventKind
    timestamp: datetime
    station_tx_id: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    meter_wh: float | None = None
    seq_no: int | None = None
    offline: bool = False
    trigger_reason: str | None = None
    charging_state: str | None = None
    stop_reason: str | None = None
    remote_start_id: int | None = None
    samples: tuple[MeterSample, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class V2XPeriod:
    """One period of an OCPP 2.1 V2X schedule, from ``start_s`` (seconds into the schedule),
    in the limit's unit: ``mode`` one of :data:`OPERATION_MODES`; ``setpoint`` (negative:
    discharge; CentralSetpoint), per phase where ``setpoint_l2``/``_l3`` are given (then
    ``setpoint`` is L1); ``limit`` the most it may charge, ``discharge_limit`` (<= 0) the most
    it may give."""

    start_s: int
    mode: str
    setpoint: float | None = None
    setpoint_l2: float | None = None
    setpoint_l3: float | None = None
    limit: float | None = None
    discharge_limit: float | None = None


@dataclass(frozen=True, slots=True)
class ChargingLimit:
    """A limit on what an EVSE (or, with ``evse_id == 0``, a station) may draw.

    ``schedule`` is a list of ``(start_offset_s, limit, number_phases)`` periods in ``unit``.
    ``v2x``: the same schedule as OCPP 2.1 V2X periods with operation modes (setpoints,
    discharge limits); only a 2.1 station takes a limit that has them, ``schedule`` is then
    its charging-only view (never negative).
    """

    station_id: str
    evse_id: int
    unit: ChargingRateUnit
    schedule: tuple[tuple[int, float, int | None], ...]
    purpose: str = "TxProfile"
    stack_level: int = 0
    profile_id: int = 1
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    start_at: datetime | None = None
    duration_s: int | None = None
    transaction_id: int | None = None
    min_rate: float | None = None
    v2x: tuple[V2XPeriod, ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """One event of a 2.x NotifyEvent: a monitored variable of a component changed or alerted
    (``cleared``: the alert has ended)."""

    component: str
    variable: str
    evse_id: int | None
    trigger: str
    actual_value: str
    timestamp: datetime
    cleared: bool = False
    tech_code: str | None = None


# -- site readings (PV inverters and storage units report through the API) -------------


@dataclass(frozen=True, slots=True)
class PvReading:
    """A PV plant's AC power ``power_w`` measured at ``at``; ``forecast`` is (start, end, W)
    intervals ahead, sorted, not overlapping."""

    pv_id: str
    at: datetime
    power_w: float
    forecast: tuple[tuple[datetime, datetime, float], ...] = ()

    def forecast_at(self, at: datetime) -> float | None:
        """The forecast power at ``at``, or None where no interval covers it."""
        for start, end, watts in self.forecast:
            if start <= at < end:
                return watts
        return None


@dataclass(frozen=True, slots=True)
class GridMeterReading:
    """The site's grid meter at ``at``: the power imported and exported there (W, each 0 or
    more), as the site's energy management posted it."""

    at: datetime
    import_w: float
    export_w: float = 0.0


@dataclass(frozen=True, slots=True)
class StorageReading:
    """A storage unit's state of charge and AC power at ``at`` (positive: charging, drawn
    from the site; negative: discharging)."""

    storage_id: str
    at: datetime
    soc_pct: float | None
    power_w: float


@dataclass(frozen=True, slots=True)
class RackSwap:
    """A swap a swap station reports: when, and the state of charge of the pack it handed out
    (None: it found no pack to hand out)."""

    at: datetime
    pack_out_soc_pct: float | None


@dataclass(frozen=True, slots=True)
class SwapRackReading:
    """A swap station's rack at ``at``: the state of charge of each pack in it (%), their ids
    where known, and the swaps since its last reading. ``swap_id``: the site's ``[[swap]]``."""

    swap_id: str
    at: datetime
    pack_soc_pct: tuple[float, ...]
    pack_ids: tuple[str, ...] = ()
    swaps: tuple[RackSwap, ...] = ()
