"""OCPP 1.6J for the simulated station: thin handlers and the encoding of model messages.

Handlers convert the payload, call the :class:`~simulators.station.Station` and return the
answer; follow-up messages go to the runner's outbox (never a call from inside a handler).
"""

from __future__ import annotations

import logging
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.client import ClientConnection

from simulators.charging_profiles import ProfilePurpose
from simulators.composite import CompositeSchedule
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
from simulators.ocpp_base import AdapterBase, SimulatedChargePoint
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


class V16ChargePoint(SimulatedChargePoint, ChargePoint):
    """The station's side of an OCPP 1.6J connection."""

    @on("RemoteStartTransaction")
    async def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, **kw: Any
    ) -> call_result.RemoteStartTransaction:
        profile = kw.get("charging_profile")
        ok, _out = await self._remote_start(
            "RemoteStartTransaction", id_tag, connector_id, profile, name_action=True
        )
        return call_result.RemoteStartTransaction(status="Accepted" if ok else "Rejected")

    @on("RemoteStopTransaction")
    async def on_remote_stop(
        self, transaction_id: int, **_: Any
    ) -> call_result.RemoteStopTransaction:
        status = await self._remote_stop(str(transaction_id))
        return call_result.RemoteStopTransaction(status=status)

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        status, _reason = await self._set_profile(connector_id, cs_charging_profiles)
        return call_result.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        status = await self._clear_profiles(
            profile_id=id,
            connector_id=connector_id,
            stack_level=stack_level,
            purpose=None
            if charging_profile_purpose is None
            else _PURPOSES[charging_profile_purpose],
        )
        return call_result.ClearChargingProfile(status=status)

    def _composite_answer(
        self, connector_id: int, duration_s: int, schedule: CompositeSchedule
    ) -> call_result.GetCompositeSchedule:
        start = iso(schedule.start)
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=start,
            charging_schedule={
                "duration": duration_s,
                "start_schedule": start,
                "charging_rate_unit": schedule.unit.value,
                "charging_schedule_period": schedule_periods(schedule),
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
        status = await self._change_availability(connector_id, type == "Operative")
        return call_result.ChangeAvailability(status=status)

    @on("UnlockConnector")
    async def on_unlock(self, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        await self.runner.answer_delay()
        if connector_id not in self.station.connectors:
            return call_result.UnlockConnector(status="NotSupported")
        return call_result.UnlockConnector(status=self._unlock(connector_id))

    @on("TriggerMessage")
    async def on_trigger(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        await self.runner.answer_delay()
        ok = self._trigger(requested_message, connector_id, sample_messages=("MeterValues",))
        return call_result.TriggerMessage(status="Accepted" if ok else "NotImplemented")

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


class V16Adapter(AdapterBase):
    subprotocol = "ocpp1.6"
    requests = call
    token_info = "id_tag_info"

    def charge_point(self, runner: StationRunner, ws: ClientConnection) -> V16ChargePoint:
        return V16ChargePoint(runner, ws)

    def boot_request(self, station: Station) -> call.BootNotification:
        return call.BootNotification(
            charge_point_vendor=station.spec.vendor,
            charge_point_model=station.spec.model,
            charge_point_serial_number=station.spec.station_id,
        )

    def sign_certificate_request(self, csr: str) -> call.SignCertificate:
        return call.SignCertificate(csr=csr)

    def encode_message(self, item: OutItem, station: Station) -> Any | None:
        m = item.message
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

    def csms_transaction_id(self, result: Any) -> int | None:
        return int(result.transaction_id)
