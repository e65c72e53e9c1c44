"""OCPP 1.6J adapter: 1.6 messages to and from the domain model.

1.6 ``connectorId`` N is ``evse_id`` N, ``connector_id`` 1; connector 0 is the station.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ocpp.v16 import ChargePoint as _V16ChargePoint

from csms.core.commands import CommandResult, CompositeSchedule, VariableResult
from csms.core.links import ProfileClearRequest, RemoteStartRequest
from csms.domain import (
    AuthorizationResult,
    AuthorizationStatus,
    BootInfo,
    ChargingLimit,
    ChargingRateUnit,
    ConnectorStatus,
    StatusReport,
)
from csms.ocpp.adapter import VersionAdapter, drop_none, recorded, schedule_periods
from csms.ocpp.base import format_timestamp, on, parse_timestamp

__all__ = ["V16Connection", "charging_profile"]

logger = logging.getLogger(__name__)

_V16_AUTH = {
    AuthorizationStatus.ACCEPTED: "Accepted",
    AuthorizationStatus.BLOCKED: "Blocked",
    AuthorizationStatus.EXPIRED: "Expired",
    AuthorizationStatus.CONCURRENT_TX: "ConcurrentTx",
}


def _connector(connector_id: int) -> tuple[int, int]:
    return (connector_id, 1) if connector_id > 0 else (0, 0)


class V16Connection(VersionAdapter):
    """A station speaking OCPP 1.6J."""

    ocpp_version = "1.6"
    _call = _V16ChargePoint._call
    _call_result = _V16ChargePoint._call_result

    def id_tag_info(self, result: AuthorizationResult) -> dict[str, Any]:
        info: dict[str, Any] = {"status": _V16_AUTH.get(result.status, "Invalid")}
        if result.expires_at is not None:
            info["expiryDate"] = format_timestamp(result.expires_at)
        if result.group_id is not None:
            info["parentIdTag"] = result.group_id
        return info

    def sample_unit(self, sampled_value: dict[str, Any]) -> tuple[str | None, int]:
        return sampled_value.get("unit"), 0

    def unreadable(self, sampled_value: dict[str, Any], at: datetime) -> None:
        logger.info(
            "station %s: non-numeric sample %r (%s) not kept as a number",
            self.station_id,
            sampled_value["value"][:40],
            sampled_value.get("format", "Raw"),
        )
        super().unreadable(sampled_value, at)

    # -- from the station -----------------------------------------------------------------
    @on("BootNotification")
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kw: Any
    ) -> dict[str, Any]:
        info = BootInfo(
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial_number=kw.get("charge_point_serial_number")
            or kw.get("charge_box_serial_number"),
            firmware_version=kw.get("firmware_version"),
            ocpp_version="1.6",
        )
        return await self.boot_answer(info)

    @on("StatusNotification")
    async def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **kw: Any
    ) -> dict[str, Any]:
        evse_id, conn = _connector(connector_id)
        ts = kw.get("timestamp")
        await self.central.status(
            StatusReport(
                station_id=self.station_id,
                evse_id=evse_id,
                connector_id=conn,
                status=ConnectorStatus(status),
                timestamp=parse_timestamp(ts, "1.6") if ts else self.central.clock.now(),
                error_code=error_code,
                info=kw.get("info"),
                vendor_id=kw.get("vendor_id"),
                vendor_error_code=kw.get("vendor_error_code"),
            )
        )
        return {}

    @on("Authorize")
    async def on_authorize(self, id_tag: str) -> dict[str, Any]:
        result = await self.central.authorize(self.station_id, id_tag)
        return {"idTagInfo": self.id_tag_info(result)}

    @on("StartTransaction")
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kw: Any
    ) -> dict[str, Any]:
        evse_id, conn = _connector(connector_id)
        answer = await self.central.start_transaction(
            self.station_id,
            evse_id=evse_id,
            connector_id=conn,
            id_token=id_tag,
            meter_start_wh=float(meter_start),
            timestamp=parse_timestamp(timestamp, "1.6"),
            after_answer=self.after_answer(),  # announced once the station has its id
        )
        assert answer.transaction is not None and answer.authorization is not None
        return {
            "transactionId": answer.transaction.id,
            "idTagInfo": self.id_tag_info(answer.authorization),
        }

    @on("StopTransaction")
    async def on_stop_transaction(
        self, meter_stop: int, timestamp: str, transaction_id: int, **kw: Any
    ) -> dict[str, Any]:
        answer = await self.central.stop_transaction(
            self.station_id,
            transaction_id=transaction_id,
            timestamp=parse_timestamp(timestamp, "1.6"),
            meter_stop_wh=float(meter_stop),
            reason=kw.get("reason"),
            id_token=kw.get("id_tag"),
            samples=self.samples(kw.get("transaction_data") or []),
        )
        if answer.authorization is None:
            return {}
        return {"idTagInfo": self.id_tag_info(answer.authorization)}

    @on("MeterValues")
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **kw: Any
    ) -> dict[str, Any]:
        evse_id, conn = _connector(connector_id)
        await self.central.meter_values(
            self.station_id,
            evse_id=evse_id,
            connector_id=conn,
            transaction_id=kw.get("transaction_id"),
            samples=self.samples(meter_value),
        )
        return {}

    # -- the 1.6 security extension: SignCertificate, SecurityEventNotification and
    # FirmwareStatusNotification are VersionAdapter's --------------------------------------
    on_diagnostics_status_notification = recorded("DiagnosticsStatusNotification")
    on_signed_firmware_status_notification = recorded("SignedFirmwareStatusNotification")

    # -- to the station (StationLink) -----------------------------------------------------
    #: 1.6 transactions are named by the central system; id tags have no type
    station_names_transactions = False
    names_token_types = False

    async def remote_start(self, request: RemoteStartRequest) -> CommandResult:
        payload: dict[str, Any] = {"idTag": request.id_token}
        if request.evse_id is not None:
            payload["connectorId"] = request.evse_id
        if request.limit is not None:
            payload["chargingProfile"] = charging_profile(request.limit, purpose="TxProfile")
        return await self._status_call("RemoteStartTransaction", payload)

    async def remote_stop(self, *, station_tx_id: str) -> CommandResult:
        return await self._status_call(
            "RemoteStopTransaction", {"transactionId": int(station_tx_id)}
        )

    async def reset(self, *, hard: bool, evse_id: int | None) -> CommandResult:
        return await self._status_call("Reset", {"type": "Hard" if hard else "Soft"})

    async def change_availability(
        self, *, evse_id: int, connector_id: int | None, operative: bool
    ) -> CommandResult:
        return await self._status_call(
            "ChangeAvailability",
            {
                "connectorId": evse_id,
                "type": "Operative" if operative else "Inoperative",
            },
        )

    async def unlock_connector(self, *, evse_id: int, connector_id: int) -> CommandResult:
        return await self._status_call("UnlockConnector", {"connectorId": evse_id})

    async def trigger_message(
        self, *, message: str, evse_id: int | None, connector_id: int | None
    ) -> CommandResult:
        payload: dict[str, Any] = {"requestedMessage": message}
        if evse_id is not None:
            payload["connectorId"] = evse_id
        return await self._status_call("TriggerMessage", payload)

    def encode_profile(self, limit: ChargingLimit, *, station_tx_id: str | None) -> dict[str, Any]:
        return charging_profile(limit)

    async def clear_charging_profile(self, request: ProfileClearRequest) -> CommandResult:
        purpose = request.purpose
        payload = {
            "id": request.profile_id,
            "connectorId": request.evse_id,
            "chargingProfilePurpose": _purpose_16(purpose) if purpose else None,
            "stackLevel": request.stack_level,
        }
        return await self._status_call("ClearChargingProfile", drop_none(payload))

    def composite_answer(self, answer: dict[str, Any], evse_id: int) -> CompositeSchedule | None:
        sched = answer.get("chargingSchedule")
        if sched is None:
            return None
        start = answer.get("scheduleStart") or sched.get("startSchedule")
        return CompositeSchedule(
            evse_id=int(answer.get("connectorId", evse_id)),
            unit=ChargingRateUnit(sched["chargingRateUnit"]),
            start_at=parse_timestamp(start, "1.6") if start else None,
            duration_s=sched.get("duration"),
            periods=schedule_periods(sched["chargingSchedulePeriod"]),
        )

    async def get_configuration(self, keys: Sequence[str]) -> list[VariableResult]:
        answer = await self.request("GetConfiguration", {"key": list(keys)} if keys else {})
        out = [
            VariableResult(None, k["key"], k.get("value"), "Accepted", k.get("readonly"))
            for k in answer.get("configurationKey", [])
        ]
        out += [VariableResult(None, k, None, "UnknownKey") for k in answer.get("unknownKey", [])]
        return out

    async def change_configuration(self, key: str, value: str) -> CommandResult:
        return await self._status_call("ChangeConfiguration", {"key": key, "value": value})

    async def get_variables(self, items: Sequence[tuple[str, str]]) -> list[VariableResult]:
        raise self.unavailable("GetVariables")

    async def set_variables(self, items: Sequence[tuple[str, str, str]]) -> list[VariableResult]:
        raise self.unavailable("SetVariables")

    async def get_base_report(self, *, request_id: int, report_base: str) -> CommandResult:
        raise self.unavailable("GetBaseReport")


def _purpose_16(purpose: str) -> str:
    return "ChargePointMaxProfile" if purpose == "ChargingStationMaxProfile" else purpose


def charging_profile(limit: ChargingLimit, *, purpose: str | None = None) -> dict[str, Any]:
    """A 1.6 ``ChargingProfile`` for ``limit`` (limits rounded to the schema's 0.1)."""
    schedule: dict[str, Any] = {
        "chargingRateUnit": limit.unit.value,
        "chargingSchedulePeriod": [
            {"startPeriod": start, "limit": round(value, 1), "numberPhases": phases}
            for start, value, phases in limit.schedule
        ],
        "duration": limit.duration_s,
        "startSchedule": format_timestamp(limit.start_at) if limit.start_at else None,
        "minChargingRate": round(limit.min_rate, 1) if limit.min_rate is not None else None,
    }
    profile: dict[str, Any] = {
        "chargingProfileId": limit.profile_id,
        "stackLevel": limit.stack_level,
        "chargingProfilePurpose": _purpose_16(purpose or limit.purpose),
        "chargingProfileKind": "Absolute" if limit.start_at else "Relative",
        "chargingSchedule": schedule,
        "transactionId": limit.transaction_id,
        "validFrom": format_timestamp(limit.valid_from) if limit.valid_from else None,
        "validTo": format_timestamp(limit.valid_to) if limit.valid_to else None,
    }
    if purpose == "TxProfile":
        profile.pop("transactionId")
    return drop_none(profile)
