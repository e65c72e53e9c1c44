"""OCPP 2.1 V2X charging profiles: a :class:`~csms.domain.ChargingLimit` with an operation
mode (a storage unit's ``CentralSetpoint`` schedule, ``Idle``) as 2.1 periods."""

from __future__ import annotations

from typing import Any

from csms.domain import ChargingLimit
from csms.ocpp.v201 import charging_profile

__all__ = ["v2x_charging_profile"]


def v2x_charging_profile(limit: ChargingLimit, *, station_tx_id: str | None) -> dict[str, Any]:
    """The 2.1 ``ChargingProfile`` for ``limit``: as in 2.0.1, and with an operation mode
    every period carries it; a ``CentralSetpoint`` period's value is its ``setpoint`` (no
    ``limit``), an ``Idle`` period has neither."""
    profile = charging_profile(limit, station_tx_id=station_tx_id)
    mode = limit.operation_mode
    if mode is None:
        return profile
    periods: list[dict[str, Any]] = []
    for start, value, phases in limit.schedule:
        period: dict[str, Any] = {"startPeriod": start, "operationMode": mode}
        if mode == "CentralSetpoint":
            period["setpoint"] = value
        elif mode != "Idle":
            period["limit"] = value
        if phases is not None:
            period["numberPhases"] = phases
        periods.append(period)
    profile["chargingSchedule"][0]["chargingSchedulePeriod"] = periods
    return profile
