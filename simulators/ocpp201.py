"""OCPP 2.0.1 for the simulated station: thin handlers and the encoding of model messages.

Each connector of the model is an EVSE (``evseId`` = connector number) with one connector.
Transactions are TransactionEvents (Started / Updated / Ended) with a per-transaction
``seqNo``; those produced while offline carry ``offline=true``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from websockets.asyncio.client import ClientConnection

from chargegrid.charging_profiles import ProfileError, ProfilePurpose, RateUnit, parse_profile
from chargegrid.measurands import DEFAULT_MEASURAND
from simulators.messages import (
    AuthorizeRequest,
    ChargingNeeds,
    ChargingStateChanged,
    ConnectorStatus,
    MeterSample,
    StatusChanged,
    StopReason,
    TransactionEnded,
    TransactionStarted,
    iso,
    sampled_values,
    schedule_periods,
)
from simulators.runner import OutItem, StationRunner
from simulators.station import Station

__all__ = ["V201Adapter", "V201ChargePoint"]

logger = logging.getLogger(__name__)

_STATUS = {
    ConnectorStatus.AVAILABLE: "Available",
    ConnectorStatus.UNAVAILABLE: "Unavailable",
    ConnectorStatus.FAULTED: "Faulted",
}
_CHARGING_STATE = {
    ConnectorStatus.CHARGING: "Charging",
    ConnectorStatus.SUSPENDED_EV: "SuspendedEV",
    ConnectorStatus.SUSPENDED_EVSE: "SuspendedEVSE",
    ConnectorStatus.PREPARING: "EVConnected",
    ConnectorStatus.FINISHING: "EVConnected",
}
_STOPPED = {
    StopReason.EV_DISCONNECTED: "EVDisconnected",
    StopReason.LOCAL: "Local",
    StopReason.REMOTE: "Remote",
    StopReason.REBOOT: "ImmediateReset",
    StopReason.SOFT_RESET: "Reboot",
    StopReason.DEAUTHORIZED: "DeAuthorized",
    StopReason.UNLOCK: "Other",
    StopReason.FAULT: "Other",
}
_PURPOSES = {p.value: p for p in ProfilePurpose}
_TRANSFER = {1: "AC_single_phase", 2: "AC_two_phase", 3: "AC_three_phase"}
#: (component, variable) -> the station's configuration key.
VARIABLES = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
    ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval",
    ("AlignedDataCtrlr", "Interval"): "MeterValueSampleInterval",
    ("SmartChargingCtrlr", "ProfileStackLevel"): "ChargeProfileMaxStackLevel",
    ("SmartChargingCtrlr", "RateUnit"): "ChargingScheduleAllowedChargingRateUnit",
    ("AuthCtrlr", "LocalAuthorizeOffline"): "LocalAuthorizeOffline",
    ("AuthCtrlr", "AuthorizeRemoteStart"): "AuthorizeRemoteTxRequests",
}


def _meter_value(sample: MeterSample) -> dict[str, Any]:
    values = sampled_values(sample)
    for v in values:
        v["value"] = float(v["value"])
        v["unit_of_measure"] = {"unit": v.pop("unit")}
    return {"timestamp": iso(sample.at), "sampled_value": values}


class V201ChargePoint(ChargePoint):
    """The station's side of an OCPP 2.0.1 connection."""

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

    def _parse(self, raw: dict[str, Any]) -> Any:
        try:
            return parse_profile(raw, received_at=self._now())
        except ProfileError as exc:
            self.runner.profile_rejected(str(exc))
            return None

    @on("RequestStartTransaction")
    async def on_request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.RequestStartTransaction:
        await self.runner.answer_delay()
        profile = None
        if charging_profile is not None:
            profile = self._parse(charging_profile)
            if profile is None:
                return call_result.RequestStartTransaction(status="Rejected")
            if profile.purpose is not ProfilePurpose.TX:
                self.runner.profile_rejected(
                    f"RequestStartTransaction: a {profile.purpose.value} is not a TxProfile"
                )
                return call_result.RequestStartTransaction(status="Rejected")
        ok, out = self.station.remote_start(id_token["id_token"], evse_id, profile, self._now())
        self.runner.submit(out)
        self.runner.poke()
        tx_id = None
        for m in out:
            if isinstance(m, TransactionStarted):
                m.tx.remote_start_id = remote_start_id
                tx_id = m.tx.local_id
        return call_result.RequestStartTransaction(
            status="Accepted" if ok else "Rejected", transaction_id=tx_id
        )

    @on("RequestStopTransaction")
    async def on_request_stop(
        self, transaction_id: str, **_: Any
    ) -> call_result.RequestStopTransaction:
        await self.runner.answer_delay()
        ok, out = self.station.remote_stop(transaction_id, self._now())
        self.runner.submit(out)
        self.runner.poke()
        return call_result.RequestStopTransaction(status="Accepted" if ok else "Rejected")

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        await self.runner.answer_delay()
        profile = self._parse(charging_profile)
        if profile is None:
            return call_result.SetChargingProfile(
                status="Rejected", status_info={"reason_code": "InvalidSchedule"}
            )
        refusal = self.station.profile_refusal(evse_id, profile)
        if refusal is not None:
            self.runner.profile_rejected(refusal)
            return call_result.SetChargingProfile(
                status="Rejected", status_info={"reason_code": "InvalidValue"}
            )
        ok, out = self.station.set_profile(evse_id, profile, self._now())
        self.runner.submit(out)
        self.runner.poke()
        return call_result.SetChargingProfile(status="Accepted" if ok else "Rejected")

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        await self.runner.answer_delay()
        crit = charging_profile_criteria or {}
        purpose = crit.get("charging_profile_purpose")
        ok, out = self.station.clear_profiles(
            self._now(),
            profile_id=charging_profile_id,
            connector_id=crit.get("evse_id"),
            stack_level=crit.get("stack_level"),
            purpose=None if purpose is None else _PURPOSES[purpose],
        )
        self.runner.submit(out)
        self.runner.poke()
        return call_result.ClearChargingProfile(status="Accepted" if ok else "Unknown")

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> call_result.GetCompositeSchedule:
        await self.runner.answer_delay()
        now = self._now()
        if evse_id != 0 and evse_id not in self.station.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit = RateUnit(charging_rate_unit or "W")
        sched = self.station.composite(evse_id, duration_s=duration, unit=unit, now=now)
        periods = schedule_periods(sched)
        if not periods:
            periods = [{"start_period": 0, "limit": 0.0}]
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": iso(now),
                "charging_rate_unit": unit.value,
                "charging_schedule_period": periods,
            },
        )

    @on("Reset")
    async def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> call_result.Reset:
        await self.runner.answer_delay()
        if evse_id is not None:
            return call_result.Reset(status="Rejected")
        now = self._now()
        if type == "OnIdle" and any(c.tx is not None for c in self.station.connectors.values()):
            self.runner.reset_when_idle = True  # reboots once the last transaction has ended
            return call_result.Reset(status="Scheduled")
        self.runner.submit(self.station.reset(now, hard=True))
        return call_result.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, evse_id: int | None = None, **_: Any) -> None:
        # Only once the answer is out: the station closes the socket and boots again.
        if evse_id is None and not self.runner.reset_when_idle:
            self.runner.reboot()

    @on("ChangeAvailability")
    async def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.ChangeAvailability:
        await self.runner.answer_delay()
        evse_id = 0 if evse is None else int(evse["id"])
        if evse_id != 0 and evse_id not in self.station.connectors:
            return call_result.ChangeAvailability(status="Rejected")
        status, out = self.station.change_availability(
            evse_id, operational_status == "Operative", self._now()
        )
        self.runner.submit(out)
        return call_result.ChangeAvailability(status=status)

    @on("UnlockConnector")
    async def on_unlock(
        self, evse_id: int, connector_id: int, **_: Any
    ) -> call_result.UnlockConnector:
        await self.runner.answer_delay()
        if evse_id not in self.station.connectors or connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        status, out = self.station.unlock(evse_id, self._now())
        self.runner.submit(out)
        return call_result.UnlockConnector(status=status)

    @on("TriggerMessage")
    async def on_trigger(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        await self.runner.answer_delay()
        evse_id = None if evse is None else int(evse["id"])
        if requested_message in ("BootNotification", "Heartbeat"):
            self.runner.send_later(requested_message)
        elif requested_message == "StatusNotification":
            self.runner.statuses_now(evse_id)
        elif requested_message in ("MeterValues", "TransactionEvent"):
            self.runner.submit(list(self.station.trigger_samples(evse_id, self._now())))
        elif requested_message == "SignChargingStationCertificate":
            if not self.runner.request_certificate():
                return call_result.TriggerMessage(status="Rejected")
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        return call_result.TriggerMessage(status="Accepted")

    @on("GetVariables")
    async def on_get_variables(
        self, get_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.GetVariables:
        await self.runner.answer_delay()
        results = []
        for item in get_variable_data:
            comp, var = item["component"], item["variable"]
            key = VARIABLES.get((comp["name"], var["name"]))
            result: dict[str, Any] = {"component": comp, "variable": var}
            if key is None:
                known = any(c == comp["name"] for c, _v in VARIABLES)
                result["attribute_status"] = "UnknownVariable" if known else "UnknownComponent"
            else:
                result["attribute_status"] = "Accepted"
                result["attribute_value"] = self.station.config[key]
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on("SetVariables")
    async def on_set_variables(
        self, set_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.SetVariables:
        await self.runner.answer_delay()
        results = []
        for item in set_variable_data:
            comp, var = item["component"], item["variable"]
            key = VARIABLES.get((comp["name"], var["name"]))
            special = (comp["name"], var["name"])
            if special == ("SecurityCtrlr", "BasicAuthPassword"):
                status = self.runner.change_password(str(item["attribute_value"]))
                results.append({"attribute_status": status, "component": comp, "variable": var})
                continue
            if special == ("OCPPCommCtrlr", "NetworkConfigurationPriority"):
                status = self.runner.network_priority(str(item["attribute_value"]))
                results.append({"attribute_status": status, "component": comp, "variable": var})
                continue
            if key is None:
                known = any(c == comp["name"] for c, _v in VARIABLES)
                status = "UnknownVariable" if known else "UnknownComponent"
            else:
                answer = self.station.set_config(key, str(item["attribute_value"]))
                status = {"NotSupported": "NotSupportedAttributeType"}.get(answer, answer)
            results.append({"attribute_status": status, "component": comp, "variable": var})
        self.runner.config_changed()
        return call_result.SetVariables(set_variable_result=results)

    @after("SetVariables")
    def after_set_variables(self, **_: Any) -> None:
        self.runner.after_answer()

    @on("SetNetworkProfile")
    async def on_set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any], **_: Any
    ) -> call_result.SetNetworkProfile:
        status = self.runner.set_network_profile(configuration_slot, connection_data)
        return call_result.SetNetworkProfile(status=status)

    # -- certificates (A02, A03, M03-M05) ----------------------------------------------------
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
        self, certificate_type: list[str] | None = None, **_: Any
    ) -> call_result.GetInstalledCertificateIds:
        store = self.runner.certificates
        found = [] if store is None else store.installed_ids(certificate_type)
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted",
            certificate_hash_data_chain=[
                {"certificate_type": kind, "certificate_hash_data": data} for kind, data in found
            ],
        )

    @on("DeleteCertificate")
    async def on_delete_certificate(
        self, certificate_hash_data: dict[str, Any], **_: Any
    ) -> call_result.DeleteCertificate:
        store = self.runner.certificates
        status = "NotFound" if store is None else store.delete(certificate_hash_data)
        return call_result.DeleteCertificate(status=status)


class V201Adapter:
    subprotocol = "ocpp2.0.1"

    def charge_point(self, runner: StationRunner, ws: ClientConnection) -> V201ChargePoint:
        return V201ChargePoint(runner, ws)

    def __init__(self) -> None:
        self._last_status: dict[int, str] = {}

    def boot_request(self, station: Station) -> call.BootNotification:
        self._last_status.clear()
        return call.BootNotification(
            charging_station={
                "model": station.spec.model,
                "vendor_name": station.spec.vendor,
                "serial_number": station.spec.station_id,
            },
            reason="PowerUp",
        )

    def boot_result(self, result: Any) -> tuple[str, int]:
        return str(result.status), int(result.interval)

    def heartbeat_request(self) -> call.Heartbeat:
        return call.Heartbeat()

    def sign_certificate_request(self, csr: str) -> call.SignCertificate:
        return call.SignCertificate(csr=csr, certificate_type="ChargingStationCertificate")

    def encode(self, item: OutItem, station: Station) -> Any | None:
        m = item.message
        if m == "Heartbeat":
            return call.Heartbeat()
        if m == "BootNotification":
            return self.boot_request(station)
        if isinstance(m, StatusChanged):
            status = _STATUS.get(m.status, "Occupied")
            if self._last_status.get(m.connector_id) == status:
                return None  # 1.6-style states that 2.0.1 folds into one
            self._last_status[m.connector_id] = status
            return call.StatusNotification(
                timestamp=iso(m.at), connector_status=status, evse_id=m.connector_id, connector_id=1
            )
        if isinstance(m, AuthorizeRequest):
            return call.Authorize(id_token={"id_token": m.id_tag, "type": "ISO14443"})
        if isinstance(m, ChargingNeeds):
            params: dict[str, Any] = {
                "energy_amount": round(m.energy_amount_wh),
                "ev_max_current": round(m.max_current_a),
                "ev_max_voltage": round(m.max_voltage_v),
            }
            needs: dict[str, Any] = {"requested_energy_transfer": _TRANSFER[m.phases]}
            if m.dc:
                needs["requested_energy_transfer"] = "DC"
            if m.departure is not None:
                needs["departure_time"] = iso(m.departure)
            if m.dc:
                needs["dc_charging_parameters"] = {
                    "ev_max_current": round(m.max_current_a),
                    "ev_max_voltage": round(m.max_voltage_v),
                    "energy_amount": round(m.energy_amount_wh),
                    "state_of_charge": round(m.soc_pct),
                }
                battery = {
                    "ev_energy_capacity": m.capacity_wh,
                    "bulk_soc": m.bulk_soc_pct,
                    "full_soc": m.full_soc_pct,
                }
                needs["dc_charging_parameters"].update(
                    {k: round(v) for k, v in battery.items() if v is not None}
                )
            else:
                needs["ac_charging_parameters"] = {
                    **params,
                    "ev_min_current": round(m.min_current_a),
                }
            return call.NotifyEVChargingNeeds(charging_needs=needs, evse_id=m.connector_id)
        if isinstance(m, TransactionStarted):
            tx = m.tx
            return call.TransactionEvent(
                event_type="Started",
                timestamp=iso(m.at),
                trigger_reason="RemoteStart" if tx.remote else "Authorized",
                seq_no=m.seq_no,
                offline=item.offline or None,
                transaction_info={
                    "transaction_id": tx.local_id,
                    "charging_state": "EVConnected",
                    **(
                        {"remote_start_id": tx.remote_start_id}
                        if tx.remote_start_id is not None
                        else {}
                    ),
                },
                evse={"id": tx.connector_id, "connector_id": 1},
                id_token={"id_token": tx.id_tag, "type": "ISO14443"},
                meter_value=[
                    {
                        "timestamp": iso(m.at),
                        "sampled_value": [
                            {
                                "value": tx.meter_start_wh,
                                "measurand": DEFAULT_MEASURAND,
                                "context": "Transaction.Begin",
                                "unit_of_measure": {"unit": "Wh"},
                            }
                        ],
                    }
                ],
            )
        if isinstance(m, MeterSample):
            if m.tx is None:
                return call.MeterValues(evse_id=m.connector_id, meter_value=[_meter_value(m)])
            state = "Charging" if m.power_w > 0 else "SuspendedEVSE"
            return call.TransactionEvent(
                event_type="Updated",
                timestamp=iso(m.at),
                trigger_reason="Trigger" if m.context == "Trigger" else "MeterValuePeriodic",
                seq_no=m.seq_no,
                offline=item.offline or None,
                transaction_info={"transaction_id": m.tx.local_id, "charging_state": state},
                meter_value=[_meter_value(m)],
            )
        if isinstance(m, ChargingStateChanged):
            return call.TransactionEvent(
                event_type="Updated",
                timestamp=iso(m.at),
                trigger_reason="ChargingStateChanged",
                seq_no=m.seq_no,
                offline=item.offline or None,
                transaction_info={
                    "transaction_id": m.tx.local_id,
                    "charging_state": _CHARGING_STATE[m.state],
                },
            )
        if isinstance(m, TransactionEnded):
            trigger = {
                StopReason.EV_DISCONNECTED: "EVCommunicationLost",
                StopReason.REMOTE: "RemoteStop",
                StopReason.FAULT: "ChargingStateChanged",
                StopReason.UNLOCK: "UnlockCommand",
                StopReason.REBOOT: "ResetCommand",
                StopReason.SOFT_RESET: "ResetCommand",
                StopReason.DEAUTHORIZED: "Deauthorized",
            }.get(m.reason, "StopAuthorized")
            if m.reason is StopReason.EV_DISCONNECTED:
                trigger = "EVDeparted"
            stopped_by = None  # the driver's token, when the driver stopped it with it
            if m.reason is StopReason.LOCAL and m.tx.id_tag:
                stopped_by = {"id_token": m.tx.id_tag, "type": "ISO14443"}
            return call.TransactionEvent(
                event_type="Ended",
                timestamp=iso(m.at),
                trigger_reason=trigger,
                seq_no=m.seq_no,
                offline=item.offline or None,
                id_token=stopped_by,
                transaction_info={
                    "transaction_id": m.tx.local_id,
                    "stopped_reason": _STOPPED[m.reason],
                    "charging_state": "Idle",
                },
                meter_value=None if m.last is None else [_meter_value(m.last)],
            )
        return None

    def on_result(
        self, item: OutItem, result: Any, station: Station, runner: StationRunner
    ) -> list[Any]:
        m = item.message
        now = runner.clock.now()
        if isinstance(m, AuthorizeRequest):
            accepted = result.id_token_info.get("status") == "Accepted"
            return list(station.on_authorized(m.connector_id, accepted, now))
        if isinstance(m, TransactionStarted) and result.id_token_info is not None:
            accepted = result.id_token_info.get("status") == "Accepted"
            return list(station.on_started(m.tx, accepted=accepted, csms_id=None, now=now))
        return []
