"""OCPP 2.1 adapter.

2.1 keeps 2.0.1's messages for everything the central system did before 2.1 (boot, status,
authorization, TransactionEvent, meter values, EV charging needs, charging profiles, device
model) and adds fields and messages around them. So a 2.1 station is served by the 2.0.1
handlers, with the 2.1 schemas validating every frame both ways and the library's 2.1
message classes; fields that 2.1 adds to those messages are accepted and left unused, but
for V2X (decision 0909): the EV's V2X parameters, available transfer modes and control mode
in its charging needs (:mod:`csms.ocpp.v2x21`), V2X charging schedules (an operation mode
per period: ``CentralSetpoint`` with signed, per-phase setpoints, ``ChargingOnly``,
``Idle``, the local modes; discharge limits) and NotifyAllowedEnergyTransfer.

What 2.1 adds that the central system takes part in is here: DER control (SetDERControl,
GetDERControl, ClearDERControl to the station; ReportDERControl, NotifyDERAlarm,
NotifyDERStartStop from it) and battery swaps (BatterySwap from the station,
RequestBatterySwap to it). Each message is translated to :mod:`csms.der.model` /
:mod:`csms.swaps.model` types at once and handed to the core (``central.der``,
``central.swaps``); a value the core cannot keep is a ``PropertyConstraintViolation``
naming the field, and nothing is stored. A charging profile with a V2X operation mode (a
storage unit's ``CentralSetpoint`` schedule) is encoded by :mod:`csms.ocpp.v2x21`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.v21 import ChargePoint as _V21ChargePoint

from csms.core.commands import CommandResult
from csms.der.model import DerAlarm, DerControl, DerControlType, DerStartStop, InvalidDerControl
from csms.domain import ChargingLimit, EVChargingNeeds
from csms.ocpp.adapter import drop_none
from csms.ocpp.base import on, parse_timestamp
from csms.ocpp.casing import camel_key
from csms.ocpp.der21 import reported_controls, set_der_control_payload
from csms.ocpp.v2x21 import v2x_charging_profile, v2x_parameters
from csms.ocpp.v201 import V201Connection
from csms.swaps.model import PackReading, SwapEvent, SwapEventKind, SwapRefused

__all__ = ["V21Connection"]


def _refused(exc: ValueError) -> PropertyConstraintViolationError:
    return PropertyConstraintViolationError(description=str(exc), details={"cause": str(exc)})


def _no_nul(data: Any, path: str = "") -> None:
    """Refuse a text holding a NUL character (schema-valid, but no database keeps it: a
    PostgreSQL text or JSONB value cannot hold one), naming the field."""
    if isinstance(data, str):
        if "\x00" in data:
            raise _refused(ValueError(f"{path}: a NUL character is not allowed in text"))
    elif isinstance(data, dict):
        for key, value in data.items():
            name = camel_key(key)
            _no_nul(value, f"{path}.{name}" if path else name)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _no_nul(value, f"{path}[{i}]")


class V21Connection(V201Connection):
    """A station speaking OCPP 2.1."""

    ocpp_version = "2.1"
    _call = _V21ChargePoint._call
    _call_result = _V21ChargePoint._call_result

    def charging_needs(self, charging_needs: dict[str, Any]) -> EVChargingNeeds:
        needs = super().charging_needs(charging_needs)
        raw = charging_needs.get("v2x_charging_parameters")
        return replace(
            needs,
            v2x=None if raw is None else v2x_parameters(raw),
            available_energy_transfer=tuple(charging_needs.get("available_energy_transfer") or ()),
            control_mode=charging_needs.get("control_mode"),
        )

    # -- from the station: DER control ------------------------------------------------------
    @on("ReportDERControl")
    async def on_report_der_control(self, request_id: int, **kw: Any) -> dict[str, Any]:
        _no_nul(kw)
        try:
            controls = reported_controls(kw)
        except InvalidDerControl as exc:
            raise _refused(exc) from None
        await self.central.der.reported(
            self.station_id, request_id=request_id, controls=controls, tbc=bool(kw.get("tbc"))
        )
        return {}

    @on("NotifyDERAlarm")
    async def on_notify_der_alarm(
        self, control_type: str, timestamp: str, **kw: Any
    ) -> dict[str, Any]:
        _no_nul(kw)
        alarm = DerAlarm(
            station_id=self.station_id,
            control_type=DerControlType(control_type),
            at=parse_timestamp(timestamp, self.ocpp_version),
            grid_event_fault=kw.get("grid_event_fault"),
            alarm_ended=bool(kw.get("alarm_ended", False)),
            extra_info=kw.get("extra_info"),
        )
        await self.central.der.alarm(alarm)
        return {}

    @on("NotifyDERStartStop")
    async def on_notify_der_start_stop(
        self, control_id: str, started: bool, timestamp: str, **kw: Any
    ) -> dict[str, Any]:
        _no_nul({"control_id": control_id, **kw})
        change = DerStartStop(
            station_id=self.station_id,
            control_id=control_id,
            started=started,
            at=parse_timestamp(timestamp, self.ocpp_version),
            superseded_ids=tuple(kw.get("superseded_ids") or ()),
        )
        await self.central.der.start_stop(change)
        return {}

    # -- from the station: battery swaps ----------------------------------------------------
    @on("BatterySwap")
    async def on_battery_swap(
        self,
        event_type: str,
        request_id: int,
        id_token: dict[str, Any],
        battery_data: list[dict[str, Any]],
        **kw: Any,
    ) -> dict[str, Any]:
        _no_nul({"id_token": id_token, "battery_data": battery_data})
        event = SwapEvent(
            station_id=self.station_id,
            kind=SwapEventKind(event_type),
            request_id=request_id,
            id_token=id_token["id_token"],
            packs=tuple(
                PackReading(b["serial_number"], int(b["evse_id"]), float(b["soc"]), float(b["soh"]))
                for b in battery_data
            ),
            at=self.central.clock.now(),
        )
        try:
            await self.central.swaps.event(event)
        except SwapRefused as exc:
            raise _refused(exc) from None
        return {}

    # -- to the station (csms.core.links.V21Link) ------------------------------------------
    async def set_der_control(self, control: DerControl) -> CommandResult:
        return await self._status_call("SetDERControl", set_der_control_payload(control))

    async def get_der_control(
        self,
        *,
        request_id: int,
        is_default: bool | None,
        control_type: DerControlType | None,
        control_id: str | None,
    ) -> CommandResult:
        payload = {
            "requestId": request_id,
            "isDefault": is_default,
            "controlType": control_type.value if control_type else None,
            "controlId": control_id,
        }
        return await self._status_call("GetDERControl", drop_none(payload))

    async def clear_der_control(
        self, *, is_default: bool, control_type: DerControlType | None, control_id: str | None
    ) -> CommandResult:
        payload = {
            "isDefault": is_default,
            "controlType": control_type.value if control_type else None,
            "controlId": control_id,
        }
        return await self._status_call("ClearDERControl", drop_none(payload))

    async def request_battery_swap(
        self, *, id_token: str, id_token_type: str | None, request_id: int
    ) -> CommandResult:
        token = {"idToken": id_token, "type": "Central" if id_token_type is None else id_token_type}
        return await self._status_call(
            "RequestBatterySwap", {"idToken": token, "requestId": request_id}
        )

    # -- to the station: V2X (csms.core.commands.V2XLink) ------------------------------------
    def plain_limit(self, limit: ChargingLimit) -> None:
        """2.1 carries V2X operation modes: nothing to refuse here."""

    def encode_profile(self, limit: ChargingLimit, *, station_tx_id: str | None) -> dict[str, Any]:
        return v2x_charging_profile(limit, station_tx_id=station_tx_id)

    async def notify_allowed_energy_transfer(
        self, *, station_tx_id: str, modes: Sequence[str]
    ) -> CommandResult:
        return await self._status_call(
            "NotifyAllowedEnergyTransfer",
            {"transactionId": station_tx_id, "allowedEnergyTransfer": list(modes)},
        )
