"""OCPP 2.1 adapter.

2.1 keeps 2.0.1's messages for everything the central system does today (boot, status,
authorization, TransactionEvent, meter values, EV charging needs, charging profiles, device
model) and adds fields and messages around them (V2X, DER control, tariffs). So a 2.1 station
is served by the 2.0.1 handlers, with the 2.1 schemas validating every frame both ways and the
library's 2.1 message classes; fields that 2.1 adds are accepted and left unused, except the
V2X operation mode of a charging profile's periods, which a :class:`ChargingLimit` with an
``operation_mode`` sends (a storage unit's ``CentralSetpoint`` schedule).
"""

from __future__ import annotations

from typing import Any

from ocpp.v21 import ChargePoint as _V21ChargePoint

from csms.core.commands import CommandResult
from csms.domain import ChargingLimit
from csms.ocpp.v201 import V201Connection, charging_profile

__all__ = ["V21Connection", "v2x_charging_profile"]


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


class V21Connection(V201Connection):
    """A station speaking OCPP 2.1."""

    ocpp_version = "2.1"
    _call = _V21ChargePoint._call
    _call_result = _V21ChargePoint._call_result

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
