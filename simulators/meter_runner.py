"""A simulated grid meter on the wire: the OCPP 2.1 station of a :class:`MeterStation`.

:class:`MeterRunner` is the device runner (:mod:`simulators.device_runner`) over the
:class:`~simulators.meter_station.MeterStation`: it boots, sends the meter's MeterValues on
EVSE 0 in order (kept while offline), answers TriggerMessage with a reading now, and
refuses charging profiles and transactions (decision 0917).
"""

from __future__ import annotations

from simulators.device_runner import DeviceRunner
from simulators.meter_station import MeterStation

__all__ = ["MeterRunner"]


class MeterRunner(DeviceRunner[MeterStation]):
    """Runs one grid meter against a central system at ``{url}/{station_id}``."""

    model_name = "SimMeter"
