"""A storage unit as a real OCPP 2.1 client (the ``ocpp`` library's v21 ChargePoint): it
takes CentralSetpoint / Idle TxDefaultProfiles on EVSE 1, follows the newest one until it
runs out (then it is Idle), and reports SoC and import/export power by MeterValues. Its
inverter takes a LimitMaxDischarge DER control (SetDERControl, ClearDERControl): it gives
no more than that share of its rating whatever the setpoint."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocpp.routing import on
from ocpp.v21 import ChargePoint, call, call_result

from chargegrid.clock import Clock
from tests.integration.csms.stations import raw_connect, unknown_variables

__all__ = ["Received", "StorageUnit21", "storage_unit"]


@dataclass(frozen=True)
class Received:
    at: datetime
    mode: str
    setpoint_w: float
    valid_to: datetime


def _stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@dataclass
class _Battery:
    capacity_wh: float
    soc_wh: float
    max_w: float
    last_at: datetime | None = None
    power_w: float = 0.0
    #: the share of max_w it may give (a LimitMaxDischarge in force)
    discharge_share: float = 1.0


class StorageUnit21(ChargePoint):  # type: ignore[misc]
    clock: Clock
    battery: _Battery
    received: list[Received]

    def setpoint_at(self, at: datetime) -> float:
        """What the unit does at ``at``: the newest schedule's setpoint until it runs out."""
        if not self.received:
            return 0.0
        newest = self.received[-1]
        if at >= newest.valid_to or newest.mode == "Idle":
            return 0.0
        b = self.battery
        return max(-b.max_w * b.discharge_share, min(b.max_w, newest.setpoint_w))

    def idle_at(self, at: datetime) -> bool:
        return self.setpoint_at(at) == 0.0

    @on("SetChargingProfile")  # type: ignore[untyped-decorator]
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        schedule = charging_profile["charging_schedule"][0]
        (period,) = schedule["charging_schedule_period"]
        valid_to = datetime.fromisoformat(charging_profile["valid_to"].replace("Z", "+00:00"))
        ok = evse_id == 1 and charging_profile["charging_profile_purpose"] == "TxDefaultProfile"
        if ok:
            self.received.append(
                Received(
                    self.clock.now(),
                    period["operation_mode"],
                    float(period.get("setpoint", 0.0)),
                    valid_to,
                )
            )
        return call_result.SetChargingProfile(status="Accepted" if ok else "Rejected")

    @on("SetDERControl")  # type: ignore[untyped-decorator]
    def on_set_der_control(
        self, control_type: str, limit_max_discharge: dict[str, Any] | None = None, **_: Any
    ) -> call_result.SetDERControl:
        if control_type == "LimitMaxDischarge" and limit_max_discharge is not None:
            self.battery.discharge_share = limit_max_discharge["pct_max_discharge_power"] / 100
        return call_result.SetDERControl(status="Accepted")

    @on("ClearDERControl")  # type: ignore[untyped-decorator]
    def on_clear_der_control(self, **_: Any) -> call_result.ClearDERControl:
        self.battery.discharge_share = 1.0
        return call_result.ClearDERControl(status="Accepted")

    @on("GetVariables")  # type: ignore[untyped-decorator]
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return unknown_variables(get_variable_data)

    async def boot(self) -> None:
        await self.call(
            call.BootNotification(
                charging_station={"model": "Bess", "vendor_name": "Test"}, reason="PowerUp"
            )
        )
        await self.call(
            call.StatusNotification(
                timestamp=_stamp(self.clock.now()),
                connector_status="Available",
                evse_id=1,
                connector_id=1,
            )
        )

    async def report(self) -> None:
        """Advance the battery to now at the power it followed, and send MeterValues."""
        now = self.clock.now()
        b = self.battery
        if b.last_at is not None:
            hours = (now - b.last_at).total_seconds() / 3600
            b.soc_wh = min(b.capacity_wh, max(0.0, b.soc_wh + b.power_w * hours))
        b.last_at, b.power_w = now, self.setpoint_at(now)
        values = [
            ("SoC", 100.0 * b.soc_wh / b.capacity_wh, "Percent"),
            ("Power.Active.Import", max(0.0, b.power_w), "W"),
            ("Power.Active.Export", max(0.0, -b.power_w), "W"),
        ]
        await self.call(
            call.MeterValues(
                evse_id=1,
                meter_value=[
                    {
                        "timestamp": _stamp(now),
                        "sampled_value": [
                            {
                                "value": round(v, 1),
                                "measurand": m,
                                "context": "Sample.Clock",
                                "unit_of_measure": {"unit": u},
                            }
                            for m, v, u in values
                        ],
                    }
                ],
            )
        )


@contextlib.asynccontextmanager
async def storage_unit(
    base_url: str,
    station_id: str,
    clock: Clock,
    *,
    capacity_wh: float,
    soc_pct: float,
    max_w: float,
) -> AsyncIterator[StorageUnit21]:
    async with raw_connect(base_url, station_id, version="2.1") as ws:
        cp = StorageUnit21(station_id, ws, response_timeout=10)
        cp.clock = clock
        cp.battery = _Battery(capacity_wh, capacity_wh * soc_pct / 100, max_w)
        cp.received = []
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
