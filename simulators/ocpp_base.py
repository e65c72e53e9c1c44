"""What the simulated station's OCPP adapters share, whatever the version.

:class:`SimulatedChargePoint` is the station's side of a connection: the steps every
version's handlers take with the model (a remote start with its TxProfile, a charging
profile parsed and checked, the composite schedule, availability, triggers) and the handlers
that have one shape in 1.6 (security extension) and 2.0.1 (certificates). The versions'
subclasses only convert their payloads and build their answers.

:class:`AdapterBase` is what the :class:`~simulators.runner.Adapter` of every version does
alike (heartbeats, boot answers, authorization answers); the version adds its messages.
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import Any

from ocpp.charge_point import ChargePoint
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from websockets.asyncio.client import ClientConnection

from simulators.charging_profiles import (
    ChargingProfile,
    ProfileError,
    ProfilePurpose,
    RateUnit,
    parse_profile,
)
from simulators.composite import CompositeSchedule
from simulators.messages import AuthorizeRequest, Outgoing, TransactionStarted
from simulators.runner import OutItem, StationRunner
from simulators.station import Station

__all__ = ["AdapterBase", "SimulatedChargePoint"]


class SimulatedChargePoint(ChargePoint):
    """The station's side of an OCPP connection. A version's subclass also derives from the
    library's ``ChargePoint`` of that version (its message classes) and adds its handlers."""

    def __init__(self, runner: StationRunner, ws: ClientConnection) -> None:
        super().__init__(runner.station_id, ws, response_timeout=runner.response_timeout_s)
        self.runner = runner
        self.station = runner.station

    def _now(self) -> datetime:
        return self.runner.sync()

    async def route_message(self, raw_msg: str) -> None:
        await super().route_message(raw_msg)
        # An answer the session waits for is applied before the frame behind it is taken.
        await self.runner.answers.taken_in(raw_msg)

    async def _handle_call(self, msg: Any) -> None:
        # The library answers a schema-invalid or unknown call with a CALLERROR and only logs
        # it; the station also reports it (stats, summary) and goes on.
        try:
            await super()._handle_call(msg)
        except OCPPError as exc:
            self.runner.refused(msg.action, exc)
            raise
        # The answer is out: a new password or security profile a command set (1.6
        # ChangeConfiguration, 2.0.1 SetVariables) takes effect now.
        self.runner.after_answer()

    def _changed(self, out: list[Outgoing]) -> None:
        """A command changed the model: send what it said and step it now."""
        self.runner.submit(out)
        self.runner.poke()

    def _parse(self, raw: dict[str, Any], *, context: str = "") -> ChargingProfile | None:
        """The profile, or None when it is unreadable (reported, answered Rejected)."""
        try:
            return parse_profile(raw, received_at=self._now())
        except ProfileError as exc:
            self.runner.profile_rejected(f"{context}{exc}")
            return None

    # -- the steps of the commands, with the version's payload already converted ----------
    async def _remote_start(
        self,
        action: str,
        id_tag: str,
        connector_id: int | None,
        raw_profile: dict[str, Any] | None,
        *,
        name_action: bool = False,
    ) -> tuple[bool, list[Outgoing]]:
        """A remote start, with the TxProfile it may carry (any other purpose is refused;
        ``name_action``: an unreadable one is reported with the action's name)."""
        await self.runner.answer_delay()
        profile = None
        if raw_profile is not None:
            profile = self._parse(raw_profile, context=f"{action}: " if name_action else "")
            if profile is None:
                return False, []
            if profile.purpose is not ProfilePurpose.TX:
                self.runner.profile_rejected(
                    f"{action}: a {profile.purpose.value} is not a TxProfile"
                )
                return False, []
        ok, out = self.station.remote_start(id_tag, connector_id, profile, self._now())
        self._changed(out)
        return ok, out

    async def _remote_stop(self, tx_id: str) -> str:
        await self.runner.answer_delay()
        ok, out = self.station.remote_stop(tx_id, self._now())
        self._changed(out)
        return "Accepted" if ok else "Rejected"

    async def _set_profile(self, connector_id: int, raw: dict[str, Any]) -> tuple[str, str | None]:
        """SetChargingProfile: the status and why it is Rejected: ``InvalidSchedule`` for an
        unreadable profile, ``InvalidValue`` for one the station refuses (both reported)."""
        await self.runner.answer_delay()
        profile = self._parse(raw)
        if profile is None:
            return "Rejected", "InvalidSchedule"
        refusal = self.station.profile_refusal(connector_id, profile)
        if refusal is not None:
            self.runner.profile_rejected(refusal)
            return "Rejected", "InvalidValue"
        ok, out = self.station.set_profile(connector_id, profile, self._now())
        self._changed(out)
        return ("Accepted" if ok else "Rejected"), None

    async def _clear_profiles(
        self,
        *,
        profile_id: int | None,
        connector_id: int | None,
        stack_level: int | None,
        purpose: ProfilePurpose | None,
    ) -> str:
        await self.runner.answer_delay()
        ok, out = self.station.clear_profiles(
            self._now(),
            profile_id=profile_id,
            connector_id=connector_id,
            stack_level=stack_level,
            purpose=purpose,
        )
        self._changed(out)
        return "Accepted" if ok else "Unknown"

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(
        self,
        duration: int,
        charging_rate_unit: str | None = None,
        connector_id: int | None = None,  # 1.6
        evse_id: int | None = None,  # 2.0.1
        **_: Any,
    ) -> Any:
        """GetCompositeSchedule over the next ``duration`` s (W unless asked otherwise);
        Rejected for a connector the station does not have."""
        await self.runner.answer_delay()
        now = self._now()
        connector = connector_id if connector_id is not None else evse_id
        assert connector is not None  # the schema requires it
        if connector != 0 and connector not in self.station.connectors:
            return self._call_result.GetCompositeSchedule(status="Rejected")
        unit = RateUnit(charging_rate_unit or "W")
        schedule = self.station.composite(connector, duration_s=duration, unit=unit, now=now)
        return self._composite_answer(connector, duration, schedule)

    def _composite_answer(
        self, connector_id: int, duration_s: int, schedule: CompositeSchedule
    ) -> Any:
        """The version's accepted GetCompositeSchedule answer."""
        raise NotImplementedError

    async def _change_availability(self, connector_id: int, operative: bool) -> str:
        await self.runner.answer_delay()
        if connector_id != 0 and connector_id not in self.station.connectors:
            return "Rejected"
        status, out = self.station.change_availability(connector_id, operative, self._now())
        self.runner.submit(out)
        return status

    def _unlock(self, connector_id: int) -> str:
        status, out = self.station.unlock(connector_id, self._now())
        self.runner.submit(out)
        return status

    def _trigger(
        self, requested: str, connector_id: int | None, *, sample_messages: tuple[str, ...]
    ) -> bool:
        """TriggerMessage of what every version can send again; False for anything else."""
        if requested in ("BootNotification", "Heartbeat"):
            self.runner.send_later(requested)
        elif requested == "StatusNotification":
            self.runner.statuses_now(connector_id)
        elif requested in sample_messages:
            self.runner.submit(list(self.station.trigger_samples(connector_id, self._now())))
        else:
            return False
        return True

    # -- certificates: one shape in 1.6 (security extension) and 2.0.1 ----------------------
    @on("CertificateSigned")
    async def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        return self._call_result.CertificateSigned(
            status=self.runner.certificate_signed(certificate_chain)
        )

    @after("CertificateSigned")
    async def after_certificate_signed(self, **_: Any) -> None:
        self.runner.certificate_answered()

    @on("InstallCertificate")
    async def on_install_certificate(
        self, certificate_type: str, certificate: str, **_: Any
    ) -> Any:
        store = self.runner.certificates
        status = "Rejected" if store is None else store.install(certificate_type, certificate)
        return self._call_result.InstallCertificate(status=status)

    @on("DeleteCertificate")
    async def on_delete_certificate(self, certificate_hash_data: dict[str, Any], **_: Any) -> Any:
        store = self.runner.certificates
        status = "NotFound" if store is None else store.delete(certificate_hash_data)
        return self._call_result.DeleteCertificate(status=status)


class AdapterBase:
    """What every version's :class:`~simulators.runner.Adapter` does alike. Subclasses set
    ``subprotocol``, ``requests`` (the library's ``call`` module of the version) and
    ``token_info``."""

    subprotocol: str
    requests: ModuleType
    #: the answers' field with the id token's status (1.6 ``idTagInfo``, 2.0.1 ``idTokenInfo``)
    token_info: str

    def boot_request(self, station: Station) -> Any:
        raise NotImplementedError

    def boot_result(self, result: Any) -> tuple[str, int]:
        return str(result.status), int(result.interval)

    def heartbeat_request(self) -> Any:
        return self.requests.Heartbeat()

    def encode(self, item: OutItem, station: Station) -> Any | None:
        """The version's request for ``item``, or None when the version has none for it."""
        m = item.message
        if m == "Heartbeat":
            return self.heartbeat_request()
        if m == "BootNotification":
            return self.boot_request(station)
        return self.encode_message(item, station)

    def encode_message(self, item: OutItem, station: Station) -> Any | None:
        raise NotImplementedError

    def on_result(
        self, item: OutItem, result: Any, station: Station, runner: StationRunner
    ) -> list[Outgoing]:
        """The model's follow-up to the answer to ``item``: the id token's verdict on an
        Authorize or a transaction start (with the central system's id where it gives one)."""
        m = item.message
        now = runner.clock.now()
        if isinstance(m, AuthorizeRequest):
            accepted = getattr(result, self.token_info).get("status") == "Accepted"
            return list(station.on_authorized(m.connector_id, accepted, now))
        info = getattr(result, self.token_info, None)
        if isinstance(m, TransactionStarted) and info is not None:
            accepted = info.get("status") == "Accepted"
            csms_id = self.csms_transaction_id(result)
            return list(station.on_started(m.tx, accepted=accepted, csms_id=csms_id, now=now))
        return []

    def csms_transaction_id(self, result: Any) -> int | None:
        """The central system's id of a started transaction (1.6); None where the station
        names its transactions (2.0.1)."""
        return None
