"""The site's grid meter as the storage controller reads it (sans-I/O; decision 0917).

A site file's ``[meter]`` with a ``station`` reports by MeterValues on that station's EVSE
(0: its main meter): ``Power.Active.Import`` less ``Power.Active.Export`` (the totals, not a
phase) is the site's net import at the grid connection. Without a station the site's energy
management posts it (``POST /sites/{id}/readings``, ``meter``). The newest reading is kept;
an older one (a late retry) does not replace it. A value that is not finite, negative or
above 1 GW is refused: not kept, logged and counted; a reading dated more than
:data:`SKEW_S` ahead of the central system's clock is refused when it is read.

:meth:`LiveMeter.site_import` gives the controller the measured import while the reading is
fresh (``stale_after_s``), and remembers how much the central system's own estimate (the
EVs, the units, storage reporting charging, less PV) misses: the unmetered load. When the
meter is stale or silent it falls back to the estimate plus the last unmetered load it saw
(never less than the estimate), so a meter going silent does not hide a load the site still
draws.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime

from chargegrid.measurands import Measurand
from csms.domain import GridMeterReading
from csms.events import DomainEvent, MeterValuesReceived, SiteReadingsReceived
from csms.quantities import MAX_POWER_W
from csms.sites.model import GridMeter, Site

__all__ = ["SKEW_S", "LiveMeter", "SiteImport"]

logger = logging.getLogger(__name__)

#: how far ahead of the central system's clock a reading's time may be (clocks differ a little)
SKEW_S = 60.0


@dataclass(frozen=True, slots=True)
class SiteImport:
    """The site import a control step uses, and where it comes from."""

    import_w: float
    """Net import at the grid connection (export negative)."""
    estimate_w: float
    """The sum of what the central system knows."""
    measured_at: datetime | None
    """When the meter measured it; None: not measured (the estimate, see ``fallback``)."""
    fallback: str | None = None
    """Why the meter's reading was not used: ``no_reading`` or ``stale``; None when it was,
    or when the site has no meter."""

    @property
    def source(self) -> str:
        return "meter" if self.measured_at is not None else "estimate"


def _refusal(value: float) -> str | None:
    if not math.isfinite(value):
        return "not a finite number"
    if not 0.0 <= value <= MAX_POWER_W:
        return f"outside 0..{MAX_POWER_W:.0f} W"
    return None


class LiveMeter:
    """The grid meter of one site: its newest reading and what the estimate misses."""

    def __init__(self, site: Site) -> None:
        self.site_id = site.id
        self.spec: GridMeter | None = None
        self.import_w: float | None = None
        self.measured_at: datetime | None = None
        #: the measured import less the estimate, when the meter was last fresh
        self.unmetered_w = 0.0
        #: readings refused (not finite, out of range, dated in the future)
        self.refused = 0
        self.reset_site(site)

    def reset_site(self, site: Site) -> None:
        """Take a new revision of the site (a meter that moved starts afresh)."""
        old, self.spec, self.site_id = self.spec, site.meter, site.id
        if (
            self.spec is None
            or old is None
            or (old.station, old.evse)
            != (
                self.spec.station,
                self.spec.evse,
            )
        ):
            self.import_w = self.measured_at = None
            self.unmetered_w = 0.0

    def apply(self, event: DomainEvent) -> bool:
        """Take the meter's MeterValues or a posted reading; whether ``event`` was one
        (consumed here)."""
        spec = self.spec
        if spec is None:
            return False
        if isinstance(event, MeterValuesReceived):
            if spec.station is None or (event.station_id, event.evse_id) != (
                spec.station,
                spec.evse,
            ):
                return False
            self._samples(event)
            return True
        if isinstance(event, SiteReadingsReceived) and event.site_id == self.site_id:
            self._posted(event.meter)
        return False  # the PV and storage in it are the planner's too

    def _posted(self, reading: GridMeterReading | None) -> None:
        if reading is not None:
            self.take(reading)

    def _samples(self, event: MeterValuesReceived) -> None:
        values: dict[str, float] = {}
        at: datetime | None = None
        for sample in event.samples:
            if sample.phase is None and sample.measurand in (
                Measurand.POWER_ACTIVE_IMPORT,
                Measurand.POWER_ACTIVE_EXPORT,
            ):
                values[sample.measurand] = sample.value
                at = sample.timestamp if at is None else max(at, sample.timestamp)
        if at is not None and Measurand.POWER_ACTIVE_IMPORT in values:
            self.take(
                GridMeterReading(
                    at,
                    values[Measurand.POWER_ACTIVE_IMPORT],
                    values.get(Measurand.POWER_ACTIVE_EXPORT, 0.0),
                )
            )

    def take(self, reading: GridMeterReading) -> bool:
        """Keep ``reading`` if it is sound and the newest; whether it was kept."""
        for name, value in (("import", reading.import_w), ("export", reading.export_w)):
            why = _refusal(value)
            if why is not None:
                self._refuse(f"{name} {value!r} W: {why}")
                return False
        if self.measured_at is not None and reading.at < self.measured_at:
            return False  # older than what is known: a late retry
        self.import_w = reading.import_w - reading.export_w
        self.measured_at = reading.at
        return True

    def _refuse(self, what: str) -> None:
        self.refused += 1
        logger.warning("site %s: grid meter reading refused (%s; %d so far)",
                       self.site_id, what, self.refused)  # fmt: skip

    def site_import(self, now: datetime, estimate_w: float) -> SiteImport:
        """The import a control step uses at ``now``, given the central system's estimate;
        a fresh reading also measures the unmetered load (what the estimate misses)."""
        found = self.read(now, estimate_w)
        if found.measured_at is not None:
            self.unmetered_w = found.import_w - estimate_w
        return found

    def read(self, now: datetime, estimate_w: float) -> SiteImport:
        """The import at ``now`` as a control step would use it, learning nothing: the
        meter's while fresh, else the estimate plus the last unmetered load (never less)."""
        spec = self.spec
        if spec is None:
            return SiteImport(estimate_w, estimate_w, None)
        if self.measured_at is not None and (self.measured_at - now).total_seconds() > SKEW_S:
            self._refuse(f"dated {self.measured_at.isoformat()}, ahead of the clock")
            self.import_w = self.measured_at = None
        if self.import_w is None or self.measured_at is None:
            fallback = "no_reading"
        elif (now - self.measured_at).total_seconds() > spec.stale_after_s:
            fallback = "stale"
        else:
            return SiteImport(self.import_w, estimate_w, self.measured_at)
        held = estimate_w + max(0.0, self.unmetered_w)
        return SiteImport(held, estimate_w, None, fallback)
