"""The site day's books and checks (benchmarks/site_day.py): pure, no I/O, no clock.

:class:`SiteBooks` takes what the site's meter sees, sample by sample (each device's power,
the PV, the import limit in force, the price), holds each sample until the next on a
:class:`~simulators.site_meter.SiteMeter` and keeps the figures of a run: import peak,
seconds over the limit in force and every stretch over it, cost, every storage unit's lowest
and highest state of charge. :func:`checks` compares them with what the devices booked
themselves (their energy registers) and with the targets:

- **cap held**: no stretch of measured import above the limit in force (by more than
  ``tolerance_w``) lasts longer than one control interval (plus one sample, the meter's
  resolution);
- **energy conserved** within 1 %: grid import + PV + discharge (storage and V2G) = EVs +
  storage charge + rack + export, the meter's side against the devices' registers; and for
  each unit: energy in - energy out = stored + losses;
- **SoC in bounds**: every unit's sampled SoC within its bounds;
- **swaps**: every swap that found no ready pack was one the forecast did not promise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from simulators.site_meter import SiteMeter

__all__ = ["Books", "Checks", "DeviceTotals", "SiteBooks", "Stretch", "checks"]

#: a unit's SoC may pass its bound by this much (%): the model lands on it to rounding
SOC_SLACK_PCT = 0.01


@dataclass(frozen=True, slots=True)
class Stretch:
    """Measured import above the limit in force: from the first sample over it to the first
    sample back under it (or the last sample), and the largest excess seen."""

    start: datetime
    end: datetime
    worst_w: float

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(slots=True)
class Books:
    """What :class:`SiteBooks` has kept so far."""

    import_peak_w: float = 0.0
    cost: float = 0.0
    seconds_over_cap: float = 0.0
    stretches: list[Stretch] = field(default_factory=list)
    soc_seen: dict[str, tuple[float, float]] = field(default_factory=dict)  # unit: (low, high)
    samples: int = 0
    longest_gap_s: float = 0.0  # between two samples: the meter's worst resolution


class SiteBooks:
    """The meter's view of a run, one sample at a time (each held until the next)."""

    def __init__(self, *, tolerance_w: float = 500.0, export_price: float = 0.0) -> None:
        self.meter = SiteMeter("site")
        self.tolerance_w = tolerance_w
        self.export_price = export_price
        self.books = Books()
        self._last: tuple[datetime, float, float, float] | None = None  # at, import, cap, price
        self._reading: object | None = None
        self._over: list[object] | None = None  # [start, worst] of the stretch going on

    def record(
        self,
        at: datetime,
        *,
        devices_w: Mapping[str, float],
        pv_w: float,
        cap_w: float,
        price_per_kwh: float,
        soc_pct: Mapping[str, float] | None = None,
    ) -> float:
        """Take a sample at ``at``; returns the net import it measured (W)."""
        reading = self.meter.reading(at, devices_w=devices_w, pv_w=pv_w)
        self._hold_until(at)
        self._reading = reading
        books = self.books
        books.samples += 1
        net = reading.net_import_w
        self._last = (at, net, cap_w, price_per_kwh)
        books.import_peak_w = max(books.import_peak_w, reading.import_w)
        for unit, soc in (soc_pct or {}).items():
            low, high = books.soc_seen.get(unit, (soc, soc))
            books.soc_seen[unit] = (min(low, soc), max(high, soc))
        excess = net - cap_w
        if excess > self.tolerance_w:
            if self._over is None:
                self._over = [at, excess]
            self._over[1] = max(float(self._over[1]), excess)  # type: ignore[arg-type]
        elif self._over is not None:
            self._close(at)
        return net

    def close(self, at: datetime) -> Books:
        """The books at the end of the run (the last sample held until ``at``)."""
        self._hold_until(at)
        self._last = None
        if self._over is not None:
            self._close(at)
        return self.books

    def _hold_until(self, at: datetime) -> None:
        if self._last is None or self._reading is None:
            return
        began, net, cap, price = self._last
        dt_s = (at - began).total_seconds()
        if dt_s <= 0:
            return
        self.books.longest_gap_s = max(self.books.longest_gap_s, dt_s)
        self.meter.integrate(self._reading, dt_s)  # type: ignore[arg-type]
        hours = dt_s / 3600.0
        self.books.cost += max(0.0, net) * hours / 1000.0 * price
        self.books.cost -= max(0.0, -net) * hours / 1000.0 * self.export_price
        if net - cap > self.tolerance_w:
            self.books.seconds_over_cap += dt_s

    def _close(self, at: datetime) -> None:
        assert self._over is not None
        start, worst = self._over
        self.books.stretches.append(Stretch(start, at, float(worst)))  # type: ignore[arg-type]
        self._over = None


@dataclass(frozen=True, slots=True)
class DeviceTotals:
    """What the devices booked themselves over the run (Wh at their terminals)."""

    ev_charged_wh: float
    v2g_given_wh: float
    storage_in_wh: float
    storage_out_wh: float
    storage_stored_wh: float  # delta of the energy in the units
    storage_losses_wh: float
    rack_wh: float
    soc_bounds_pct: Mapping[str, tuple[float, float]]  # unit: (min, max)
    swaps: int
    swaps_no_ready_pack: int
    swaps_no_ready_pack_promised: int  # of those, ones the forecast and plan promised


@dataclass(frozen=True, slots=True)
class Checks:
    cap_held: bool
    longest_over_cap_s: float
    energy_conserved: bool
    balance_error: float  # relative, site
    storage_balance_error: float  # relative, worst unit
    soc_in_bounds: bool
    swaps_served: bool

    @property
    def passed(self) -> bool:
        return self.cap_held and self.energy_conserved and self.soc_in_bounds and self.swaps_served


def _relative(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0.0 else abs(a - b) / scale


def checks(
    books: Books,
    meter: SiteMeter,
    totals: DeviceTotals,
    *,
    control_interval_s: float,
    sample_s: float,
    tolerance: float = 0.01,
) -> Checks:
    """The targets of a run (see the module's docstring)."""
    longest = max((s.seconds for s in books.stretches), default=0.0)
    r = meter.registers
    supply = r.import_wh + r.pv_wh + totals.storage_out_wh + totals.v2g_given_wh
    demand = (
        r.export_wh + r.base_load_wh + totals.ev_charged_wh + totals.storage_in_wh + totals.rack_wh
    )
    site_error = _relative(supply, demand)
    stored = totals.storage_stored_wh + totals.storage_losses_wh
    unit_error = _relative(totals.storage_in_wh - totals.storage_out_wh, stored)
    if abs(stored) < 1.0 and abs(totals.storage_in_wh - totals.storage_out_wh) < 1.0:
        unit_error = 0.0  # idle units: nothing to compare
    in_bounds = all(
        unit in totals.soc_bounds_pct
        and low >= totals.soc_bounds_pct[unit][0] - SOC_SLACK_PCT
        and high <= totals.soc_bounds_pct[unit][1] + SOC_SLACK_PCT
        for unit, (low, high) in books.soc_seen.items()
    )
    return Checks(
        cap_held=longest <= control_interval_s + sample_s,
        longest_over_cap_s=longest,
        energy_conserved=site_error <= tolerance and unit_error <= tolerance,
        balance_error=site_error,
        storage_balance_error=unit_error,
        soc_in_bounds=in_bounds and math.isfinite(site_error),
        swaps_served=totals.swaps_no_ready_pack_promised == 0,
    )
