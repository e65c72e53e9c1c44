"""Faults injected into a running simulated station, and the driver's local stop.

:class:`FaultInjection` is part of :class:`~simulators.runner.StationRunner`
(``runner.inject(kind)``, ``chargegrid sim --fault``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from simulators.messages import Outgoing
from simulators.station import Station

__all__ = ["FAULT_KINDS", "FaultInjection"]

logger = logging.getLogger("simulators.runner")

#: Faults (and the driver's local stop) :meth:`StationRunner.inject` knows; ``value`` is the
#: jump (Wh) or the delay (s).
FAULT_KINDS = (
    "connector-fault",
    "clear-fault",
    "ev-stops-drawing",
    "meter-jump",
    "malformed-frame",
    "late-answers",
    "local-stop",
)


class FaultInjection:
    """The fault-injection part of a station runner."""

    station: Station
    #: Delay every answer to the central system by this many clock seconds.
    answer_delay_s: float

    @property
    def station_id(self) -> str:
        raise NotImplementedError

    def sync(self) -> datetime:
        raise NotImplementedError

    def submit(self, messages: list[Outgoing]) -> None:
        raise NotImplementedError

    def poke(self) -> None:
        raise NotImplementedError

    async def send_malformed(self) -> None:
        raise NotImplementedError

    async def inject(self, kind: str, *, connector_id: int = 1, value: float = 0.0) -> None:
        """Inject a fault now; ``kind`` is one of :data:`FAULT_KINDS`."""
        now = self.sync()
        logger.warning("%s: injecting fault %s", self.station_id, kind)
        if kind == "connector-fault":
            self.submit(self.station.fault(connector_id, now))
        elif kind == "clear-fault":
            self.submit(self.station.clear_fault(connector_id, now))
        elif kind == "ev-stops-drawing":
            self.submit(self.station.ev_stops_drawing(connector_id, now))
        elif kind == "meter-jump":
            self.station.meter_jump(connector_id, value or 10_000.0)
        elif kind == "malformed-frame":
            await self.send_malformed()
        elif kind == "late-answers":
            self.answer_delay_s = value or 60.0
        elif kind == "local-stop":
            self.submit(self.station.local_stop(connector_id, now))
        else:
            raise ValueError(f"unknown fault {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
        self.poke()
