"""A simulated battery-swap station on the wire: the OCPP 2.1 station of a
:class:`~simulators.swap_ocpp.SwapOcppStation`.

:class:`SwapRunner` is the device runner (:mod:`simulators.device_runner`) over the swap
station: it sends its BatterySwap requests, NotifyEvent (a vehicle turned away), MeterValues
(the rack and its packs) and StatusNotification (its slots) in order, kept while offline.
:class:`SwapChargePoint` answers what every device answers (the rack's limit as a
``ChargingStationMaxProfile`` on EVSE 0) and ``RequestBatterySwap``.
"""

from __future__ import annotations

from typing import Any

from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import on
from ocpp.v21 import call_result

from simulators.device_runner import DeviceChargePoint, DeviceRunner
from simulators.swap_ocpp import SwapOcppStation

__all__ = ["SwapChargePoint", "SwapRunner"]


class SwapChargePoint(DeviceChargePoint):
    """The swap station's side of an OCPP 2.1 connection."""

    @on("RequestBatterySwap")
    async def on_request_battery_swap(
        self, request_id: int, id_token: dict[str, Any], **_: Any
    ) -> call_result.RequestBatterySwap:
        await self.runner.answer_delay()
        now = self.runner.sync()
        assert isinstance(self.runner, SwapRunner)
        answer = self.runner.device.request_swap(request_id, str(id_token.get("id_token", "")), now)
        self.runner.poke()
        return call_result.RequestBatterySwap(**camel_to_snake_case(answer.payload()))


class SwapRunner(DeviceRunner[SwapOcppStation]):
    """Runs one swap station against a central system at ``{url}/{station_id}``."""

    charge_point_class = SwapChargePoint
    model_name = "SimSwap"
