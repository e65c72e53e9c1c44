"""OCPP 1.6J for the simulated station: thin handlers and the encoding of model messages.

Handlers convert the payload, call the :class:`~simulators.station.Station` and return the
answer; follow-up messages go to the runner's outbox (never a call from inside a handler).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.client import ClientConnection

from simulators.charging_profiles import ProfileError, ProfilePurpose, RateUnit, parse_profile
from simulators.config import READ_ONLY
from simulators.messages import (
    AuthorizeRequest,
    MeterSample,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    iso,
    sampled_values,
    schedule_periods,
)
from simulators.runner import OutItem, StationRunner
from simulators.station import Station

__all__ = ["V16Adapter", "V16ChargePoint"]

logger = logging.getLogger(__name__)

_PURPOSES = {
    "ChargePointMaxProfile": ProfilePurpose.STATION_MAX,
    "TxDefaultProfile": ProfilePurpose.TX_DEFAULT,
    "TxProfile": ProfilePurpose.TX,
}


def _meter_value(sample: MeterSample) -> dict[str, Any]:
    values = sampled_values(sample)
    for v in values:
        v["value"] = f"{v['value']:g}" if isinstance(v["value"], float) else str(v["value"])
    return {"timestamp": iso(sample.at), "sampled_value": values}


class V16ChargePoint(ChargePoint):
    """The station's side of an OCPP 1.6J connection."""

    def __init__(self, runner: StationRunner, ws: ClientConnection) -> None:
        super().__init__(runner.station_id, ws, response_timeout=runner.response_timeout_s)
        self.runner = runner
        self.station = runner.station

    def _now(self) -> datetime:
        return self.runner.sync()

    async def _handle_call(self, msg: Any) -> None:
        # The library answers a schema-invalid or unknown call with a CALLERROR and only logs
        # it; the station also reports it (stats, summary) and goes on.
        try:
            await super()._handle_call(msg)
        except OCPPError as exc:
            self.runner.refused(msg.action, exc)
            raise

    @on("RemoteStartTransaction")
    async def on_remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.RemoteStartTransaction:
        await self.runner.answer_delay()
        profile = None
        if charging_profile is not None:
            try:
                profile = parse_profile(charging_profile, received_at=self._now())
            except ProfileError as exc:
                self.runner.profile_rejected(f"RemoteStartTransaction: {exc}")
                return call_result.RemoteStartTransaction(status="Rejected")
            if profile.purpose is not ProfilePurpose.TX:
                self.runner.profile_rejected(
                    f"RemoteStartTransaction: a {profile.purpose.value} is not a TxProfile"
                )
                return call_result.RemoteStartTransaction(status="Rejected")
        ok, out = self.station.remote_start(id_tag, connector_id, profile, self._now())
        self.runner.submit(out)
        self.runner.poke()
        return call_result.RemoteStartTransaction(status="Accepted" if ok else "Rejected")

    @on("RemoteStopTransaction")
    async def on_remote_stop(
        self, transaction_id: int, **_: Any
    ) -> call_result.RemoteStopTransaction:
        await self.runner.answer_delay()
        ok, out = self.station.remote_stop(str(transaction_id), self._now())
        self.runner.submit(out)
        self.runner.poke()
        return call_result.RemoteStopTransaction(status="Accepted" if ok else "Rejected")

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        await self.runner.answer_delay()
        try:
            profile = parse_profile(cs_charging_profiles, received_at=self._now())
        except ProfileError as exc:
            self.runner.profile_rejected(str(exc))
            return call_result.SetChargingProfile(status="Rejected")
        refusal = self.station.profile_refusal(connector_id, profile)
        if refusal is not None:
            self.runner.profile_rejected(refusal)
            return call_result.SetChargingProfile(status="Rejected")
        ok, out = self.station.set_profile(connector_id, profile, self._now())
        self.runner.submit(out)
        self.runner.poke()
        return call_result.SetChargingProfile(status="Accepted" if ok else "Rejected")

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        await self.runner.answer_delay()
        ok, out = self.station.clear_profiles(
            self._now(),
            profile_id=id,
            connector_id=connector_id,
            stack_level=stack_level,
            purpose=None
            if charging_profile_purpose is None
            else _PURPOSES[charging_profile_purpose],
        )
        self.runner.submit(out)
        self.runner.poke()
        return call_result.ClearChargingProfile(status="Accepted" if ok else "Unknown")

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> call_result.GetCompositeSchedule:
        await self.runner.answer_delay()
        now = self._now()
        if connector_id != 0 and connector_id not in self.station.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit = RateUnit(charging_rate_unit or "W")
        sched = self.station.composite(connector_id, duration_s=duration, unit=unit, now=now)
        periods = schedule_periods(sched)
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=iso(now),
            charging_schedule={
                "duration": duration,
                "start_schedule": iso(now),
                "charging_rate_unit": unit.value,
                "charging_schedule_period": periods,
            },
        )

    @on("Reset")
    async def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        await self.runner.answer_delay()
        self.runner.submit(self.station.reset(self._now(), hard=type == "Hard"))
        return call_result.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, **_: Any) -> None:
        # Only once the answer is out: the station closes the socket and boots again.
        self.runner.reboot()

    @on("ChangeAvailability")
    async def on_change_availability(
        self, connector_id: int, type: str, **_: Any
    ) -> call_result.ChangeAvailability:
        await self.runner.answer_delay()
        if connector_id != 0 and connector_id not in self.station.connectors:
            return call_result.ChangeAvailability(status="Rejected")
        status, out = self.station.change_availability(
            connector_id, type == "Operative", self._now()
        )
        self.runner.submit(out)
        return call_result.ChangeAvailability(status=status)

    @on("UnlockConnector")
    async def on_unlock(self, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        await self.runner.answer_delay()
        if connector_id not in self.station.connectors:
            return call_result.UnlockConnector(status="NotSupported")
        status, out = self.station.unlock(connector_id, self._now())
        self.runner.submit(out)
        return call_result.UnlockConnector(status=status)

    @on("TriggerMessage")
    async def on_trigger(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        await self.runner.answer_delay()
        if requested_message in ("BootNotification", "Heartbeat"):
            self.runner.send_later(requested_message)
        elif requested_message == "StatusNotification":
            self.runner.statuses_now(connector_id)
        elif requested_message == "MeterValues":
            self.runner.submit(list(self.station.trigger_samples(connector_id, self._now())))
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        return call_result.TriggerMessage(status="Accepted")

    @on("GetConfiguration")
    async def on_get_configuration(
        self, key: list[str] | None = None, **_: Any
    ) -> call_result.GetConfiguration:
        await self.runner.answer_delay()
        config = self.station.config
        wanted = key or sorted(config)
        known = [
            {"key": k, "readonly": k in READ_ONLY, "value": config[k]}
            for k in wanted
            if k in config
        ]
        unknown = [k for k in wanted if k not in config]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    async def on_change_configuration(
        self, key: str, value: str, **_: Any
    ) -> call_result.ChangeConfiguration:
        await self.runner.answer_delay()
        if key == "AuthorizationKey":  # write-only: never in GetConfiguration
            return call_result.ChangeConfiguration(status=self.runner.change_password(value))
        if key == "SecurityProfile":
            try:
                status = self.runner.change_profile(int(value))
            except ValueError:
                status = "Rejected"
            return call_result.ChangeConfiguration(status=status)
        status = self.station.set_config(key, value)
        self.runner.config_changed()
        return call_result.ChangeConfiguration(status=status)

    @after("ChangeConfiguration")
    def after_change_configuration(self, **_: Any) -> None:
        self.runner.after_answer()

    # -- the security extension: certificates ---------------------------------------------
    @on("ExtendedTriggerMessage")
    async def on_extended_trigger(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> call_result.ExtendedTriggerMessage:
        if requested_message == "SignChargePointCertificate":
            ok = self.runner.request_certificate()
            return call_result.ExtendedTriggerMessage(status="Accepted" if ok else "Rejected")
        if requested_message in ("BootNotification", "Heartbeat"):
            self.runner.send_later(requested_message)
            return call_result.ExtendedTriggerMessage(status="Accepted")
        return call_result.ExtendedTriggerMessage(status="NotImplemented")

    @on("CertificateSigned")
    async def on_certificate_signed(
        self, certificate_chain: str, **_: Any
    ) -> call_result.CertificateSigned:
        return call_result.CertificateSigned(
            status=self.runner.certificate_signed(certificate_chain)
        )

    @after("CertificateSigned")
    async def after_certificate_signed(self, **_: Any) -> None:
        self.runner.certificate_answered()

    @on("InstallCertificate")
    async def on_install_certificate(
        self, certificate_type: str, certificate: str, **_: Any
    ) -> call_result.InstallCertificate:
        store = self.runner.certificates
        status = "Rejected" if store is None else store.install(certificate_type, certificate)
        return call_result.InstallCertificate(status=status)

    @on("GetInstalledCertificateIds")
    async def on_get_installed_certificate_ids(
        self, certificate_type: str, **_: Any
    ) -> call_result.GetInstalledCertificateIds:
        store = self.runner.certificates
        found = [] if store is None else store.installed_ids([certificate_type])
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data=[data for _kind, data in found]
        )

    @on("DeleteCertificate")
    async def on_delete_certificate(
        self, certificate_hash_data: dict[str, Any], **_: Any
    ) -> call_result.DeleteCertificate:
        store = self.runner.certificates
        status = "NotFound" if store is None else store.delete(certificate_hash_data)
        return call_result.DeleteCertificate(status=status)


class V16Adapter:
    subprotocol = "ocpp1.6"

    def charge_point(self, runner: StationRunner, ws: ClientConnection) -> V16ChargePoint:
        return V16ChargePoint(runner, ws)

    def boot_request(self, station: Station) -> call.BootNotification:
        return call.BootNotification(
            charge_point_vendor=station.spec.vendor,
            charge_point_model=station.spec.model,
            charge_point_serial_number=station.spec.station_id,
        )

    def boot_result(self, result: Any) -> tuple[str, int]:
        return str(result.status), int(result.interval)

    def heartbeat_request(self) -> call.Heartbeat:
        return call.Heartbeat()

    def sign_certificate_request(self, csr: str) -> call.SignCertificate:
        return call.SignCertificate(csr=csr)

    def encode(self, item: OutItem, station: Station) -> Any | None:
        m = item.message
        if m == "Heartbeat":
            return call.Heartbeat()
        if m == "BootNotification":
            return self.boot_request(station)
        if isinstance(m, StatusChanged):
            return call.StatusNotification(
                connector_id=m.connector_id,
                error_code=m.error_code,
                status=m.status.value,
                timestamp=iso(m.at),
            )
        if isinstance(m, AuthorizeRequest):
            return call.Authorize(id_tag=m.id_tag)
        if isinstance(m, TransactionStarted):
            return call.StartTransaction(
                connector_id=m.tx.connector_id,
                id_tag=m.tx.id_tag,
                meter_start=round(m.tx.meter_start_wh),
                timestamp=iso(m.at),
            )
        if isinstance(m, MeterSample):
            if m.tx is not None and m.tx.failed:
                return None
            tx_id = None if m.tx is None else m.tx.csms_id
            return call.MeterValues(
                connector_id=m.connector_id, transaction_id=tx_id, meter_value=[_meter_value(m)]
            )
        if isinstance(m, TransactionEnded):
            if m.tx.failed or m.tx.csms_id is None:
                logger.warning(
                    "%s: dropping StopTransaction of %s: it never started at the CSMS",
                    station.spec.station_id,
                    m.tx.local_id,
                )
                return None
            return call.StopTransaction(
                meter_stop=round(m.meter_stop_wh),
                timestamp=iso(m.at),
                transaction_id=m.tx.csms_id,
                reason=m.reason.value,
                id_tag=m.tx.id_tag,
                transaction_data=None if m.last is None else [_meter_value(m.last)],
            )
        return None  # ChargingNeeds: 1.6 has no such message

    def on_result(
        self, item: OutItem, result: Any, station: Station, runner: StationRunner
    ) -> list[Any]:
        m = item.message
        now = runner.clock.now()
        if isinstance(m, AuthorizeRequest):
            accepted = result.id_tag_info.get("status") == "Accepted"
            return list(station.on_authorized(m.connector_id, accepted, now))
        if isinstance(m, TransactionStarted):
            accepted = result.id_tag_info.get("status") == "Accepted"
            return list(
                station.on_started(
                    m.tx, accepted=accepted, csms_id=int(result.transaction_id), now=now
                )
            )
        return []
