"""The demo's simulated day, as data: which sites and fleets, the grid operator's caps, the
sun; and the pure arithmetic of it (local times to instants, PV power at an instant).

Nothing here does I/O or reads a clock: :mod:`csms.demo.world` runs it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chargegrid.clock import utc

__all__ = [
    "DEFAULT_DAY",
    "DemoCap",
    "DemoDay",
    "DemoSite",
    "cap_window",
    "day_start",
    "pv_power_w",
]


@dataclass(frozen=True, slots=True)
class DemoSite:
    """A site file of the package and the simulated fleet that matches it."""

    #: the site file's name in ``csms/demo/sites/``
    file: str
    #: the stations are ``PREFIX-0001`` ... (the names the site file gives them)
    prefix: str
    stations: int
    connectors: int
    #: connector rating per phase (three phases)
    max_current_a: float
    #: the generated visits: ``depot`` (overnight vans) or ``workplace`` (day-time cars)
    scenario: str
    #: the drivers' id tokens are ``TOKEN_PREFIX00001`` ... (the site's fleet entries match)
    token_prefix: str
    seed: int = 0


@dataclass(frozen=True, slots=True)
class DemoCap:
    """A grid operator's import cap on one node, from ``start`` to ``end`` (site-local
    times; an end at or before the start is on the next day), announced ``notice_s`` before
    it begins."""

    site_id: str
    node_id: str
    start: time
    end: time
    max_import_w: float
    notice_s: float = 1800.0
    source: str = "grid operator (demo)"


@dataclass(frozen=True, slots=True)
class DemoDay:
    sites: tuple[DemoSite, ...]
    caps: tuple[DemoCap, ...] = ()
    #: the time zone the day's local times are in (the sites')
    timezone: str = "Europe/Berlin"
    #: when the simulated day starts, local time
    start: time = time(6, 0)
    hours: float = 24.0
    #: OCPP versions of each site's stations, in turn (see ``simulators.fleet.version_for``)
    ocpp: str = "all"
    meter_interval_s: float = 60.0
    #: how often the sites' energy management reports PV (and the grid meter is read)
    reading_interval_s: float = 60.0
    #: the weather's seed (clouds over the PV)
    weather_seed: int = 0

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


DEFAULT_DAY = DemoDay(
    sites=(
        DemoSite(
            file="depot.toml",
            prefix="DEPOT",
            stations=6,
            connectors=2,
            max_current_a=32.0,
            scenario="depot",
            token_prefix="VAN",
            seed=1,
        ),
        DemoSite(
            file="workplace.toml",
            prefix="WORK",
            stations=8,
            connectors=1,
            max_current_a=16.0,
            scenario="workplace",
            token_prefix="EMP",
            seed=2,
        ),
    ),
    caps=(
        # congestion on the local grid while the staff cars arrive
        DemoCap("workplace", "grid", time(9, 30), time(12, 30), 25_000.0),
        # the evening peak: the vans wait while the neighbourhood cooks
        DemoCap("depot", "grid", time(18, 0), time(21, 0), 50_000.0, notice_s=3600.0),
    ),
)


def day_start(day: DemoDay, on: date) -> datetime:
    """The instant (UTC) the simulated day starts on the local date ``on``."""
    return utc(datetime.combine(on, day.start, tzinfo=day.zone))


def cap_window(day: DemoDay, cap: DemoCap, start: datetime) -> tuple[datetime, datetime]:
    """The cap's first window (UTC) that ends after the day's ``start``."""
    local = start.astimezone(day.zone)
    for offset in (-1, 0, 1):
        d = local.date() + timedelta(days=offset)
        begins = utc(datetime.combine(d, cap.start, tzinfo=day.zone))
        ends_on = d if cap.end > cap.start else d + timedelta(days=1)
        ends = utc(datetime.combine(ends_on, cap.end, tzinfo=day.zone))
        if ends > start:
            return begins, ends
    raise AssertionError("unreachable: a window of the next day always ends later")


#: the sun over the demo sites: production from 06:00 to 20:00 local, peak at 13:00
_SUNRISE_H, _SUNSET_H = 6.0, 20.0
#: inverter and temperature losses at the peak
_PERFORMANCE = 0.85
_CLOUD_SLOT_S = 900


def pv_power_w(peak_w: float, at: datetime, *, zone: ZoneInfo, seed: int = 0) -> float:
    """AC power of a PV plant of ``peak_w`` at ``at``: a clear-sky bell between sunrise and
    sunset, with clouds passing in some quarter hours (the same ``seed`` gives the same
    weather)."""
    local = at.astimezone(zone)
    hour = local.hour + local.minute / 60 + local.second / 3600
    if not _SUNRISE_H < hour < _SUNSET_H:
        return 0.0
    clear = math.sin(math.pi * (hour - _SUNRISE_H) / (_SUNSET_H - _SUNRISE_H)) ** 1.2
    slot = int(at.timestamp()) // _CLOUD_SLOT_S
    cloud = random.Random(f"{seed}:{slot}").random()
    shade = 1.0 if cloud < 0.7 else 0.35 + 0.4 * (cloud - 0.7) / 0.3
    return round(float(peak_w * _PERFORMANCE * clear * shade), 1)
