"""A site's PV plants as the planner and the storage controller count them (sans-I/O;
decisions 0608, 0922).

A ``[[pv]]`` plant with a ``station`` meters by MeterValues on that station's EVSE (0: its
main meter, as the simulators' PV plants report): ``Power.Active.Export`` less
``Power.Active.Import``, the totals (:func:`~csms.storage_units.meter.power_totals`, the
grid meter's reading). Every plant may also be posted (``POST /sites/{id}/readings``, with a
forecast); the newest reading wins, and a metered one keeps the forecast last posted.

Bad readings are refused, logged and counted per plant: a value that is not finite or is
negative, or a production above the plant's peak by more than
:data:`~csms.sites.model.PV_PEAK_TOLERANCE`; one dated more than
:data:`~csms.storage_units.meter.SKEW_S` ahead of the clock, when it is read. A reading older
than the plant's ``stale_after_s`` (else ``readings_max_age_s``) is not counted on: the PV
it showed is not subtracted from the site import, nor given to the EVs (the safe side). A
metered plant that lapses so (``no_reading``, ``stale``) is logged when it starts and ends,
and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from csms.domain import PvReading
from csms.events import MeterValuesReceived, SiteReadingsReceived
from csms.sites.model import PvAsset, Site
from csms.storage_units.meter import power_refusal, power_totals, unread

__all__ = ["LivePv"]

logger = logging.getLogger(__name__)


class LivePv:
    """The PV plants of one site: their newest readings, from MeterValues or posted."""

    def __init__(self, site: Site) -> None:
        self.site_id = site.id
        self.assets: dict[str, PvAsset] = {}
        #: (station, EVSE) -> the plant metered there
        self.metered: dict[tuple[str, int], PvAsset] = {}
        self.readings: dict[str, PvReading] = {}
        #: readings refused, per plant
        self.refused: Counter[str] = Counter()
        #: times a metered plant stopped being counted on, per (plant, reason)
        self.lapses: Counter[tuple[str, str]] = Counter()
        self._lapsed: dict[str, str] = {}
        self.reset_site(site)

    def reset_site(self, site: Site) -> None:
        """Take a new revision of the site (a plant gone, or metered elsewhere, starts
        afresh)."""
        old = self.assets
        self.site_id = site.id
        self.assets = {a.id: a for a in site.pv}
        self.metered = {(a.station, a.evse): a for a in site.pv if a.station is not None}
        for pv_id in list(self.readings):
            now = self.assets.get(pv_id)
            before = old.get(pv_id)
            if (
                now is None
                or before is None
                or (now.station, now.evse)
                != (
                    before.station,
                    before.evse,
                )
            ):
                del self.readings[pv_id]
                self._lapsed.pop(pv_id, None)

    def take_metered(self, event: MeterValuesReceived, *, deviation_w: float) -> list[str] | None:
        """A plant's MeterValues: the reasons to re-plan (``pv``); None: not a plant's."""
        asset = self.metered.get((event.station_id, event.evse_id))
        if asset is None:
            return None
        totals = power_totals(event)
        if totals is None:
            return []
        for name, value in (("import", totals.import_w), ("export", totals.export_w)):
            why = power_refusal(value)
            if why is not None:
                self._refuse(asset.id, f"{name} {value!r} W: {why}")
                return []
        before = self.readings.get(asset.id)
        forecast = before.forecast if before is not None else ()
        reading = PvReading(asset.id, totals.at, totals.export_w - totals.import_w, forecast)
        return self._keep(asset, reading, deviation_w)

    def take_posted(self, event: SiteReadingsReceived, *, deviation_w: float) -> list[str]:
        """The PV readings the site's energy management posted: the reasons to re-plan."""
        if event.site_id != self.site_id:
            return []
        reasons: list[str] = []
        for reading in event.pv:
            asset = self.assets.get(reading.pv_id)
            if asset is not None:
                reasons += self._keep(asset, reading, deviation_w)
        return reasons

    def _keep(self, asset: PvAsset, reading: PvReading, deviation_w: float) -> list[str]:
        why = power_refusal(reading.power_w, asset.max_reading_w) if reading.power_w > 0 else None
        if why is not None:
            self._refuse(asset.id, f"{reading.power_w!r} W: {why} (peak {asset.peak_w:.0f} W)")
            return []
        before = self.readings.get(asset.id)
        if before is not None and reading.at < before.at:
            return []  # a late reading
        self.readings[asset.id] = reading
        if (
            before is None
            or abs(reading.power_w - before.power_w) > deviation_w
            or reading.forecast != before.forecast
        ):
            return ["pv"]
        return []

    def _refuse(self, pv_id: str, what: str) -> None:
        self.refused[pv_id] += 1
        logger.warning("site %s: PV plant %s: reading refused (%s; %d so far)",
                       self.site_id, pv_id, what, self.refused[pv_id])  # fmt: skip

    def counted(
        self, now: datetime, *, max_age_s: float, refuse_ahead: bool = True
    ) -> dict[str, PvReading]:
        """The plants' readings fresh at ``now``: what the plan and the site import count.
        ``refuse_ahead=False`` for a ``now`` that may lag the clock (a re-plan's instant):
        a reading after it is taken as fresh, never refused (the estimate, read at the
        clock's now first, refuses one from a station with a wrong clock)."""
        out: dict[str, PvReading] = {}
        for asset in self.assets.values():
            reading = self.readings.get(asset.id)
            stale_s = asset.stale_after_s if asset.stale_after_s is not None else max_age_s
            why = unread(reading.at if reading is not None else None, now, stale_s)
            if why == "ahead" and not refuse_ahead:
                why = None
            elif why == "ahead" and reading is not None:
                self._refuse(asset.id, f"dated {reading.at.isoformat()}, ahead of the clock")
                del self.readings[asset.id]
                why = "no_reading"
            if asset.station is not None:
                self._lapse(asset.id, why)
            if why is None and reading is not None:
                out[asset.id] = reading
        return out

    def lapse_in_s(self, now: datetime, max_age_s: float) -> float:
        """Seconds until the first metered plant now counted on goes stale, if it reports
        nothing more (a re-plan then takes its PV away; ``inf``: none)."""
        out = float("inf")
        for asset in self.metered.values():
            reading = self.readings.get(asset.id)
            if reading is not None:
                stale_s = asset.stale_after_s if asset.stale_after_s is not None else max_age_s
                left = stale_s - (now - reading.at).total_seconds()
                if left >= 0:
                    out = min(out, left + 0.01)  # stale once strictly older
        return out

    def _lapse(self, pv_id: str, why: str | None) -> None:
        before = self._lapsed.get(pv_id)
        if why == before:
            return
        if why is None:
            del self._lapsed[pv_id]
            logger.info("site %s: PV plant %s: metered again", self.site_id, pv_id)
            return
        self._lapsed[pv_id] = why
        self.lapses[(pv_id, why)] += 1
        logger.warning("site %s: PV plant %s: %s; its PV is not counted on",
                       self.site_id, pv_id, why.replace("_", " "))  # fmt: skip
