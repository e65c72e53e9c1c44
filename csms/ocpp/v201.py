"""OCPP 2.0.1 adapter: 2.0.1 messages to and from the domain model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.v201 import ChargePoint as _V201ChargePoint

from csms.core.commands import CommandResult, CompositeSchedule, VariableResult
from csms.core.links import ProfileClearRequest, RemoteStartRequest
from csms.domain import (
    AuthorizationResult,
    BootInfo,
    ChargingLimit,
    ChargingRateUnit,
    ConnectorStatus,
    DeviceEvent,
    EVChargingNeeds,
    StatusReport,
    TransactionEventKind,
    TransactionUpdate,
)
from csms.ocpp.adapter import VersionAdapter, drop_none, schedule_periods
from csms.ocpp.base import format_timestamp, on, parse_timestamp
from csms.quantities import MAX_CURRENT_A, MAX_ENERGY_WH, MAX_POWER_W, check_finite

__all__ = ["V201Connection", "charging_profile", "planner_number"]

logger = logging.getLogger(__name__)


def _purpose_201(purpose: str) -> str:
    return "ChargingStationMaxProfile" if purpose == "ChargePointMaxProfile" else purpose


def _first(*sources: dict[str, Any], key: str) -> Any:
    """``key`` from the first of ``sources`` that has it."""
    for source in sources:
        if source.get(key) is not None:
            return source[key]
    return None


#: eventType to its kind without an Enum lookup per message
_EVENT_KINDS = {kind.value: kind for kind in TransactionEventKind}


class V201Connection(VersionAdapter):
    """A station speaking OCPP 2.0.1."""

    ocpp_version = "2.0.1"
    _call = _V201ChargePoint._call
    _call_result = _V201ChargePoint._call_result

    def id_token_info(self, result: AuthorizationResult) -> dict[str, Any]:
        info: dict[str, Any] = {"status": result.status.value}
        if result.expires_at is not None:
            info["cacheExpiryDateTime"] = format_timestamp(result.expires_at)
        if result.group_id is not None:
            info["groupIdToken"] = {"idToken": result.group_id, "type": "Central"}
        return info

    def sample_unit(self, sampled_value: dict[str, Any]) -> tuple[str | None, int]:
        uom = sampled_value.get("unit_of_measure") or {}
        return uom.get("unit"), int(uom.get("multiplier", 0))

    # -- from the station -----------------------------------------------------------------
    @on("BootNotification")
    async def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **kw: Any
    ) -> dict[str, Any]:
        info = BootInfo(
            vendor=charging_station["vendor_name"],
            model=charging_station["model"],
            serial_number=charging_station.get("serial_number"),
            firmware_version=charging_station.get("firmware_version"),
            reason=reason,
            ocpp_version=self.ocpp_version,
        )
        return await self.boot_answer(info)

    @on("StatusNotification")
    async def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **kw: Any
    ) -> dict[str, Any]:
        await self.central.status(
            StatusReport(
                station_id=self.station_id,
                evse_id=evse_id,
                connector_id=connector_id,
                status=ConnectorStatus(connector_status),
                timestamp=parse_timestamp(timestamp, self.ocpp_version),
            )
        )
        return {}

    @on("Authorize")
    async def on_authorize(self, id_token: dict[str, Any], **kw: Any) -> dict[str, Any]:
        result = await self.central.authorize(self.station_id, id_token["id_token"])
        return {"idTokenInfo": self.id_token_info(result)}

    @on("TransactionEvent")
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        **kw: Any,
    ) -> dict[str, Any]:
        evse = kw.get("evse") or {}
        id_token = kw.get("id_token")
        update = TransactionUpdate(
            station_id=self.station_id,
            kind=_EVENT_KINDS.get(event_type) or TransactionEventKind(event_type),
            timestamp=parse_timestamp(timestamp, self.ocpp_version),
            station_tx_id=transaction_info["transaction_id"],
            evse_id=evse.get("id"),
            connector_id=evse.get("connector_id"),
            id_token=id_token["id_token"] if id_token else None,
            seq_no=seq_no,
            offline=bool(kw.get("offline", False)),
            trigger_reason=trigger_reason,
            charging_state=transaction_info.get("charging_state"),
            stop_reason=transaction_info.get("stopped_reason"),
            remote_start_id=transaction_info.get("remote_start_id"),
            samples=tuple(self.samples(kw.get("meter_value") or [])),
        )
        answer = await self.central.transaction_event(update)
        if answer.authorization is None:
            return {}
        return {"idTokenInfo": self.id_token_info(answer.authorization)}

    @on("MeterValues")
    async def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **kw: Any
    ) -> dict[str, Any]:
        await self.central.meter_values(
            self.station_id,
            evse_id=evse_id,
            connector_id=1 if evse_id else 0,
            transaction_id=None,
            samples=self.samples(meter_value),
        )
        return {}

    @on("NotifyEVChargingNeeds")
    async def on_notify_ev_charging_needs(
        self, charging_needs: dict[str, Any], evse_id: int, **kw: Any
    ) -> dict[str, Any]:
        needs = self.charging_needs(charging_needs)
        tx = await self.central.ev_charging_needs(self.station_id, evse_id, needs)
        return {"status": "Accepted" if tx is not None else "Rejected"}

    def charging_needs(self, charging_needs: dict[str, Any]) -> EVChargingNeeds:
        """The domain's needs of a ``chargingNeeds`` payload, every number checked."""
        ac = charging_needs.get("ac_charging_parameters") or {}
        dc = charging_needs.get("dc_charging_parameters") or {}
        v2x = charging_needs.get("v2x_charging_parameters") or {}  # 2.1 (ISO 15118-20)
        departure = charging_needs.get("departure_time")
        energy = _first(ac, dc, key="energy_amount")
        if energy is None and v2x.get("ev_target_energy_request") is not None:
            # signed: an EV above its target SoC asks for nothing more
            target = v2x["ev_target_energy_request"]
            energy = max(0.0, _signed("evTargetEnergyRequest", target, MAX_ENERGY_WH))
        return EVChargingNeeds(
            energy_requested_wh=planner_number("energyAmount", energy, MAX_ENERGY_WH),
            departure_at=parse_timestamp(departure, self.ocpp_version) if departure else None,
            max_current_a=planner_number(
                "evMaxCurrent",
                _first(ac, dc, key="ev_max_current") or v2x.get("max_charge_current"),
                MAX_CURRENT_A,
            ),
            min_current_a=planner_number(
                "evMinCurrent",
                ac.get("ev_min_current", v2x.get("min_charge_current")),
                MAX_CURRENT_A,
            ),
            max_power_w=planner_number(
                "evMaxPower", dc.get("ev_max_power", v2x.get("max_charge_power")), MAX_POWER_W
            ),
            energy_transfer_mode=charging_needs.get("requested_energy_transfer"),
            soc_pct=planner_number("stateOfCharge", dc.get("state_of_charge"), 100),
            capacity_wh=planner_number(
                "evEnergyCapacity", dc.get("ev_energy_capacity"), MAX_ENERGY_WH
            ),
            bulk_soc_pct=planner_number("bulkSOC", dc.get("bulk_soc"), 100),
            full_soc_pct=planner_number("fullSOC", dc.get("full_soc"), 100),
        )

    @on("NotifyReport")
    async def on_notify_report(self, **kw: Any) -> dict[str, Any]:
        at = parse_timestamp(kw["generated_at"], self.ocpp_version)
        await self.central.record_event(self.station_id, "NotifyReport", kw, at=at)
        return {}

    @on("NotifyEvent")
    async def on_notify_event(self, **kw: Any) -> dict[str, Any]:
        at = parse_timestamp(kw["generated_at"], self.ocpp_version)
        events = tuple(self._device_event(e) for e in kw.get("event_data") or ())
        await self.central.device_events(self.station_id, events, kw, at)
        return {}

    def _device_event(self, data: dict[str, Any]) -> DeviceEvent:
        component = data.get("component") or {}
        return DeviceEvent(
            component=str(component.get("name", "")),
            variable=str((data.get("variable") or {}).get("name", "")),
            evse_id=(component.get("evse") or {}).get("id"),
            trigger=str(data.get("trigger", "")),
            actual_value=str(data.get("actual_value", "")),
            timestamp=parse_timestamp(data["timestamp"], self.ocpp_version),
            cleared=bool(data.get("cleared", False)),
            tech_code=data.get("tech_code"),
        )

    # -- to the station (StationLink) -----------------------------------------------------
    #: 2.0.1 stations name their transactions; id tokens have a type
    station_names_transactions = True
    names_token_types = True
    commands_version = "2.0.1"
    evse_field = "evseId"
    profile_field = "chargingProfile"

    async def remote_start(self, request: RemoteStartRequest) -> CommandResult:
        token_type = request.id_token_type
        payload: dict[str, Any] = {
            "idToken": {
                "idToken": request.id_token,
                "type": "Central" if token_type is None else token_type,
            },
            "remoteStartId": request.remote_start_id,
        }
        if request.evse_id is not None:
            payload["evseId"] = request.evse_id
        if request.limit is not None:
            payload["chargingProfile"] = charging_profile(
                request.limit, purpose="TxProfile", station_tx_id=request.station_tx_id
            )
        return await self._status_call("RequestStartTransaction", payload)

    async def remote_stop(self, *, station_tx_id: str) -> CommandResult:
        return await self._status_call("RequestStopTransaction", {"transactionId": station_tx_id})

    async def reset(self, *, hard: bool, evse_id: int | None) -> CommandResult:
        payload: dict[str, Any] = {"type": "Immediate" if hard else "OnIdle"}
        if evse_id:
            payload["evseId"] = evse_id
        return await self._status_call("Reset", payload)

    async def change_availability(
        self, *, evse_id: int, connector_id: int | None, operative: bool
    ) -> CommandResult:
        payload: dict[str, Any] = {"operationalStatus": "Operative" if operative else "Inoperative"}
        if evse_id:
            payload["evse"] = drop_none({"id": evse_id, "connectorId": connector_id})
        return await self._status_call("ChangeAvailability", payload)

    async def unlock_connector(self, *, evse_id: int, connector_id: int) -> CommandResult:
        return await self._status_call(
            "UnlockConnector", {"evseId": evse_id, "connectorId": connector_id}
        )

    async def trigger_message(
        self, *, message: str, evse_id: int | None, connector_id: int | None
    ) -> CommandResult:
        payload: dict[str, Any] = {"requestedMessage": message}
        if evse_id is not None:
            payload["evse"] = drop_none({"id": evse_id, "connectorId": connector_id})
        return await self._status_call("TriggerMessage", payload)

    def encode_profile(self, limit: ChargingLimit, *, station_tx_id: str | None) -> dict[str, Any]:
        return charging_profile(limit, station_tx_id=station_tx_id)

    async def clear_charging_profile(self, request: ProfileClearRequest) -> CommandResult:
        purpose = request.purpose
        criteria = drop_none(
            {
                "evseId": request.evse_id,
                "chargingProfilePurpose": _purpose_201(purpose) if purpose else None,
                "stackLevel": request.stack_level,
            }
        )
        payload: dict[str, Any] = {}
        if request.profile_id is not None:
            payload["chargingProfileId"] = request.profile_id
        if criteria:
            payload["chargingProfileCriteria"] = criteria
        return await self._status_call("ClearChargingProfile", payload)

    def composite_answer(self, answer: dict[str, Any], evse_id: int) -> CompositeSchedule | None:
        sched = answer.get("schedule")
        if sched is None:
            return None
        return CompositeSchedule(
            evse_id=int(sched["evseId"]),
            unit=ChargingRateUnit(sched["chargingRateUnit"]),
            start_at=parse_timestamp(sched["scheduleStart"], self.ocpp_version),
            duration_s=sched.get("duration"),
            periods=schedule_periods(sched["chargingSchedulePeriod"]),
        )

    async def get_configuration(self, keys: Sequence[str]) -> list[VariableResult]:
        raise self.unavailable("GetConfiguration")

    async def change_configuration(self, key: str, value: str) -> CommandResult:
        raise self.unavailable("ChangeConfiguration")

    async def get_variables(self, items: Sequence[tuple[str, str]]) -> list[VariableResult]:
        answer = await self.request(
            "GetVariables",
            {
                "getVariableData": [
                    {"component": {"name": c}, "variable": {"name": v}} for c, v in items
                ]
            },
        )
        return [
            VariableResult(
                r["component"]["name"],
                r["variable"]["name"],
                r.get("attributeValue"),
                r["attributeStatus"],
            )
            for r in answer["getVariableResult"]
        ]

    async def set_variables(self, items: Sequence[tuple[str, str, str]]) -> list[VariableResult]:
        answer = await self.request(
            "SetVariables",
            {
                "setVariableData": [
                    {"attributeValue": value, "component": {"name": c}, "variable": {"name": v}}
                    for c, v, value in items
                ]
            },
        )
        return [
            VariableResult(
                r["component"]["name"], r["variable"]["name"], None, r["attributeStatus"]
            )
            for r in answer["setVariableResult"]
        ]

    async def get_base_report(self, *, request_id: int, report_base: str) -> CommandResult:
        return await self._status_call(
            "GetBaseReport", {"requestId": request_id, "reportBase": report_base}
        )


def charging_profile(
    limit: ChargingLimit, *, purpose: str | None = None, station_tx_id: str | None = None
) -> dict[str, Any]:
    """A 2.0.1 ``ChargingProfile`` for ``limit``; a TxProfile names the transaction by the
    station's id ``station_tx_id`` (resolved by :class:`~csms.core.commands.Commands`)."""
    purpose = purpose or limit.purpose
    schedule: dict[str, Any] = {
        "id": limit.profile_id,
        "chargingRateUnit": limit.unit.value,
        "chargingSchedulePeriod": [
            {"startPeriod": start, "limit": value, "numberPhases": phases}
            for start, value, phases in limit.schedule
        ],
        "duration": limit.duration_s,
        "startSchedule": format_timestamp(limit.start_at) if limit.start_at else None,
        "minChargingRate": limit.min_rate,
    }
    return drop_none(
        {
            "id": limit.profile_id,
            "stackLevel": limit.stack_level,
            "chargingProfilePurpose": _purpose_201(purpose),
            "chargingProfileKind": "Absolute" if limit.start_at else "Relative",
            "chargingSchedule": [schedule],
            "transactionId": station_tx_id if purpose == "TxProfile" else None,
            "validFrom": format_timestamp(limit.valid_from) if limit.valid_from else None,
            "validTo": format_timestamp(limit.valid_to) if limit.valid_to else None,
        }
    )


def _signed(name: str, value: Any, high: float) -> float:
    number = planner_number(name, value, high, low=-high)
    assert number is not None
    return number


def planner_number(name: str, value: Any, high: float, *, low: float = 0) -> float | None:
    """A number the planner uses: finite and in ``[low, high]``, or the message is refused
    with a PropertyConstraintViolation naming the field (see :mod:`csms.quantities`)."""
    if value is None:
        return None
    try:
        return check_finite(name, float(value), low=low, high=high)
    except (TypeError, ValueError) as exc:  # NotFinite is a ValueError
        raise PropertyConstraintViolationError(description=str(exc)) from None
