"""Signed firmware updates and log uploads: the OCPP 1.6 security extension's
SignedUpdateFirmware and GetLog (2.0.1 / 2.1: UpdateFirmware with the signing certificate
and signature, GetLog), and the station's progress reports (1.6
SignedFirmwareStatusNotification and LogStatusNotification, 2.0.1 / 2.1
FirmwareStatusNotification and LogStatusNotification), which the adapters store as station
events.

Everything an operator gives is checked before a frame is sent: the firmware and upload
locations are absolute URLs (at most 512 characters, the schemas' limit), the signing
certificate is one PEM X.509 certificate valid now (wall clock), the signature is base64, the
times are timezone-aware, counts and intervals are within OCPP's 32-bit integers. Each
request carries a fresh ``requestId`` that the station's notifications repeat; the request
and the station's answer are recorded as ``FirmwareUpdateRequested`` / ``LogRequested``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography import x509

from csms.core.commands import Commands
from csms.core.service import CentralSystem

__all__ = ["LOG_TYPES", "UPLOAD_SCHEMES", "Maintenance", "MaintenanceRequest"]

logger = logging.getLogger(__name__)

LOG_TYPES = ("DiagnosticsLog", "SecurityLog")
LogType = Literal["DiagnosticsLog", "SecurityLog"]
#: URL schemes a firmware location or log upload may use
UPLOAD_SCHEMES = frozenset({"https", "http", "ftps", "ftp", "sftp"})
_MAX_URL = 512
_MAX_INT = 2**31 - 1


@dataclass(frozen=True, slots=True)
class MaintenanceRequest:
    """A firmware update or log upload the station was asked for, and its answer."""

    station_id: str
    request_id: int
    status: str
    filename: str | None = None


def _url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if len(value) > _MAX_URL:
        raise ValueError(f"{what}: at most {_MAX_URL} characters")
    if parts.scheme.lower() not in UPLOAD_SCHEMES or not parts.netloc:
        raise ValueError(
            f"{what}: expected an absolute URL ({', '.join(sorted(UPLOAD_SCHEMES))}), got "
            f"{value[:80]!r}"
        )
    return value


def _when(value: datetime | None, what: str) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"{what}: a time with its timezone")
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _count(value: int | None, what: str) -> int | None:
    if value is not None and not 0 <= value <= _MAX_INT:
        raise ValueError(f"{what}: 0 to {_MAX_INT}")
    return value


def _signing_certificate(pem: str, now: datetime) -> str:
    if len(pem) > 5500:
        raise ValueError("signing certificate: at most 5500 characters (OCPP)")
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise ValueError("signing certificate: not a PEM certificate") from None
    if len(certs) != 1:
        raise ValueError("signing certificate: exactly one PEM certificate")
    cert = certs[0]
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
        raise ValueError(
            f"signing certificate: not valid now (valid {cert.not_valid_before_utc.isoformat()} "
            f"to {cert.not_valid_after_utc.isoformat()})"
        )
    return pem


def _signature(value: str) -> str:
    if not value or len(value) > 800:
        raise ValueError("signature: base64, 1 to 800 characters (OCPP)")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("signature: not base64") from None
    return value


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


class Maintenance:
    """Firmware updates and log uploads for connected stations (API, CLI)."""

    def __init__(
        self,
        *,
        central: CentralSystem,
        commands: Commands,
        wall_now: Callable[[], datetime] | None = None,
    ) -> None:
        self.central = central
        self.commands = commands
        #: certificate dates are judged on the wall clock (as the station judges them)
        self.wall_now = wall_now or (lambda: datetime.now(UTC))

    async def _ask(
        self,
        station_id: str,
        action: str,
        head: dict[str, Any],
        body: dict[str, Any],
        retries: int | None,
        retry_interval_s: int | None,
    ) -> tuple[int, dict[str, Any], str]:
        """Send a maintenance request with a fresh ``requestId`` and the retry options, its
        own fields before (``head``) and after (``body``) the id in the schema's order; the
        id, the station's answer and its status."""
        request_id = secrets.randbelow(_MAX_INT) + 1
        payload = _drop_none(
            {
                **head,
                "requestId": request_id,
                **body,
                "retries": _count(retries, "retries"),
                "retryInterval": _count(retry_interval_s, "retry_interval_s"),
            }
        )
        answer = await self.commands.send_raw(station_id, action, payload)
        return request_id, answer, str(answer.get("status", ""))

    async def update_firmware(
        self,
        station_id: str,
        *,
        location: str,
        retrieve_at: datetime,
        signing_certificate: str,
        signature: str,
        install_at: datetime | None = None,
        retries: int | None = None,
        retry_interval_s: int | None = None,
    ) -> MaintenanceRequest:
        """Ask the station to fetch, check and install signed firmware (1.6
        SignedUpdateFirmware; 2.0.1 / 2.1 UpdateFirmware)."""
        firmware = _drop_none(
            {
                "location": _url(location, "location"),
                "retrieveDateTime": _when(retrieve_at, "retrieve_at"),
                "installDateTime": _when(install_at, "install_at"),
                "signingCertificate": _signing_certificate(signing_certificate, self.wall_now()),
                "signature": _signature(signature),
            }
        )
        link = self.commands.link(station_id, "UpdateFirmware")
        action = "SignedUpdateFirmware" if link.ocpp_version == "1.6" else "UpdateFirmware"
        request_id, _, status = await self._ask(
            station_id, action, {}, {"firmware": firmware}, retries, retry_interval_s
        )
        logger.info(
            "station %s: %s %d (%s) answered %s", station_id, action, request_id, location, status
        )
        await self.central.record_event(
            station_id,
            "FirmwareUpdateRequested",
            {"request_id": request_id, "location": location, "status": status},
        )
        return MaintenanceRequest(station_id, request_id, status)

    async def get_log(
        self,
        station_id: str,
        *,
        log_type: LogType,
        remote_location: str,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        retries: int | None = None,
        retry_interval_s: int | None = None,
    ) -> MaintenanceRequest:
        """Ask the station to upload its diagnostics or security log to ``remote_location``
        (GetLog, in 1.6 through the security extension)."""
        if log_type not in LOG_TYPES:
            raise ValueError(f"log_type: one of {', '.join(LOG_TYPES)}")
        if oldest is not None and latest is not None and oldest > latest:
            raise ValueError("oldest is after latest")
        log = _drop_none(
            {
                "remoteLocation": _url(remote_location, "remote_location"),
                "oldestTimestamp": _when(oldest, "oldest"),
                "latestTimestamp": _when(latest, "latest"),
            }
        )
        self.commands.link(station_id, "GetLog")
        request_id, answer, status = await self._ask(
            station_id, "GetLog", {"logType": log_type}, {"log": log}, retries, retry_interval_s
        )
        filename = answer.get("filename")
        logger.info(
            "station %s: GetLog %s %d answered %s", station_id, log_type, request_id, status
        )
        await self.central.record_event(
            station_id,
            "LogRequested",
            _drop_none(
                {
                    "request_id": request_id,
                    "log_type": log_type,
                    "status": status,
                    "filename": filename,
                }
            ),
        )
        return MaintenanceRequest(
            station_id, request_id, status, None if filename is None else str(filename)
        )
