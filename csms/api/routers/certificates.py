"""Station certificates (admin only, audited): the station's trust store, renewal, and the
certificate history (issued, refused, failed, commands)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from csms.api.auth import Permission
from csms.api.boundary import AUDITED_ROUTES, BoundaryRoute
from csms.api.deps import AUTH_ERRORS, Caller, Services
from csms.api.routers.stations import load_station
from csms.api.station_calls import STATION_CALL_ERRORS, station_call

__all__ = ["router"]

router = APIRouter(route_class=BoundaryRoute, tags=["certificates"], responses=AUTH_ERRORS)

_ERRORS = STATION_CALL_ERRORS
T = TypeVar("T")

CertificateType = Literal[
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
    "CentralSystemRootCertificate",
]
_HEX = r"^[0-9A-Fa-f]{1,128}$"


class HashData(BaseModel):
    """OCPP CertificateHashDataType."""

    model_config = ConfigDict(extra="forbid")
    hashAlgorithm: Literal["SHA256", "SHA384", "SHA512"]
    issuerNameHash: Annotated[str, Field(pattern=_HEX)]
    issuerKeyHash: Annotated[str, Field(pattern=_HEX)]
    serialNumber: Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{1,40}$")]


class InstallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    certificate_type: CertificateType
    certificate: str = Field(min_length=1, max_length=10000, description="PEM")


class DeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hash_data: HashData


class InstalledOut(BaseModel):
    certificate_type: str
    hash_data: dict[str, Any]


class StatusOut(BaseModel):
    status: str


class CertificateEventOut(BaseModel):
    kind: str
    at: str
    data: dict[str, Any]


_KINDS = (
    "CertificateIssued",
    "CertificateRevoked",
    "CertificateRequestRefused",
    "CertificateRequestFailed",
    "CertificateCommand",
)


async def _station_call(
    services: Services,
    who: Caller,
    station_id: str,
    action: str,
    request: dict[str, Any],
    call: Callable[[], Awaitable[T]],
) -> T:
    """:func:`station_call` for an admin's certificate or credential command; audited as
    the station answered (``Accepted``, ``Rejected``, ...)."""
    record = await load_station(services, who, station_id, Permission.CERTIFICATES)
    return await station_call(services, who, record, action, request, call, outcome=_answered)


def _answered(result: object) -> str:
    return str(getattr(result, "status", "ok"))


@router.get(
    "/stations/{station_id}/certificates", response_model=list[InstalledOut], responses=_ERRORS
)
async def list_installed(
    services: Services,
    who: Caller,
    station_id: str,
    certificate_type: Annotated[list[CertificateType] | None, Query()] = None,
) -> list[InstalledOut]:
    """The certificates in the station's trust store (GetInstalledCertificateIds)."""
    types = list(certificate_type or [])
    found = await _station_call(
        services,
        who,
        station_id,
        "certificate.list",
        {"types": types},
        lambda: services.csms.certificates.installed(station_id, types),
    )
    return [InstalledOut(certificate_type=c.certificate_type, hash_data=c.hash_data) for c in found]


@router.post("/stations/{station_id}/certificates", response_model=StatusOut, responses=_ERRORS)
async def install(services: Services, who: Caller, station_id: str, body: InstallIn) -> StatusOut:
    """Install a root certificate in the station's trust store (InstallCertificate)."""
    r = await _station_call(
        services,
        who,
        station_id,
        "certificate.install",
        {"certificate_type": body.certificate_type},
        lambda: services.csms.certificates.install(
            station_id, body.certificate_type, body.certificate
        ),
    )
    return StatusOut(status=r.status)


@router.post(
    "/stations/{station_id}/certificates/delete", response_model=StatusOut, responses=_ERRORS
)
async def delete(services: Services, who: Caller, station_id: str, body: DeleteIn) -> StatusOut:
    """Delete a certificate from the station's trust store (DeleteCertificate)."""
    data = body.hash_data.model_dump()
    r = await _station_call(
        services,
        who,
        station_id,
        "certificate.delete",
        {"hash_data": data},
        lambda: services.csms.certificates.delete(station_id, data),
    )
    return StatusOut(status=r.status)


@router.post(
    "/stations/{station_id}/certificates/renew", response_model=StatusOut, responses=_ERRORS
)
async def renew(services: Services, who: Caller, station_id: str) -> StatusOut:
    """Ask the station for a new CSR now; chargegrid's CA signs it (TriggerMessage)."""
    r = await _station_call(
        services,
        who,
        station_id,
        "certificate.renew",
        {},
        lambda: services.csms.certificates.renew(station_id),
    )
    return StatusOut(status=r.status)


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serial_number: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Fa-f]{1,40}$",
        description="the certificate (hexadecimal serial number); default: every "
        "certificate chargegrid's CA issued to the station that is still valid",
    )
    reason: Literal[
        "unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation"
    ] = "unspecified"


class RevokedOut(BaseModel):
    serial_numbers: list[str]
    disconnected: bool


@router.post(
    "/stations/{station_id}/certificates/revoke",
    response_model=RevokedOut,
    responses={404: _ERRORS[404]},
)
async def revoke(services: Services, who: Caller, station_id: str, body: RevokeIn) -> RevokedOut:
    """Revoke certificates chargegrid's own CA issued to the station: they go on the CA's
    revocation list at once, the next connection with one is refused, and an open one made
    with one is closed. The station need not be online."""
    r = await _station_call(
        services,
        who,
        station_id,
        "certificate.revoke",
        body.model_dump(),
        lambda: services.csms.certificates.revoke(
            station_id, body.serial_number, reason=body.reason
        ),
    )
    return RevokedOut(serial_numbers=list(r.serial_numbers), disconnected=r.disconnected)


@router.get(
    "/stations/{station_id}/certificate-events",
    response_model=list[CertificateEventOut],
    responses={404: _ERRORS[404]},
)
async def certificate_events(
    services: Services, who: Caller, station_id: str
) -> list[CertificateEventOut]:
    """The station's certificate history: issued, refused and failed requests, commands."""
    return await _events(services, who, station_id, _KINDS)


async def _events(
    services: Services, who: Caller, station_id: str, kinds: tuple[str, ...]
) -> list[CertificateEventOut]:
    await load_station(services, who, station_id, Permission.CERTIFICATES)
    out = []
    for kind in kinds:
        for e in await services.store.station_events(station_id, kind):
            out.append(CertificateEventOut(kind=e.kind, at=e.at.isoformat(), data=e.data))
    return sorted(out, key=lambda e: e.at)


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: Literal[2, 3]
    csms_url: str | None = Field(
        default=None,
        pattern=r"^wss://[^\s]{1,200}$",
        description="2.0.1: the wss:// URL the station moves to (default: this server's)",
    )


class CredentialOut(BaseModel):
    status: str
    accepted: bool
    detail: str = ""


@router.post(
    "/stations/{station_id}/password/rotate", response_model=CredentialOut, responses=_ERRORS
)
async def rotate_password(services: Services, who: Caller, station_id: str) -> CredentialOut:
    """Give the station a new random Basic-auth password (2.0.1 BasicAuthPassword, 1.6
    AuthorizationKey); the old one is accepted until the station connects with the new one.
    The password is never shown."""
    r = await _station_call(
        services,
        who,
        station_id,
        "station.password_rotate",
        {},
        lambda: services.csms.credentials.rotate_password(station_id),
    )
    return CredentialOut(status=r.status, accepted=r.accepted, detail=r.detail)


@router.post(
    "/stations/{station_id}/security-profile", response_model=CredentialOut, responses=_ERRORS
)
async def upgrade_profile(
    services: Services, who: Caller, station_id: str, body: ProfileIn
) -> CredentialOut:
    """Raise the station's security profile (never down); it is registered for the new
    profile once it has connected on it."""
    r = await _station_call(
        services,
        who,
        station_id,
        "station.profile_upgrade",
        body.model_dump(),
        lambda: services.csms.credentials.upgrade_profile(
            station_id, body.profile, csms_url=body.csms_url
        ),
    )
    return CredentialOut(status=r.status, accepted=r.accepted, detail=r.detail)


class FirmwareIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    location: str = Field(min_length=1, max_length=512, description="URL of the firmware")
    retrieve_at: AwareDatetime = Field(description="when the station fetches it")
    install_at: AwareDatetime | None = Field(default=None, description="when it installs it")
    signing_certificate: str = Field(
        min_length=1, max_length=5500, description="PEM certificate the firmware was signed with"
    )
    signature: str = Field(min_length=1, max_length=800, description="base64 signature")
    retries: int | None = Field(default=None, ge=0, le=2**31 - 1)
    retry_interval_s: int | None = Field(default=None, ge=0, le=2**31 - 1)


class LogIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    log_type: Literal["DiagnosticsLog", "SecurityLog"]
    remote_location: str = Field(
        min_length=1, max_length=512, description="URL the station uploads the log to"
    )
    oldest: AwareDatetime | None = None
    latest: AwareDatetime | None = None
    retries: int | None = Field(default=None, ge=0, le=2**31 - 1)
    retry_interval_s: int | None = Field(default=None, ge=0, le=2**31 - 1)


class MaintenanceOut(BaseModel):
    request_id: int
    status: str
    filename: str | None = None


@router.post("/stations/{station_id}/firmware", response_model=MaintenanceOut, responses=_ERRORS)
async def update_firmware(
    services: Services, who: Caller, station_id: str, body: FirmwareIn
) -> MaintenanceOut:
    """Ask the station to fetch, verify and install signed firmware (1.6 security
    extension SignedUpdateFirmware; 2.0.1 / 2.1 UpdateFirmware). Its progress is in
    ``maintenance-events``."""
    r = await _station_call(
        services,
        who,
        station_id,
        "station.firmware_update",
        body.model_dump(mode="json", exclude={"signing_certificate", "signature"}),
        lambda: services.csms.maintenance.update_firmware(station_id, **body.model_dump()),
    )
    return MaintenanceOut(request_id=r.request_id, status=r.status)


@router.post("/stations/{station_id}/logs", response_model=MaintenanceOut, responses=_ERRORS)
async def get_log(services: Services, who: Caller, station_id: str, body: LogIn) -> MaintenanceOut:
    """Ask the station to upload its diagnostics or security log (GetLog; in 1.6 from the
    security extension). Its progress is in ``maintenance-events``."""
    r = await _station_call(
        services,
        who,
        station_id,
        "station.log_get",
        body.model_dump(mode="json"),
        lambda: services.csms.maintenance.get_log(station_id, **body.model_dump()),
    )
    return MaintenanceOut(request_id=r.request_id, status=r.status, filename=r.filename)


_MAINTENANCE_KINDS = (
    "FirmwareUpdateRequested",
    "FirmwareStatusNotification",
    "SignedFirmwareStatusNotification",
    "LogRequested",
    "LogStatusNotification",
)


@router.get(
    "/stations/{station_id}/maintenance-events",
    response_model=list[CertificateEventOut],
    responses={404: _ERRORS[404]},
)
async def maintenance_events(
    services: Services, who: Caller, station_id: str
) -> list[CertificateEventOut]:
    """Firmware updates and log uploads asked for, and the station's reports on them
    (``request_id`` / ``requestId`` links the two), oldest first."""
    return await _events(services, who, station_id, _MAINTENANCE_KINDS)


class SecurityEventOut(BaseModel):
    type: str
    at: str
    tech_info: str | None = None
    critical: bool


@router.get(
    "/stations/{station_id}/security-events",
    response_model=list[SecurityEventOut],
    responses={404: _ERRORS[404]},
)
async def security_events(
    services: Services,
    who: Caller,
    station_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SecurityEventOut]:
    """The station's SecurityEventNotifications, newest first; ``critical`` as configured
    (``security.critical_events``)."""
    await load_station(services, who, station_id, Permission.STATIONS_READ)
    critical = services.csms.central.critical_security_events
    events = await services.store.station_events(station_id, "SecurityEventNotification")
    events.sort(key=lambda e: e.at, reverse=True)
    return [
        SecurityEventOut(
            type=str(e.data.get("type", "")),
            at=e.at.isoformat(),
            tech_info=e.data.get("tech_info"),
            critical=str(e.data.get("type", "")) in critical,
        )
        for e in events[:limit]
    ]


# A refused write to these routes is in the audit log as "refused" (see csms.api.boundary).
AUDITED_ROUTES.update(
    {
        install.__name__: "certificate.install",
        delete.__name__: "certificate.delete",
        revoke.__name__: "certificate.revoke",
        rotate_password.__name__: "station.password_rotate",
        upgrade_profile.__name__: "station.profile_upgrade",
        update_firmware.__name__: "station.firmware_update",
        get_log.__name__: "station.log_get",
    }
)
