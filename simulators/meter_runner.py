"""A simulated grid meter on the wire: the OCPP 2.1 station of a :class:`MeterStation`.

:class:`MeterRunner` is the device runner (:mod:`simulators.device_runner`) over the
:class:`~simulators.meter_station.MeterStation`: it boots, sends the meter's MeterValues on
EVSE 0 in order (kept while offline), answers TriggerMessage with a reading now, and
refuses charging profiles and transactions (decision 0917).
"""

from __future__ import annotations

from typing import Any

from chargegrid.clock import Clock
from simulators.device_runner import DeviceChargePoint, DeviceRunner
from simulators.meter_station import MeterStation

__all__ = ["MeterRunner"]


class MeterRunner(DeviceRunner):
    """Runs one grid meter against a central system at ``{url}/{station_id}``."""

    charge_point_class = DeviceChargePoint
    model_name = "SimMeter"

    def __init__(self, meter: MeterStation, *, url: str, clock: Clock, **options: Any) -> None:
        super().__init__(meter, url=url, clock=clock, **options)
        self.meter = meter
