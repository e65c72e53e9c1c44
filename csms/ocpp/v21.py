"""OCPP 2.1 adapter.

2.1 keeps 2.0.1's messages for everything the central system does with charging stations
(boot, status, authorization, TransactionEvent, meter values, charging profiles, device
model), so a 2.1 station is served by the 2.0.1 handlers, with the 2.1 schemas validating
every frame both ways and the library's 2.1 message classes. On top, the bidirectional part
(decision 0909): the EV's V2X parameters, available transfer modes and control mode in its
charging needs; V2X charging schedules (an operation mode per period: ``CentralSetpoint``
with signed, per-phase setpoints, ``ChargingOnly``, ``Idle``, the local modes; discharge
limits); NotifyAllowedEnergyTransfer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ocpp.v21 import ChargePoint as _V21ChargePoint

from csms.core.commands import CommandResult
from csms.domain import ChargingLimit, EVChargingNeeds, V2XParameters, V2XPeriod
from csms.ocpp.adapter import drop_none
from csms.ocpp.v201 import V201Connection, charging_profile, planner_number
from csms.quantities import MAX_CURRENT_A, MAX_ENERGY_WH, MAX_POWER_W, MAX_VOLTAGE_V

__all__ = ["V21Connection", "v2x_charging_profile", "v2x_parameters"]

_POWERS = ("charge", "discharge")
#: snake_case key of ``V2XChargingParametersType`` -> (domain field, lowest, highest)
V2X_FIELDS: dict[str, tuple[str, float, float]] = {
    **{
        f"{edge}_{kind}_power{phase}": (f"{edge}_{kind}_power{phase}_w", 0.0, MAX_POWER_W)
        for edge in ("min", "max")
        for kind in _POWERS
        for phase in ("", "_l2", "_l3")
    },
    **{
        f"{edge}_{kind}_current": (f"{edge}_{kind}_current_a", 0.0, MAX_CURRENT_A)
        for edge in ("min", "max")
        for kind in _POWERS
    },
    "min_voltage": ("min_voltage_v", 0.0, MAX_VOLTAGE_V),
    "max_voltage": ("max_voltage_v", 0.0, MAX_VOLTAGE_V),
    **{
        f"ev_{name}_energy_request": (f"{name}_energy_wh", -MAX_ENERGY_WH, MAX_ENERGY_WH)
        for name in ("target", "min", "max", "min_v2x", "max_v2x")
    },
    "target_soc": ("target_soc_pct", 0.0, 100.0),
}


def v2x_parameters(raw: dict[str, Any]) -> V2XParameters:
    """The domain's V2X parameters of a ``v2xChargingParameters`` payload (snake_case keys):
    every number finite and in range, else a PropertyConstraintViolation naming it."""
    values: dict[str, float | None] = {}
    for key, (name, low, high) in V2X_FIELDS.items():
        values[name] = planner_number(key, raw.get(key), high, low=low)
    return V2XParameters(**values)


class V21Connection(V201Connection):
    """A station speaking OCPP 2.1."""

    ocpp_version = "2.1"
    _call = _V21ChargePoint._call
    _call_result = _V21ChargePoint._call_result
    bidirectional = True

    def charging_needs(self, charging_needs: dict[str, Any]) -> EVChargingNeeds:
        needs = super().charging_needs(charging_needs)
        raw = charging_needs.get("v2x_charging_parameters")
        return replace(
            needs,
            v2x=None if raw is None else v2x_parameters(raw),
            available_energy_transfer=tuple(charging_needs.get("available_energy_transfer") or ()),
            control_mode=charging_needs.get("control_mode"),
        )

    async def set_charging_profile(
        self, limit: ChargingLimit, *, station_tx_id: str | None
    ) -> CommandResult:
        return await self._status_call(
            "SetChargingProfile",
            {
                "evseId": limit.evse_id,
                "chargingProfile": v2x_charging_profile(limit, station_tx_id=station_tx_id),
            },
        )

    async def notify_allowed_energy_transfer(
        self, *, station_tx_id: str, modes: Sequence[str]
    ) -> CommandResult:
        return await self._status_call(
            "NotifyAllowedEnergyTransfer",
            {"transactionId": station_tx_id, "allowedEnergyTransfer": list(modes)},
        )


def _period(period: V2XPeriod) -> dict[str, Any]:
    return drop_none(
        {
            "startPeriod": period.start_s,
            "operationMode": period.mode,
            "setpoint": period.setpoint,
            "setpoint_L2": period.setpoint_l2,
            "setpoint_L3": period.setpoint_l3,
            "limit": period.limit,
            "dischargeLimit": period.discharge_limit,
        }
    )


def v2x_charging_profile(
    limit: ChargingLimit, *, purpose: str | None = None, station_tx_id: str | None = None
) -> dict[str, Any]:
    """A 2.1 ``ChargingProfile``: the 2.0.1 one, its periods the V2X periods where the limit
    has them (an operation mode each)."""
    profile = charging_profile(limit, purpose=purpose, station_tx_id=station_tx_id)
    if limit.v2x:
        profile["chargingSchedule"][0]["chargingSchedulePeriod"] = [_period(p) for p in limit.v2x]
    return profile
