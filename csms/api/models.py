"""Request and response bodies of the API (pydantic): every body and query value from
outside is validated here, and the OpenAPI document is generated from these models."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from csms import ids
from csms.api.v2x_models import AllowedEnergyTransfer, SetV2XProfile
from csms.sites import GridConstraint, InvalidStoredConstraint

__all__ = [
    "AckOut",
    "ApplyOut",
    "AuditOut",
    "ChangeAvailability",
    "ChargingPeriod",
    "ClearChargingProfile",
    "CommandRequest",
    "ConnectorOut",
    "ConstraintCreated",
    "ConstraintStatus",
    "DeliveryOut",
    "ErrorOut",
    "EvsePowerOut",
    "IdTokenIn",
    "IdTokenOut",
    "JobOut",
    "MeOut",
    "MeterReadingOut",
    "NodeLimitOut",
    "NodePowerOut",
    "PlanEvseOut",
    "PlanNodeOut",
    "PlanOut",
    "PlanStepOut",
    "PlanStorageOut",
    "PvForecastIn",
    "PvReadingIn",
    "ReadingsIn",
    "ReadingsOut",
    "RemoteStart",
    "RemoteStop",
    "Reset",
    "SetChargingProfile",
    "SiteId",
    "SitePowerOut",
    "StationIn",
    "StationOut",
    "StationPatch",
    "StorageReadingIn",
    "TransactionOut",
    "TriggerMessage",
    "UnlockConnector",
    "WebhookCreated",
    "WebhookIn",
    "WebhookOut",
]

StationId = ids.StationId
SiteId = ids.EntityId
TokenValue = ids.IdTokenValue


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    detail: str


class MeOut(BaseModel):
    token_id: str
    name: str
    role: str
    sites: list[str] | None = Field(description="granted sites; null = every site")
    permissions: list[str] = Field(
        default_factory=list, description="what the role may do, e.g. commands:write"
    )
    now: datetime | None = Field(
        default=None, description="the server's clock (a simulation may run faster than the wall)"
    )


# -- stations ---------------------------------------------------------------------------
Registration = Literal["Accepted", "Pending", "Rejected"]


class StationIn(_In):
    station_id: StationId
    site_id: SiteId | None = None
    password: str | None = Field(
        default=None, min_length=16, max_length=40, description="OCPP Basic auth password"
    )
    registration: Registration = "Accepted"
    security_profile: int | None = Field(
        default=None,
        ge=1,
        le=3,
        description="OCPP security profile the station must connect with (null: the "
        "server's minimum)",
    )


class StationPatch(_In):
    site_id: SiteId | None = None
    password: str | None = Field(default=None, min_length=16, max_length=40)
    registration: Registration | None = None
    security_profile: int | None = Field(default=None, ge=1, le=3)


class StationOut(BaseModel):
    station_id: str
    site_id: str | None
    registration: str
    online: bool
    has_password: bool
    security_profile: int | None = None
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    last_boot_at: datetime | None
    last_seen_at: datetime | None


class ConnectorOut(BaseModel):
    evse_id: int
    connector_id: int
    status: str
    timestamp: datetime
    error_code: str | None
    info: str | None


class MeterReadingOut(BaseModel):
    evse_id: int
    connector_id: int
    transaction_id: int | None
    timestamp: datetime
    measurand: str
    value: float
    unit: str
    phase: str | None
    location: str | None


# -- id tokens --------------------------------------------------------------------------
AuthStatus = Literal["Accepted", "Blocked", "Expired", "Invalid", "Unknown", "NoCredit"]


class IdTokenIn(_In):
    kind: str = Field(default="ISO14443", min_length=1, max_length=32)
    status: AuthStatus = "Accepted"
    expires_at: datetime | None = None
    group_id: str | None = Field(default=None, min_length=1, max_length=255)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return value


class IdTokenOut(BaseModel):
    token: str
    kind: str
    status: str
    expires_at: datetime | None
    group_id: str | None


# -- transactions -----------------------------------------------------------------------
class TransactionOut(BaseModel):
    id: int
    station_id: str
    site_id: str | None
    station_tx_id: str
    evse_id: int
    connector_id: int
    id_token: str | None
    started_at: datetime
    stopped_at: datetime | None
    active: bool
    meter_start_wh: float | None
    meter_stop_wh: float | None
    energy_wh: float | None
    stop_reason: str | None
    cost: float | None = Field(description="energy cost under the site's tariff, if it has one")
    currency: str | None


# -- commands ---------------------------------------------------------------------------
class _Command(_In):
    station_id: StationId


class RemoteStart(_Command):
    """Resolves to the transaction id once the station has started the transaction."""

    command: Literal["remote_start"]
    id_token: TokenValue
    evse_id: int | None = Field(default=None, ge=1, le=1000)


class RemoteStop(_Command):
    command: Literal["remote_stop"]
    transaction_id: int = Field(ge=1, le=2**31 - 1)


class Reset(_Command):
    command: Literal["reset"]
    hard: bool = False
    evse_id: int | None = Field(default=None, ge=1, le=1000)


class ChangeAvailability(_Command):
    command: Literal["change_availability"]
    evse_id: int = Field(default=0, ge=0, le=1000)
    connector_id: int | None = Field(default=None, ge=1, le=100)
    operative: bool


class UnlockConnector(_Command):
    command: Literal["unlock"]
    evse_id: int = Field(ge=1, le=1000)
    connector_id: int = Field(default=1, ge=1, le=100)


class TriggerMessage(_Command):
    command: Literal["trigger"]
    message: Literal[
        "BootNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
        "LogStatusNotification",
        "SignChargingStationCertificate",
        "TransactionEvent",
    ]
    evse_id: int | None = Field(default=None, ge=1, le=1000)
    connector_id: int | None = Field(default=None, ge=1, le=100)


class ChargingPeriod(_In):
    start_s: int = Field(ge=0, le=10 * 86400, description="offset from the schedule start")
    limit: float = Field(ge=0, le=1e7, description="in the profile's unit (A or W)")
    phases: int | None = Field(default=None, ge=1, le=3)


class SetChargingProfile(_Command):
    command: Literal["set_charging_profile"]
    evse_id: int = Field(default=0, ge=0, le=1000)
    unit: Literal["A", "W"] = "A"
    periods: list[ChargingPeriod] = Field(min_length=1, max_length=24)
    purpose: Literal["TxDefaultProfile", "TxProfile", "ChargePointMaxProfile"] = "TxDefaultProfile"
    stack_level: int = Field(default=0, ge=0, le=100)
    profile_id: int = Field(default=1, ge=1, le=2**31 - 1)
    duration_s: int | None = Field(default=None, ge=1, le=10 * 86400)
    transaction_id: int | None = Field(default=None, ge=1, le=2**31 - 1)

    @model_validator(mode="after")
    def _ordered(self) -> SetChargingProfile:
        starts = [p.start_s for p in self.periods]
        if starts[0] != 0:
            raise ValueError("periods[0].start_s must be 0")
        if any(b <= a for a, b in itertools.pairwise(starts)):
            raise ValueError("periods must have increasing start_s")
        if self.purpose == "TxProfile" and self.transaction_id is None:
            raise ValueError("a TxProfile needs transaction_id")
        return self


class ClearChargingProfile(_Command):
    command: Literal["clear_charging_profile"]
    profile_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    evse_id: int | None = Field(default=None, ge=0, le=1000)
    purpose: Literal["TxDefaultProfile", "TxProfile", "ChargePointMaxProfile"] | None = None
    stack_level: int | None = Field(default=None, ge=0, le=100)


CommandRequest = Annotated[
    RemoteStart
    | RemoteStop
    | Reset
    | ChangeAvailability
    | UnlockConnector
    | TriggerMessage
    | SetChargingProfile
    | ClearChargingProfile
    | SetV2XProfile
    | AllowedEnergyTransfer,
    Field(discriminator="command"),
]


class JobOut(BaseModel):
    job_id: str
    command: str
    station_id: str
    site_id: str | None
    status: Literal["pending", "succeeded", "failed"]
    request: dict[str, Any]
    result: dict[str, Any] | None = Field(
        description="the station's answer; for remote_start the transaction_id"
    )
    error: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


# -- audit ------------------------------------------------------------------------------
class AuditOut(BaseModel):
    id: int
    at: datetime
    token_id: str
    actor: str
    role: str
    action: str
    result: str
    site_id: str | None
    station_id: str | None
    target: str | None
    request: dict[str, Any]
    detail: dict[str, Any]


# -- webhooks ---------------------------------------------------------------------------
EventType = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_]+(\.[a-z_]+|\.\*)$")]


class WebhookIn(_In):
    url: AnyHttpUrl
    event_types: list[EventType] = Field(
        default_factory=list, max_length=32, description="empty = every type; 'x.*' = a family"
    )
    site_id: SiteId | None = None
    station_id: StationId | None = None
    secret: str | None = Field(
        default=None, min_length=16, max_length=128, description="generated when omitted"
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(value)) > 2048:
            raise ValueError("URL longer than 2048 characters")
        return value


class WebhookOut(BaseModel):
    webhook_id: str
    url: str
    event_types: list[str]
    site_id: str | None
    station_id: str | None
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret; shown only in this answer")


class DeliveryOut(BaseModel):
    delivery_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None


# -- sites ------------------------------------------------------------------------------
class ApplyOut(BaseModel):
    revision: int
    changes: list[str] = Field(description="e.g. '~ node grid: max_import_w: 150000.0 -> 1e5'")
    warnings: list[str]


class NodeLimitOut(BaseModel):
    node_id: str
    max_import_w: float | None
    max_export_w: float | None
    max_phase_current_a: float | None
    binding: list[str] = Field(description="ids of the constraints that set these limits")


class AckOut(BaseModel):
    station_id: str
    evse_id: int
    accepted: bool
    at: datetime
    unit: str
    limit: float | None


class ConstraintCreated(BaseModel):
    constraint: GridConstraint
    warnings: list[str] = Field(
        description="e.g. a limit below the minimum charging power of the EVSEs under it"
    )
    limits: list[NodeLimitOut] = Field(description="every node's limits in force now")
    delivery_bound_s: float | None = Field(
        description="new limits reach the stations within this many seconds; null: no "
        "planner sends limits on a change (planning disabled or not optimizing)"
    )


class ConstraintOut(BaseModel):
    """A stored constraint as listed. A row that does not validate (written by an earlier
    version: a NULL or non-finite value) is listed with ``invalid: true`` and its
    ``problems``; the planner ignores it and ``DELETE`` removes it."""

    id: str
    site_id: str
    node_id: str | None
    kind: str | None
    start: datetime | None
    end: datetime | None
    source: str | None = None
    priority: int | None = None
    max_import_w: float | None = None
    max_export_w: float | None = None
    max_phase_current_a: float | None = None
    reduce_to_w: float | None = None
    reduce_by_pct: float | None = None
    import_price_per_kwh: float | None = None
    created_at: datetime | None = None
    cancelled_at: datetime | None = None
    invalid: bool = False
    problems: list[str] = Field(default_factory=list, description="why it is invalid")

    @classmethod
    def of(cls, constraint: GridConstraint | InvalidStoredConstraint) -> ConstraintOut:
        if isinstance(constraint, GridConstraint):
            return cls.model_validate(constraint.model_dump())
        fields = {k: v for k, v in constraint.values.items() if k in cls.model_fields}
        try:
            out = cls.model_validate({**fields, "id": constraint.id, "site_id": constraint.site_id})
        except ValueError:  # stored values of the wrong type: only the ids are shown
            out = cls(
                id=constraint.id,
                site_id=constraint.site_id,
                node_id=None,
                kind=None,
                start=None,
                end=None,
            )
        return out.model_copy(update={"invalid": True, "problems": list(constraint.problems)})


class ConstraintStatus(BaseModel):
    constraint: ConstraintOut
    acknowledged: list[AckOut] = Field(
        description="limits sent to the site's stations since the constraint last changed"
    )
    delivery_bound_s: float | None = Field(
        description="as in the answer to the creation; null: no planner sends limits"
    )


class PlanEvseOut(BaseModel):
    station_id: str
    evse_id: int
    online: bool | None = None
    transaction_id: int | None = None
    planned_w: float | None = Field(description="the plan's first-step limit")
    sent_w: float | None = Field(default=None, description="the limit last sent")
    ack: str | None = Field(
        default=None, description="pending, accepted, rejected, failed; null = nothing sent"
    )
    confirmed_w: float | None = Field(default=None, description="the limit the station confirmed")
    default_w: float | None = Field(default=None, description="its safe default profile")
    measured_w: float | None = None
    non_compliant: bool = False
    power_w: list[float] = Field(default_factory=list, description="planned power per step")


class PlanStepOut(BaseModel):
    start: datetime
    duration_s: float


class PlanStorageOut(BaseModel):
    storage_id: str
    power_w: list[float] = Field(description="per step; charge positive")
    soc_wh: list[float] = Field(description="at the end of each step")


class PlanNodeOut(BaseModel):
    node_id: str
    power_w: list[float] = Field(description="planned net import per step")
    max_import_w: list[float | None]
    binding: list[str | None] = Field(
        description="per step, the limit that binds: import, export, L1, L2, L3 or null"
    )
    constraint_ids: list[list[str]] = Field(
        default_factory=list,
        description="per step, the grid constraints that set the node's limits at the step's "
        "start (empty: its own limits)",
    )


class PlanOut(BaseModel):
    site_id: str
    planned_at: datetime | None
    status: str | None = Field(description="optimal, fallback, default; null before a plan")
    solve_s: float | None = None
    non_compliance_count: int = 0
    steps: list[PlanStepOut] = Field(default_factory=list)
    evses: list[PlanEvseOut]
    storage: list[PlanStorageOut] = Field(default_factory=list)
    nodes: list[PlanNodeOut] = Field(default_factory=list)
    limits: list[NodeLimitOut] = Field(
        description="limits in force now, with the grid constraints that bind"
    )


# -- site readings (PV and storage, from the site's energy management) -------------------
Watts = Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]
AssetId = Annotated[str, Field(min_length=1, max_length=255)]


class PvForecastIn(_In):
    start: datetime
    end: datetime
    power_w: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _window(self) -> PvForecastIn:
        _aware_fields(self, "start", "end")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class PvReadingIn(_In):
    pv_id: AssetId
    power_w: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] = Field(
        description="AC power the plant produces now"
    )
    at: datetime | None = Field(default=None, description="when it was measured; null: now")
    forecast: list[PvForecastIn] = Field(
        default_factory=list,
        max_length=1000,
        description="power expected ahead, in windows that do not overlap",
    )

    @model_validator(mode="after")
    def _forecast(self) -> PvReadingIn:
        _aware_fields(self, "at")
        windows = sorted(self.forecast, key=lambda f: f.start)
        for a, b in itertools.pairwise(windows):
            if b.start < a.end:
                raise ValueError(f"forecast windows overlap at {b.start.isoformat()}")
        self.forecast = windows
        return self


class StorageReadingIn(_In):
    storage_id: AssetId
    power_w: Watts = Field(description="AC power: positive charging (drawn from the site)")
    soc_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    at: datetime | None = Field(default=None, description="when it was measured; null: now")

    @model_validator(mode="after")
    def _at(self) -> StorageReadingIn:
        _aware_fields(self, "at")
        return self


class ReadingsIn(_In):
    pv: list[PvReadingIn] = Field(default_factory=list, max_length=1000)
    storage: list[StorageReadingIn] = Field(default_factory=list, max_length=1000)


class ReadingsOut(BaseModel):
    pv: int = Field(description="PV readings taken")
    storage: int = Field(description="storage readings taken")
    at: datetime


def _aware_fields(model: BaseModel, *names: str) -> None:
    for name in names:
        value = getattr(model, name)
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must include a time zone offset")


class EvsePowerOut(BaseModel):
    station_id: str
    evse_id: int
    power_w: float | None = Field(description="latest Power.Active.Import; null: none yet")
    at: datetime | None


class NodePowerOut(BaseModel):
    node_id: str
    power_w: float = Field(description="sum of the latest EVSE readings under the node")
    max_import_w: float | None = Field(description="the limit in force now")


class SitePowerOut(BaseModel):
    site_id: str
    nodes: list[NodePowerOut]
    evses: list[EvsePowerOut]
