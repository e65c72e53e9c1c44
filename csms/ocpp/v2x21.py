"""OCPP 2.1 V2X payloads (decision 0909): the EV's ``v2xChargingParameters`` to the domain's
:class:`~csms.domain.V2XParameters`, and a limit's V2X periods to ``chargingSchedulePeriod``s
with an operation mode each. Pure functions; :mod:`csms.ocpp.v21` calls them."""

from __future__ import annotations

from typing import Any

from csms.domain import ChargingLimit, V2XParameters, V2XPeriod
from csms.ocpp.adapter import drop_none
from csms.ocpp.v201 import charging_profile, planner_number
from csms.quantities import MAX_CURRENT_A, MAX_ENERGY_WH, MAX_POWER_W, MAX_VOLTAGE_V

__all__ = ["V2X_FIELDS", "v2x_charging_profile", "v2x_parameters"]

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
