"""A simulated grid meter on the wire: the OCPP 2.1 station of a :class:`MeterStation`.

:class:`MeterRunner` is the device runner (:mod:`simulators.device_runner`) over the
:class:`~simulators.meter_station.MeterStation`: it boots, sends the meter's MeterValues on
EVSE 0 in order (kept while offline), answers TriggerMessage with a reading now, and
refuses charging profiles and transactions (decision 0917).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from simulators.device_runner import DeviceRunner
from simulators.messages import DeviceRequest, Outgoing
from simulators.meter_station import MeterStation

__all__ = ["MeterRunner"]


class MeterRunner(DeviceRunner[MeterStation]):
    """Runs one grid meter against a central system at ``{url}/{station_id}``.

    A reading not sent yet when a newer one is due is replaced by it (counted in
    ``replaced``): a power reading is only worth its freshness, and the energy registers of
    the newest carry everything before them. OCPP sends one call at a time, so a meter
    reporting every few seconds to a slow central system would otherwise queue readings
    ever older (decision 0931). The one in flight is kept; offline, they are kept too."""

    model_name = "SimMeter"

    def __init__(self, device: MeterStation, **options: Any) -> None:
        super().__init__(device, **options)
        #: readings dropped for a newer one before they were sent
        self.replaced = 0

    def submit(self, messages: list[Outgoing]) -> None:
        if self.online and any(_reading(m) for m in messages):
            head, rest = list(self.outbox)[:1], list(self.outbox)[1:]  # the head: in flight
            kept = [item for item in rest if not _reading(item.message)]
            self.replaced += len(rest) - len(kept)
            readings = [m for m in messages if _reading(m)]
            self.replaced += len(readings) - 1
            messages = [m for m in messages if not _reading(m)] + readings[-1:]
            self.outbox = deque([*head, *kept])
        super().submit(messages)


def _reading(message: Outgoing | str) -> bool:
    return isinstance(message, DeviceRequest) and message.action == "MeterValues"
