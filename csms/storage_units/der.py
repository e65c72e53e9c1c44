"""The DER controls in force on the storage units' stations, kept from domain events (pure;
decision 0918).

The central system records a control once the station accepts it (``DerControlSet``), takes
it out of force when cleared (``DerControlsCleared``) or superseded (by a newer control, a
ReportDERControl, a NotifyDERStartStop), and records what a station reports it has
(``DerControlsReported``). This keeps the same set per unit station, so that the storage
controller and the planner narrow the unit's rating while a control acts
(:func:`csms.der.limits.discharge_share`). On a restart the site loop loads them from the
DER store (:meth:`DerInForce.load`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from csms.der import discharge_share
from csms.der.model import DerControl, DerControlRecord
from csms.events import (
    DerControlsCleared,
    DerControlSet,
    DerControlsReported,
    DerStartStopped,
    DomainEvent,
)

__all__ = ["DER_EVENTS", "DerInForce"]

logger = logging.getLogger(__name__)

#: the events that change which controls are in force on a station
DER_EVENTS = (DerControlSet, DerControlsCleared, DerControlsReported, DerStartStopped)


class DerInForce:
    """Per station: each control in force, with when it came into force."""

    def __init__(self) -> None:
        self.stations: dict[str, dict[str, tuple[DerControl, datetime]]] = {}

    def load(self, station_id: str, records: Iterable[DerControlRecord]) -> None:
        """A station's controls in force as the DER store has them (replacing what was kept)."""
        self.stations[station_id] = {
            r.control.control_id: (r.control, r.recorded_at) for r in records if r.in_force
        }

    def apply(self, event: DomainEvent) -> bool:
        """Take a DER event of any station; whether it was one (:data:`DER_EVENTS`)."""
        if isinstance(event, DerControlSet):
            held = self.stations.setdefault(event.station_id, {})
            for control_id in event.superseded_ids:
                held.pop(control_id, None)
            held[event.control.control_id] = (event.control, event.at)
        elif isinstance(event, DerControlsCleared):
            held = self.stations.setdefault(event.station_id, {})
            for control_id in event.control_ids:
                held.pop(control_id, None)
        elif isinstance(event, DerControlsReported):
            held = self.stations.setdefault(event.station_id, {})
            for control in event.controls:
                if control.superseded:
                    held.pop(control.control_id, None)
                else:
                    known = held.get(control.control_id)
                    held[control.control_id] = (control, known[1] if known else event.at)
        elif isinstance(event, DerStartStopped):
            held = self.stations.setdefault(event.station_id, {})
            for control_id in event.change.superseded_ids:
                held.pop(control_id, None)
        else:
            return False
        return True

    def discharge_share(self, station_id: str, now: datetime) -> float:
        """The share of its rated discharge the station's units may give at ``now``."""
        return discharge_share(self.stations.get(station_id, {}).values(), now)
