"""A station's credentials changed remotely: the Basic-auth password rotated, the security
profile raised.

Password rotation (2.0.1 / 2.1 SetVariables ``SecurityCtrlr.BasicAuthPassword``; 1.6
ChangeConfiguration ``AuthorizationKey``): a random password is generated, its hash stored
as the station's *pending* password *before* it is sent (so a station that takes it and
reconnects at once is let in), then sent. Both passwords are accepted until the station
connects with the new one, which then retires the old (:meth:`CentralSystem.admission`).
A station that refuses (Rejected, NotSupported, a CALLERROR) keeps its old password and the
pending one is dropped; one that does not answer keeps both accepted (it may have taken
it). The password is never logged nor returned.

Profile upgrade (2.0.1 / 2.1: SetNetworkProfile with the new profile and URL, then
SetVariables ``OCPPCommCtrlr.NetworkConfigurationPriority`` and a Reset when idle; 1.6:
ChangeConfiguration ``SecurityProfile``): only upward; the station's registered profile is
raised once it has connected on the new profile, so a station that cannot make it is not
locked out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from csms.core.commands import Commands
from csms.core.passwords import hash_password
from csms.core.service import CentralSystem
from csms.events import DomainEvent, EventBus, StationConnected
from csms.exceptions import CommandError, CommandFailed, CommandTimeout, NotFound
from csms.security.connections import ConnectionSecurity
from csms.store.base import StationRecord

__all__ = ["CredentialChange", "Credentials", "new_password"]

logger = logging.getLogger(__name__)

_OK = frozenset({"Accepted", "RebootRequired"})


def new_password() -> str:
    """40 hexadecimal characters (160 random bits): a valid 2.0.1 ``BasicAuthPassword``
    (16-40 characters) and 1.6 ``AuthorizationKey`` (20 bytes as hex)."""
    return secrets.token_hex(20)


@dataclass(frozen=True, slots=True)
class CredentialChange:
    """What became of a change: ``status`` is the station's answer (Accepted, Rejected,
    RebootRequired, NotSupported, ...) or ``Timeout`` / ``Offline``."""

    station_id: str
    status: str
    accepted: bool
    detail: str = ""


class Credentials:
    """Password rotation and profile upgrades for connected stations."""

    def __init__(
        self,
        *,
        central: CentralSystem,
        commands: Commands,
        security: ConnectionSecurity,
        bus: EventBus,
        url_of: Callable[[], str] | None = None,
    ) -> None:
        #: this server's station URL base (``wss://HOST:PORT/ocpp/``), for network profiles
        self.url_of = url_of
        self.central = central
        self.commands = commands
        self.security = security
        self.counters: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe = bus.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()
        for task in list(self._tasks):
            task.cancel()

    async def _store(self, record: StationRecord, **changes: Any) -> None:
        """Store the station's record with ``changes``."""
        await self.central.store.put_station(dataclasses.replace(record, **changes))

    # -- password rotation ------------------------------------------------------------------
    async def rotate_password(self, station_id: str) -> CredentialChange:
        """Give the station a new random password (see the module docstring)."""
        link = self.commands.link(station_id, "password rotation")
        record = await self.central.store.get_station(station_id)
        if record is None:
            raise NotFound(f"no station {station_id!r}")
        password = new_password()
        hashed = await _hash(password)
        await self._store(record, pending_password_hash=hashed)
        try:
            if link.ocpp_version == "1.6":
                status = await self._change_configuration(station_id, "AuthorizationKey", password)
            else:
                answer = await self.commands.send_raw(
                    station_id,
                    "SetVariables",
                    {
                        "setVariableData": [
                            {
                                "attributeValue": password,
                                "component": {"name": "SecurityCtrlr"},
                                "variable": {"name": "BasicAuthPassword"},
                            }
                        ]
                    },
                )
                status = str(answer["setVariableResult"][0].get("attributeStatus", ""))
        except CommandTimeout as exc:
            # It may have taken it: both stay accepted until it connects with one of them.
            self.counters["password_unconfirmed"] += 1
            logger.warning(
                "station %s: password change not answered; old and new both accepted: %s",
                station_id,
                exc,
            )
            await self.central.record_event(
                station_id, "PasswordChangeUnanswered", {"reason": str(exc)}
            )
            return CredentialChange(station_id, "Timeout", False, str(exc))
        except (CommandFailed, CommandError) as exc:
            await self._refused(station_id, f"{type(exc).__name__}: {exc}")
            return CredentialChange(station_id, "Failed", False, str(exc))
        if status not in _OK:
            await self._refused(station_id, f"station answered {status}")
            return CredentialChange(station_id, status, False)
        self.counters["password_sent"] += 1
        logger.info(
            "station %s: new password accepted (%s); the old one stays valid until the "
            "station connects with the new one",
            station_id,
            status,
        )
        await self.central.record_event(station_id, "PasswordChangeAccepted", {"status": status})
        return CredentialChange(station_id, status, True)

    async def _refused(self, station_id: str, reason: str) -> None:
        self.counters["password_refused"] += 1
        record = await self.central.store.get_station(station_id)
        if record is not None and record.pending_password_hash is not None:
            await self._store(record, pending_password_hash=None)
        logger.warning(
            "station %s: password change refused (%s); it keeps its current password",
            station_id,
            reason,
        )
        await self.central.record_event(station_id, "PasswordChangeRefused", {"reason": reason})

    # -- security profile upgrade -----------------------------------------------------------
    async def upgrade_profile(
        self,
        station_id: str,
        profile: int,
        *,
        csms_url: str | None = None,
        configuration_slot: int = 2,
    ) -> CredentialChange:
        """Move the station to security ``profile`` (2 or 3; never down). ``csms_url``:
        the ``wss://`` URL for 2.0.1's network profile (default: this server's)."""
        if profile not in (2, 3):
            raise ValueError("the profile to move to is 2 or 3")
        record = await self.central.store.get_station(station_id)
        if record is None:
            raise NotFound(f"no station {station_id!r}")
        current = max(record.security_profile or 0, self.security.profiles.get(station_id, 0))
        if profile <= current:
            self.counters["downgrade_refused"] += 1
            await self.central.record_event(
                station_id,
                "SecurityProfileChangeRefused",
                {"reason": f"downgrade from {current} to {profile}"},
            )
            raise ValueError(
                f"station {station_id} is on profile {current}; a change to {profile} is not "
                "an upgrade (downgrades are refused)"
            )
        link = self.commands.link(station_id, "profile upgrade")
        try:
            if link.ocpp_version == "1.6":
                status = await self._change_configuration(
                    station_id, "SecurityProfile", str(profile)
                )
            else:
                status = await self._network_profile(
                    station_id, profile, csms_url, configuration_slot
                )
        except CommandError as exc:
            status = type(exc).__name__
        if status not in _OK:
            self.counters["upgrade_refused"] += 1
            logger.warning(
                "station %s: security profile %d refused (%s); it stays on profile %d",
                station_id,
                profile,
                status,
                current,
            )
            await self.central.record_event(
                station_id,
                "SecurityProfileChangeRefused",
                {"profile": profile, "reason": f"station answered {status}"},
            )
            return CredentialChange(station_id, status, False)
        # Kept in the store: a restart, or the station reconnecting to another node sharing
        # the store, must not forget it (admission reads it with the station's record).
        record = await self.central.store.get_station(station_id)
        if record is not None:
            await self._store(record, pending_security_profile=profile)
        logger.info(
            "station %s: moving to security profile %d (%s); registered once it connects so",
            station_id,
            profile,
            status,
        )
        await self.central.record_event(
            station_id, "SecurityProfileChangeAccepted", {"profile": profile, "status": status}
        )
        return CredentialChange(station_id, status, True)

    async def _change_configuration(self, station_id: str, key: str, value: str) -> str:
        """A 1.6 ChangeConfiguration of ``key``: the status the station answered ("" for
        none), whatever it is; the caller judges it."""
        answer = await self.commands.send_raw(
            station_id, "ChangeConfiguration", {"key": key, "value": value}
        )
        return str(answer.get("status", ""))

    async def _network_profile(
        self, station_id: str, profile: int, csms_url: str | None, slot: int
    ) -> str:
        link = self.commands.link(station_id, "SetNetworkProfile")
        url = csms_url or self._own_url()
        answer = await self.commands.send_raw(
            station_id,
            "SetNetworkProfile",
            {
                "configurationSlot": slot,
                "connectionData": {
                    "ocppVersion": "OCPP20",
                    "ocppTransport": "JSON",
                    "ocppCsmsUrl": url,
                    "messageTimeout": 30,
                    "securityProfile": profile,
                    "ocppInterface": "Wired0",
                },
            },
        )
        status = str(answer.get("status", ""))
        if status != "Accepted":
            return status
        results = await self.commands.set_variables(
            station_id, [("OCPPCommCtrlr", "NetworkConfigurationPriority", str(slot))]
        )
        status = results[0].status if results else "Rejected"
        if status not in _OK:
            return status
        reset = await link.reset(hard=False, evse_id=None)
        return status if reset.status in ("Accepted", "Scheduled") else reset.status

    def _own_url(self) -> str:
        if self.url_of is None:
            raise ValueError("give csms_url: the wss:// URL the station should use")
        return self.url_of()

    def _on_event(self, event: DomainEvent) -> None:
        if isinstance(event, StationConnected):
            target = self.security.reached.pop(event.station_id, None)
            if target is not None:
                task = asyncio.create_task(self._raise_registered(event.station_id, target))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _raise_registered(self, station_id: str, profile: int) -> None:
        try:
            await self._raise(station_id, profile)
        except Exception:  # still pending in the store: raised at the next connection
            logger.exception("station %s: registering profile %d failed", station_id, profile)

    async def _raise(self, station_id: str, profile: int) -> None:
        record = await self.central.store.get_station(station_id)
        if record is None:
            return
        if (record.security_profile or 0) >= profile:
            if record.pending_security_profile is not None:
                await self._store(record, pending_security_profile=None)
            return
        await self._store(record, security_profile=profile, pending_security_profile=None)
        self.counters["profile_raised"] += 1
        logger.info(
            "station %s: connected on profile %d, now registered for it", station_id, profile
        )
        await self.central.record_event(station_id, "SecurityProfileChanged", {"profile": profile})


async def _hash(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)
