"""Station certificates over OCPP: SignCertificate -> CertificateSigned, renewal before
expiry, and the station's trust store (InstallCertificate, GetInstalledCertificateIds,
DeleteCertificate), for OCPP 2.0.1 / 2.1 and the OCPP 1.6 security extension.

A CSR is checked when it arrives (:func:`csms.security.ca.check_csr`: CN = the station's
id, a strong key, a valid signature); a refused one is answered Rejected, logged, counted
and recorded as the station event ``CertificateRequestRefused``. An accepted one is signed
after the answer (never from inside the handler) by chargegrid's own CA or by the external
CA command, and the chain is sent with CertificateSigned; the outcome is recorded as
``CertificateIssued`` or ``CertificateRequestFailed``. The payloads differ a little between
the versions; the differences live here, beside the rules, and go out through the
connection's schema-checked ``send_raw``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509

from csms.core.commands import CommandResult, Commands
from csms.core.service import CentralSystem
from csms.exceptions import CommandError
from csms.security.ca import CertificateAuthority, CsrInfo, check_csr
from csms.security.exceptions import CaUnavailable, CsrRefused
from csms.security.settings import SecuritySettings
from csms.supervisor import cancel_and_wait

if TYPE_CHECKING:
    from csms.security.connections import ConnectionSecurity

__all__ = [
    "CertificateService",
    "CommandSigner",
    "InstalledCertificate",
    "OwnCaSigner",
    "Revocation",
    "Signer",
    "install_types",
]

logger = logging.getLogger(__name__)

_INSTALL_TYPES = {
    "1.6": ("CentralSystemRootCertificate", "ManufacturerRootCertificate"),
    "2.0.1": (
        "CSMSRootCertificate",
        "ManufacturerRootCertificate",
        "V2GRootCertificate",
        "MORootCertificate",
    ),
}


#: how often the own CA's revocation list is checked for re-signing (it is valid 7 days)
_CRL_CHECK_S = 3600.0


def _v(version: str) -> str:
    return "1.6" if version == "1.6" else "2.0.1"


def install_types(version: str) -> tuple[str, ...]:
    """The certificate types InstallCertificate takes in an OCPP version."""
    return _INSTALL_TYPES[_v(version)]


@dataclass(frozen=True, slots=True)
class InstalledCertificate:
    """One entry of GetInstalledCertificateIds (hash data as the station sent it)."""

    certificate_type: str
    hash_data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Revocation:
    """What :meth:`CertificateService.revoke` did: the certificates (hexadecimal serial
    numbers) now on the CA's revocation list, and whether the station's open connection,
    made with one of them, was closed."""

    station_id: str
    serial_numbers: tuple[str, ...]
    disconnected: bool


class Signer(Protocol):
    """Turns a checked CSR into the PEM chain for CertificateSigned."""

    async def sign(self, station_id: str, info: CsrInfo, *, now: datetime) -> str: ...


class OwnCaSigner:
    """chargegrid's own CA (``security.ca_folder``)."""

    def __init__(self, ca: CertificateAuthority, *, valid_days: int) -> None:
        self.ca = ca
        self.valid_days = valid_days

    async def sign(self, station_id: str, info: CsrInfo, *, now: datetime) -> str:
        return await asyncio.to_thread(self.ca.sign, info, now=now, valid_days=self.valid_days)


class CommandSigner:
    """An external CA behind a command (``security.ca_command``): run with the CSR (PEM) on
    standard input and ``CHARGEGRID_STATION_ID`` in its environment, it prints the PEM chain
    (station certificate first) and exits 0; anything else refuses the request."""

    def __init__(self, command: str, *, timeout_s: float) -> None:
        self.argv = shlex.split(command)
        self.timeout_s = timeout_s

    async def sign(self, station_id: str, info: CsrInfo, *, now: datetime) -> str:
        import os

        from cryptography.hazmat.primitives import serialization

        csr = info.csr.public_bytes(serialization.Encoding.PEM)
        proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "CHARGEGRID_STATION_ID": station_id},
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(csr), self.timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise CaUnavailable(f"the CA command did not answer in {self.timeout_s:g} s") from None
        if proc.returncode != 0:
            detail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise CaUnavailable(f"the CA command exited {proc.returncode}: {detail[0][:200]}")
        chain = out.decode(errors="replace")
        try:
            certs = x509.load_pem_x509_certificates(chain.encode())
        except ValueError:
            raise CaUnavailable("the CA command printed no PEM certificate") from None
        leaf = certs[0]
        if leaf.public_key() != info.csr.public_key():
            raise CaUnavailable("the CA command's certificate is not for the request's key")
        return chain


def signer_from(settings: SecuritySettings) -> Signer | None:
    """The signer the settings name (the command wins over the folder); None: none."""
    if settings.ca_command:
        return CommandSigner(settings.ca_command, timeout_s=settings.ca_command_timeout_s)
    if settings.ca_folder is not None:
        ca = CertificateAuthority.load(settings.ca_folder)
        return OwnCaSigner(ca, valid_days=settings.station_certificate_days)
    return None


class CertificateService:
    """Certificates of connected stations, for the OCPP adapters, the API and the CLI."""

    def __init__(
        self,
        settings: SecuritySettings,
        *,
        central: CentralSystem,
        commands: Commands,
        signer: Signer | None = None,
        expiries: Any = None,
        wall_now: Callable[[], datetime] | None = None,
        security: ConnectionSecurity | None = None,
        disconnect: Callable[[str, str], Awaitable[bool]] | None = None,
    ) -> None:
        self.settings = settings
        #: closes a station's open connection with a reason (False: it had none)
        self.disconnect = disconnect
        #: the OCPP server's connection security: the certificate each station is
        #: connected with, and the own CA's revocations it checks
        self.security = security
        self.central = central
        self.commands = commands
        self.signer = signer
        #: certificate dates are checked on the wall clock, like TLS peers check them, even
        #: when the central system runs on a simulated clock
        self.wall_now = wall_now or (lambda: datetime.now(UTC))
        #: station id -> the not-after of the certificate it connected with (renewal)
        self.expiries: dict[str, datetime] = expiries if expiries is not None else {}
        self.counters: Counter[str] = Counter()
        #: password rotation and profile upgrades (csms.security.credentials), and signed
        #: firmware updates and log uploads (csms.security.maintenance), for the CLI
        self.credentials: Any = None
        self.maintenance: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._renewer: asyncio.Task[None] | None = None
        self._crl_keeper: asyncio.Task[None] | None = None
        self._renewal_asked: dict[str, datetime] = {}

    # -- SignCertificate -> CertificateSigned ------------------------------------------------
    async def on_sign_certificate(
        self, station_id: str, csr: str, certificate_type: str | None, version: str
    ) -> str:
        """The answer to a station's SignCertificate; signing follows in the background."""
        if certificate_type not in (None, "ChargingStationCertificate"):
            return await self._refuse(
                station_id, f"certificate type {certificate_type} is not signed here"
            )
        if self.signer is None:
            return await self._refuse(station_id, "no certificate authority is configured")
        try:
            info = check_csr(
                csr, station_id=station_id, organization=self.settings.certificate_organization
            )
        except CsrRefused as exc:
            return await self._refuse(station_id, str(exc))
        task = asyncio.create_task(
            self._issue(station_id, info, certificate_type, version), name=f"sign-{station_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.counters["csr_accepted"] += 1
        return "Accepted"

    async def _refuse(self, station_id: str, reason: str) -> str:
        self.counters["csr_refused"] += 1
        logger.warning("station %s: certificate request refused: %s", station_id, reason)
        await self.central.record_event(station_id, "CertificateRequestRefused", {"reason": reason})
        return "Rejected"

    async def _issue(
        self, station_id: str, info: CsrInfo, certificate_type: str | None, version: str
    ) -> None:
        assert self.signer is not None
        try:
            chain = await self.signer.sign(station_id, info, now=self.wall_now())
        except CaUnavailable as exc:
            self.counters["sign_failed"] += 1
            logger.error("station %s: certificate not signed: %s", station_id, exc)
            await self.central.record_event(
                station_id, "CertificateRequestFailed", {"reason": str(exc)}
            )
            return
        leaf = x509.load_pem_x509_certificates(chain.encode())[0]
        payload: dict[str, Any] = {"certificateChain": chain}
        if _v(version) != "1.6" and certificate_type is not None:
            payload["certificateType"] = certificate_type
        try:
            answer = await self.commands.send_raw(station_id, "CertificateSigned", payload)
        except CommandError as exc:
            self.counters["delivery_failed"] += 1
            logger.error("station %s: CertificateSigned not delivered: %s", station_id, exc)
            await self.central.record_event(
                station_id, "CertificateRequestFailed", {"reason": f"not delivered: {exc}"}
            )
            return
        status = str(answer.get("status", ""))
        data = {
            "serial_number": format(leaf.serial_number, "x"),
            "not_after": leaf.not_valid_after_utc.isoformat(),
            "status": status,
        }
        if status == "Accepted":
            self.counters["issued"] += 1
            logger.info(
                "station %s: certificate %s issued, valid until %s",
                station_id,
                data["serial_number"],
                data["not_after"],
            )
            await self.central.record_event(station_id, "CertificateIssued", data)
        else:
            self.counters["station_refused"] += 1
            logger.warning(
                "station %s: refused the signed certificate (%s); it keeps its previous one",
                station_id,
                status,
            )
            await self.central.record_event(station_id, "CertificateRequestFailed", data)

    async def wait_idle(self) -> None:
        """Wait for background signing to finish (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- renewal ------------------------------------------------------------------------------
    async def renew(self, station_id: str) -> CommandResult:
        """Ask the station to send a new CSR now (TriggerMessage / 1.6 ExtendedTriggerMessage)."""
        link = self.commands.link(station_id, "TriggerMessage")
        if _v(link.ocpp_version) == "1.6":
            action = "ExtendedTriggerMessage"
            payload = {"requestedMessage": "SignChargePointCertificate"}
        else:
            action = "TriggerMessage"
            payload = {"requestedMessage": "SignChargingStationCertificate"}
        answer = await self.commands.send_raw(station_id, action, payload)
        self._renewal_asked[station_id] = self.wall_now()
        return CommandResult(str(answer.get("status", "")), answer)

    def due_for_renewal(self, now: datetime) -> list[str]:
        """Connected stations whose certificate ends within ``renew_before_days`` and that
        were not asked in the last check interval."""
        before = timedelta(days=self.settings.renew_before_days)
        again = timedelta(seconds=self.settings.renew_check_interval_s or 3600.0)
        due = []
        for station_id, not_after in sorted(self.expiries.items()):
            if not_after - now > before or not self.commands.is_online(station_id):
                continue
            asked = self._renewal_asked.get(station_id)
            if asked is not None and now - asked < again:
                continue
            due.append(station_id)
        return due

    async def renew_due(self) -> list[str]:
        """Trigger renewal for every station :meth:`due_for_renewal`; the ones asked."""
        asked = []
        for station_id in self.due_for_renewal(self.wall_now()):
            try:
                result = await self.renew(station_id)
            except CommandError as exc:
                logger.warning("station %s: renewal not triggered: %s", station_id, exc)
                continue
            logger.info(
                "station %s: certificate ends %s, renewal asked (%s)",
                station_id,
                self.expiries[station_id].isoformat(),
                result.status,
            )
            asked.append(station_id)
        return asked

    def start(self) -> None:
        interval = self.settings.renew_check_interval_s
        if interval is not None and self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_loop(interval), name="cert-renewal")
        if isinstance(self.signer, OwnCaSigner) and self._crl_keeper is None:
            self._crl_keeper = asyncio.create_task(
                self._crl_loop(self.signer.ca, _CRL_CHECK_S), name="ca-crl"
            )

    async def stop(self) -> None:
        loops = [t for t in (self._renewer, self._crl_keeper) if t is not None]
        self._renewer = self._crl_keeper = None
        await cancel_and_wait([*loops, *self._tasks])

    async def _renew_loop(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.renew_due()
            except Exception:  # the loop must outlive any one failure
                logger.exception("certificate renewal check failed; next in %.0f s", interval_s)

    async def _crl_loop(self, ca: CertificateAuthority, interval_s: float) -> None:
        """Keep the own CA's revocation list signed and fresh (written at once when it is
        missing, as in a CA folder made before revocation existed)."""
        while True:
            try:
                if await asyncio.to_thread(ca.refresh_crl, now=self.wall_now()):
                    logger.info("own CA revocation list re-signed (%s)", ca.crl_path)
            except Exception:  # the loop must outlive any one failure
                logger.exception(
                    "own CA revocation list not re-signed; again in %.0f s", interval_s
                )
            await asyncio.sleep(interval_s)

    # -- revocation (own CA) ------------------------------------------------------------------
    async def revoke(
        self, station_id: str, serial_number: str | None = None, *, reason: str = "unspecified"
    ) -> Revocation:
        """Revoke a certificate chargegrid's CA issued to the station (``serial_number``,
        hexadecimal), or every one of its certificates still valid and not yet revoked. The
        revocation list is
        rewritten at once; the next profile-3 connection with a revoked certificate is
        refused, and the station's open connection is closed when it was made with one.
        Raises ValueError when there is nothing of the CA's to revoke."""
        if not isinstance(self.signer, OwnCaSigner):
            raise ValueError(
                "revocation here needs chargegrid's own CA (security.ca_folder); an external "
                "CA revokes through its own revocation list (security.tls_crl_files)"
            )
        ca = self.signer.ca
        now = self.wall_now()
        issued = await asyncio.to_thread(ca.issued, station_id)
        if serial_number is not None:
            try:
                serial = int(serial_number, 16)
            except ValueError:
                raise ValueError(f"serial number {serial_number!r} is not hexadecimal") from None
            if serial not in {i.serial_number for i in issued}:
                raise ValueError(
                    f"chargegrid's CA issued no certificate {serial_number} to station {station_id}"
                )
            serials = [serial]
        else:
            revoked = await asyncio.to_thread(ca.revoked)
            serials = [
                i.serial_number
                for i in issued
                if i.not_after > now and i.serial_number not in revoked
            ]
            if not serials:
                raise ValueError(
                    f"chargegrid's CA issued no certificate to station {station_id} that is "
                    "still valid and not revoked"
                )
        new = await asyncio.to_thread(ca.revoke, serials, reason=reason, now=now)
        self.counters["revoked"] += len(new)
        hexes = tuple(format(s, "x") for s in serials)
        logger.warning(
            "station %s: certificate(s) %s revoked (%s)", station_id, ", ".join(hexes), reason
        )
        await self.central.record_event(
            station_id,
            "CertificateRevoked",
            {"serial_numbers": [format(s, "x") for s in new], "reason": reason},
        )
        disconnected = False
        security = self.security
        if security is not None:
            if security.revocations is not None:
                security.revocations.refresh()
            current = security.serial_numbers.get(station_id)
            if current in serials and self.disconnect is not None:
                disconnected = await self.disconnect(station_id, "certificate revoked")
            if disconnected:
                logger.warning("station %s: disconnected, its certificate was revoked", station_id)
        return Revocation(station_id, hexes, disconnected)

    # -- the station's trust store ----------------------------------------------------------
    async def install(self, station_id: str, certificate_type: str, pem: str) -> CommandResult:
        """InstallCertificate (a root certificate into the station's trust store)."""
        link = self.commands.link(station_id, "InstallCertificate")
        if certificate_type not in install_types(link.ocpp_version):
            raise ValueError(
                f"certificate type {certificate_type!r} is not one of "
                f"{', '.join(install_types(link.ocpp_version))} (OCPP {link.ocpp_version})"
            )
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            raise ValueError("not a PEM certificate") from None
        if cert.not_valid_after_utc <= self.wall_now():
            raise ValueError(f"the certificate expired on {cert.not_valid_after_utc.isoformat()}")
        answer = await self.commands.send_raw(
            station_id,
            "InstallCertificate",
            {"certificateType": certificate_type, "certificate": pem},
        )
        return CommandResult(str(answer.get("status", "")), answer)

    async def installed(
        self, station_id: str, types: Sequence[str] = ()
    ) -> list[InstalledCertificate]:
        """GetInstalledCertificateIds (of ``types``; all when empty)."""
        link = self.commands.link(station_id, "GetInstalledCertificateIds")
        if _v(link.ocpp_version) == "1.6":
            out: list[InstalledCertificate] = []
            for kind in types or install_types("1.6"):
                answer = await self.commands.send_raw(
                    station_id, "GetInstalledCertificateIds", {"certificateType": kind}
                )
                out += [
                    InstalledCertificate(kind, h) for h in answer.get("certificateHashData", [])
                ]
            return out
        payload: dict[str, Any] = {"certificateType": list(types)} if types else {}
        answer = await self.commands.send_raw(station_id, "GetInstalledCertificateIds", payload)
        return [
            InstalledCertificate(str(c["certificateType"]), dict(c["certificateHashData"]))
            for c in answer.get("certificateHashDataChain", [])
        ]

    async def delete(self, station_id: str, hash_data: dict[str, Any]) -> CommandResult:
        """DeleteCertificate (hash data as GetInstalledCertificateIds gave it)."""
        answer = await self.commands.send_raw(
            station_id, "DeleteCertificate", {"certificateHashData": hash_data}
        )
        return CommandResult(str(answer.get("status", "")), answer)
