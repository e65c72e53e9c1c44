"""Request and response bodies of the API (pydantic): every body and query value from
outside is validated here, and the OpenAPI document is generated from these models.
The sites' bodies (limits, constraints, plans, readings, power) are in
:mod:`csms.api.site_models`, the dashboard's in :mod:`csms.api.dashboard_models`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from csms import ids
from csms.api.v2x_models import AllowedEnergyTransfer, SetV2XProfile, check_starts

__all__ = [
    "AuditOut",
    "Body",
    "ChangeAvailability",
    "ChargingPeriod",
    "ClearChargingProfile",
    "CommandRequest",
    "ConnectorOut",
    "DeliveryOut",
    "ErrorOut",
    "IdTokenIn",
    "IdTokenOut",
    "JobOut",
    "MeOut",
    "MeterReadingOut",
    "RemoteStart",
    "RemoteStop",
    "Reset",
    "SetChargingProfile",
    "SiteId",
    "StationIn",
    "StationOut",
    "StationPatch",
    "TransactionOut",
    "TriggerMessage",
    "UnlockConnector",
    "WebhookCreated",
    "WebhookIn",
    "WebhookOut",
    "record_out",
]

StationId = ids.StationId
SiteId = ids.EntityId
TokenValue = ids.IdTokenValue


class Body(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    detail: str


_Out = TypeVar("_Out", bound=BaseModel)


def record_out(model: type[_Out], /, *records: object, **given: Any) -> _Out:
    """An answer made from stored records: each field of ``model`` read from the first of
    ``records`` with an attribute of that name (nested answers likewise), except the fields
    ``given`` (what the answer adds to the records: a site, a cost). A field that no record
    has and that is not given is an error, never a silent default: a renamed record field
    fails every test that reads the route, as it failed mypy when the copy was spelled out."""
    values = dict(given)
    for name in model.model_fields:
        if name in values:
            continue
        record = next((r for r in records if hasattr(r, name)), None)
        if record is None:
            raise AttributeError(f"{model.__name__}.{name}: no record has it and none given")
        values[name] = getattr(record, name)
    return model.model_validate(values, from_attributes=True)


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


class StationIn(Body):
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


class StationPatch(Body):
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
    pending_security_profile: int | None = Field(
        default=None,
        description="a higher profile the station accepted to move to and has not connected "
        "on yet (its security_profile is raised when it does)",
    )
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


class IdTokenIn(Body):
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
class _Command(Body):
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


class ChargingPeriod(Body):
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
        check_starts([p.start_s for p in self.periods])
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


class WebhookIn(Body):
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
