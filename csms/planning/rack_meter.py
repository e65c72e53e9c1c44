"""What a swap station's MeterValues say of its rack (sans-I/O; decision 0915).

A swap station meters its rack on EVSE 0 (its main meter): ``Power.Active.Import`` less
``Power.Active.Export``, the totals (the grid meter's reading,
:func:`~csms.storage_units.meter.power_totals`), is what the rack draws. Each slot is EVSE
*n* (1 .. the rack's size), and its ``SoC`` is the state of charge of the pack in it.

- The draw is the storage controller's to add to its estimate of the site import, while it
  is fresh (no older than ``[planning] readings_max_age_s``, as a PV plant's); stale or never
  read, the rack is counted at what it may draw (:meth:`RackMeter.draw_w`), the safe side
  for the import limit. A lapse is logged when it starts and ends and counted.
- The packs' SoC are the rack model's (:meth:`csms.planning.swap.RackState.soc_pct`).

Refused, logged and counted (the message itself is answered and stored as usual): a power
that is not finite, negative or above 1 GW (:func:`~csms.storage_units.meter.power_refusal`),
a SoC that is not finite or outside 0..100 %, a SoC on an EVSE that is no slot of the rack
(an unknown pack), and a reading dated more than
:data:`~csms.storage_units.meter.SKEW_S` ahead of the clock when it is read. An older reading
(a late retry) does not replace a newer one.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from chargegrid.measurands import Measurand
from csms.events import MeterValuesReceived
from csms.sites.model import SwapStation
from csms.storage_units.meter import power_refusal, power_totals, soc_refusal, unread

__all__ = ["RackMeter"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class RackMeter:
    """One rack's metered draw and its slots' SoC."""

    power_w: float | None = None
    measured_at: datetime | None = None
    #: slot (EVSE id) -> (SoC %, when measured) of the pack last metered there
    slots: dict[int, tuple[float, datetime]] = field(default_factory=dict)
    #: readings refused, by what was wrong (``power``, ``soc``, ``unknown_pack``, ``ahead``)
    refused: Counter[str] = field(default_factory=Counter)
    #: times the draw stopped being counted as measured, per reason
    lapses: Counter[str] = field(default_factory=Counter)
    lapsed: str | None = None
    #: the rack was planned on while its station had metered no pack SoC (logged once)
    soc_unmetered: bool = False

    @property
    def slots_at(self) -> datetime | None:
        """When the newest slot reading was measured."""
        return max((at for _, at in self.slots.values()), default=None)

    def take(self, event: MeterValuesReceived, swap: SwapStation) -> list[str]:
        """Take the rack's MeterValues (EVSE 0: its draw; EVSE n: slot n's pack); the
        reasons to re-plan: ``swap rack`` when a slot's pack is known for the first time."""
        if event.evse_id == 0:
            self._draw(event, swap)
            return []
        new = False
        for sample in event.samples:
            if sample.measurand != Measurand.SOC or sample.phase is not None:
                continue
            if not 1 <= event.evse_id <= swap.rack_size:
                self._refuse(swap, "unknown_pack", f"SoC on EVSE {event.evse_id}, not a slot")
                continue
            why = soc_refusal(sample.value)
            if why is not None:
                self._refuse(swap, "soc", f"slot {event.evse_id}: SoC {sample.value!r} %: {why}")
                continue
            before = self.slots.get(event.evse_id)
            if before is None or sample.timestamp >= before[1]:
                self.slots[event.evse_id] = (sample.value, sample.timestamp)
                new = new or before is None
        return ["swap rack"] if new else []

    def no_slot_soc(self, swap: SwapStation) -> None:
        """The plan asked for the metered SoC and the station has metered none: logged the
        first time (the rack is planned from its readings and swap sessions, else at the
        forecast's arrival SoC)."""
        if not self.soc_unmetered:
            self.soc_unmetered = True
            logger.warning("swap station %s: no pack SoC metered on its slots; the rack is "
                           "planned from its readings and swaps, else at the arrival SoC",
                           swap.id)  # fmt: skip

    def _draw(self, event: MeterValuesReceived, swap: SwapStation) -> None:
        totals = power_totals(event)
        if totals is None:
            return
        for name, value in (("import", totals.import_w), ("export", totals.export_w)):
            why = power_refusal(value)
            if why is not None:
                self._refuse(swap, "power", f"{name} {value!r} W: {why}")
                return
        if self.measured_at is not None and totals.at < self.measured_at:
            return  # a late retry
        self.power_w, self.measured_at = totals.import_w - totals.export_w, totals.at

    def _refuse(self, swap: SwapStation, why: str, what: str) -> None:
        self.refused[why] += 1
        logger.warning("swap station %s: rack reading refused (%s; %d so far)",
                       swap.id, what, sum(self.refused.values()))  # fmt: skip

    def draw_w(self, swap: SwapStation, now: datetime, *, stale_after_s: float,
               worst_w: float) -> float:  # fmt: skip
        """What the rack draws at ``now``: its metered draw while fresh, else ``worst_w``
        (what it may draw: the limit it accepted, or its rating)."""
        why = unread(self.measured_at, now, stale_after_s)
        if why == "ahead":
            self._refuse(swap, "ahead", f"dated {self.measured_at}, ahead of the clock")
            self.power_w = self.measured_at = None
            why = "no_reading"
        if why != self.lapsed:
            if why is None:
                logger.info("swap station %s: rack metered again", swap.id)
            else:
                self.lapses[why] += 1
                logger.warning("swap station %s: rack draw %s; counted at %.0f W",
                               swap.id, why.replace("_", " "), worst_w)  # fmt: skip
            self.lapsed = why
        if why is None and self.power_w is not None:
            return self.power_w
        return worst_w
