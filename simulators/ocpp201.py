"""OCPP 2.0.1 for the simulated station: thin handlers and the adapter.

Each connector of the model is an EVSE (``evseId`` = connector number) with one connector.
Handlers convert the payload, call the :class:`~simulators.station.Station` through the steps
of :class:`~simulators.ocpp_base.SimulatedChargePoint` and build the answer; the model's
messages become requests in :mod:`simulators.ocpp201_encoding`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from websockets.asyncio.client import ClientConnection

from simulators.charging_profiles import ProfilePurpose
from simulators.composite import CompositeSchedule
from simulators.messages import StatusChanged, TransactionStarted, iso, schedule_periods
from simulators.ocpp201_encoding import ENCODERS, connector_status
from simulators.ocpp_base import AdapterBase, SimulatedChargePoint
from simulators.runner import OutItem, StationRunner
from simulators.station import Station

__all__ = ["VARIABLES", "V201Adapter", "V201ChargePoint", "variable_results"]

_PURPOSES = {p.value: p for p in ProfilePurpose}
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


def _unknown(component: str) -> str:
    """The status of a variable the station does not have."""
    known = any(c == component for c, _v in VARIABLES)
    return "UnknownVariable" if known else "UnknownComponent"


def variable_results(
    items: Iterable[dict[str, Any]], value_of: Callable[[str, str], tuple[str, Any]]
) -> list[dict[str, Any]]:
    """GetVariables' results: ``value_of(component, variable)`` is the attribute status
    and the value (None: no value in the result)."""
    results = []
    for item in items:
        comp, var = item["component"], item["variable"]
        status, value = value_of(comp["name"], var["name"])
        result: dict[str, Any] = {"component": comp, "variable": var, "attribute_status": status}
        if value is not None:
            result["attribute_value"] = value
        results.append(result)
    return results


class V201ChargePoint(SimulatedChargePoint, ChargePoint):
    """The station's side of an OCPP 2.0.1 connection."""

    @on("RequestStartTransaction")
    async def on_request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.RequestStartTransaction:
        ok, out = await self._remote_start(
            "RequestStartTransaction", id_token["id_token"], evse_id, charging_profile
        )
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
        return call_result.RequestStopTransaction(status=await self._remote_stop(transaction_id))

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        status, reason = await self._set_profile(evse_id, charging_profile)
        info = None if reason is None else {"reason_code": reason}
        return call_result.SetChargingProfile(status=status, status_info=info)

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        crit = charging_profile_criteria or {}
        purpose = crit.get("charging_profile_purpose")
        status = await self._clear_profiles(
            profile_id=charging_profile_id,
            connector_id=crit.get("evse_id"),
            stack_level=crit.get("stack_level"),
            purpose=None if purpose is None else _PURPOSES[purpose],
        )
        return call_result.ClearChargingProfile(status=status)

    def _composite_answer(
        self, connector_id: int, duration_s: int, schedule: CompositeSchedule
    ) -> call_result.GetCompositeSchedule:
        periods = schedule_periods(schedule) or [{"start_period": 0, "limit": 0.0}]
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": connector_id,
                "duration": duration_s,
                "schedule_start": iso(schedule.start),
                "charging_rate_unit": schedule.unit.value,
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
        evse_id = 0 if evse is None else int(evse["id"])
        status = await self._change_availability(evse_id, operational_status == "Operative")
        return call_result.ChangeAvailability(status=status)

    @on("UnlockConnector")
    async def on_unlock(
        self, evse_id: int, connector_id: int, **_: Any
    ) -> call_result.UnlockConnector:
        await self.runner.answer_delay()
        if evse_id not in self.station.connectors or connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        return call_result.UnlockConnector(status=self._unlock(evse_id))

    @on("TriggerMessage")
    async def on_trigger(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        await self.runner.answer_delay()
        evse_id = None if evse is None else int(evse["id"])
        if requested_message == "SignChargingStationCertificate":
            ok = self.runner.request_certificate()
            return call_result.TriggerMessage(status="Accepted" if ok else "Rejected")
        samples = ("MeterValues", "TransactionEvent")
        if self._trigger(requested_message, evse_id, sample_messages=samples):
            return call_result.TriggerMessage(status="Accepted")
        return call_result.TriggerMessage(status="NotImplemented")

    @on("GetVariables")
    async def on_get_variables(
        self, get_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.GetVariables:
        await self.runner.answer_delay()

        def value_of(component: str, variable: str) -> tuple[str, Any]:
            key = VARIABLES.get((component, variable))
            if key is None:
                return _unknown(component), None
            return "Accepted", self.station.config[key]

        return call_result.GetVariables(
            get_variable_result=variable_results(get_variable_data, value_of)
        )

    @on("SetVariables")
    async def on_set_variables(
        self, set_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.SetVariables:
        await self.runner.answer_delay()
        results = [
            {
                "attribute_status": self._set_variable(
                    item["component"]["name"], item["variable"]["name"], item["attribute_value"]
                ),
                "component": item["component"],
                "variable": item["variable"],
            }
            for item in set_variable_data
        ]
        self.runner.config_changed()
        return call_result.SetVariables(set_variable_result=results)

    def _set_variable(self, component: str, variable: str, value: Any) -> str:
        """One SetVariables item's status: the credentials and network priority are the
        runner's, the configuration variables the station's."""
        if (component, variable) == ("SecurityCtrlr", "BasicAuthPassword"):
            return self.runner.change_password(str(value))
        if (component, variable) == ("OCPPCommCtrlr", "NetworkConfigurationPriority"):
            return self.runner.network_priority(str(value))
        key = VARIABLES.get((component, variable))
        if key is None:
            return _unknown(component)
        answer = self.station.set_config(key, str(value))
        return {"NotSupported": "NotSupportedAttributeType"}.get(answer, answer)

    @on("SetNetworkProfile")
    async def on_set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any], **_: Any
    ) -> call_result.SetNetworkProfile:
        status = self.runner.set_network_profile(configuration_slot, connection_data)
        return call_result.SetNetworkProfile(status=status)

    # -- certificates (A02, A03, M03-M05): CertificateSigned, InstallCertificate and
    # DeleteCertificate are SimulatedChargePoint's --------------------------------------
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


class V201Adapter(AdapterBase):
    subprotocol = "ocpp2.0.1"
    requests = call
    token_info = "id_token_info"

    def __init__(self) -> None:
        self._last_status: dict[int, str] = {}

    def charge_point(self, runner: StationRunner, ws: ClientConnection) -> V201ChargePoint:
        return V201ChargePoint(runner, ws)

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

    def sign_certificate_request(self, csr: str) -> call.SignCertificate:
        return call.SignCertificate(csr=csr, certificate_type="ChargingStationCertificate")

    def encode_message(self, item: OutItem, station: Station) -> Any | None:
        m = item.message
        if isinstance(m, StatusChanged):
            status = connector_status(m.status)
            if self._last_status.get(m.connector_id) == status:
                return None  # 1.6-style states that 2.0.1 folds into one
            self._last_status[m.connector_id] = status
            return call.StatusNotification(
                timestamp=iso(m.at), connector_status=status, evse_id=m.connector_id, connector_id=1
            )
        encoder = ENCODERS.get(type(m))
        return None if encoder is None else encoder(item)
