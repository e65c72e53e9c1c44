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
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from chargegrid.measurands import Measurand
from csms.domain import GridMeterReading
from csms.events import DomainEvent, MeterValuesReceived, SiteReadingsReceived
from csms.quantities import MAX_POWER_W
from csms.sites.model import GridMeter, Site

__all__ = [
    "SKEW_S",
    "LiveMeter",
    "SiteImport",
    "power_refusal",
    "power_totals",
    "soc_refusal",
    "unread",
]

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


def power_refusal(value: float, max_w: float = MAX_POWER_W) -> str | None:
    """Why a metered power is refused (not finite, negative, above ``max_w``); None: sound."""
    if not math.isfinite(value):
        return "not a finite number"
    if not 0.0 <= value <= max_w:
        return f"outside 0..{max_w:.0f} W"
    return None


def soc_refusal(value: float) -> str | None:
    """Why a reported state of charge is refused (not finite, outside 0..100 %); None:
    sound."""
    if not math.isfinite(value):
        return "not a finite number"
    if not 0.0 <= value <= 100.0:
        return "outside 0..100"
    return None


def power_totals(event: MeterValuesReceived) -> GridMeterReading | None:
    """``Power.Active.Import`` and ``.Export`` of a MeterValues message, the totals (not a
    phase), at the newest of their timestamps; None without an import or export total (the
    other taken as 0)."""
    values: dict[str, float] = {}
    at: datetime | None = None
    for sample in event.samples:
        if sample.phase is None and sample.measurand in (
            Measurand.POWER_ACTIVE_IMPORT,
            Measurand.POWER_ACTIVE_EXPORT,
        ):
            values[sample.measurand] = sample.value
            at = sample.timestamp if at is None else max(at, sample.timestamp)
    if at is None:
        return None
    return GridMeterReading(
        at,
        values.get(Measurand.POWER_ACTIVE_IMPORT, 0.0),
        values.get(Measurand.POWER_ACTIVE_EXPORT, 0.0),
    )


def unread(at: datetime | None, now: datetime, stale_after_s: float) -> str | None:
    """Why a reading measured ``at`` is not to be used at ``now``: ``no_reading`` (none),
    ``ahead`` (dated more than :data:`SKEW_S` ahead of the clock: to be refused), ``stale``
    (older than ``stale_after_s``); None: fresh."""
    if at is None:
        return "no_reading"
    if (at - now).total_seconds() > SKEW_S:
        return "ahead"
    if (now - at).total_seconds() > stale_after_s:
        return "stale"
    return None


#: how far back a silent meter's held unmetered load looks (virtual time)
UNMETERED_HOLD_S = 120.0
UNMETERED_HOLD = timedelta(seconds=UNMETERED_HOLD_S)


class LiveMeter:
    """The grid meter of one site: its newest reading and what the estimate misses."""

    def __init__(self, site: Site) -> None:
        self.site_id = site.id
        self.spec: GridMeter | None = None
        self.import_w: float | None = None
        self.measured_at: datetime | None = None
        #: the measured import less the estimate, when the meter was last fresh
        self.unmetered_w = 0.0
        #: the unmetered loads of the fresh steps of the last ``UNMETERED_HOLD_S`` (when
        #: the meter goes silent, the largest is held, not only the last)
        self._recent: deque[tuple[datetime, float]] = deque()
        #: readings refused (not finite, out of range, dated in the future)
        self.refused = 0
        #: readings kept (the newest each time; the site loop compares it to see a new one)
        self.taken = 0
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
            self._recent.clear()

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
        reading = power_totals(event)
        if reading is not None and any(
            s.measurand == Measurand.POWER_ACTIVE_IMPORT and s.phase is None for s in event.samples
        ):
            self.take(reading)

    def take(self, reading: GridMeterReading) -> bool:
        """Keep ``reading`` if it is sound and the newest; whether it was kept."""
        for name, value in (("import", reading.import_w), ("export", reading.export_w)):
            why = power_refusal(value)
            if why is not None:
                self._refuse(f"{name} {value!r} W: {why}")
                return False
        if self.measured_at is not None and reading.at < self.measured_at:
            return False  # older than what is known: a late retry
        self.import_w = reading.import_w - reading.export_w
        self.measured_at = reading.at
        self.taken += 1
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
            recent = self._recent
            recent.append((now, self.unmetered_w))
            while recent and recent[0][0] < now - UNMETERED_HOLD:
                recent.popleft()
        return found

    def held_unmetered_w(self) -> float:
        """What a silent meter's steps add to the estimate: the largest unmetered load of
        the last fresh steps. The last one alone can be low by timing (a reading seconds old
        against an estimate that has just risen) and would leave the site without room."""
        return max((w for _, w in self._recent), default=self.unmetered_w)

    def read(self, now: datetime, estimate_w: float) -> SiteImport:
        """The import at ``now`` as a control step would use it, learning nothing: the
        meter's while fresh, else the estimate plus the last unmetered load (never less)."""
        spec = self.spec
        if spec is None:
            return SiteImport(estimate_w, estimate_w, None)
        fallback = unread(self.measured_at, now, spec.stale_after_s)
        if fallback == "ahead" and self.measured_at is not None:
            self._refuse(f"dated {self.measured_at.isoformat()}, ahead of the clock")
            self.import_w = self.measured_at = None
            fallback = "no_reading"
        if fallback is None and self.import_w is not None:
            return SiteImport(self.import_w, estimate_w, self.measured_at)
        held = estimate_w + max(0.0, self.held_unmetered_w())
        return SiteImport(held, estimate_w, None, fallback)
