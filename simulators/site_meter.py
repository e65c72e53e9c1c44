"""The meter at a simulated site's grid connection.

``meter.reading(at, devices_w=..., pv_w=...)`` sums what the devices draw (EVs, storage
units, swap racks; each signed: positive draws from the site, negative gives to it, as a
discharging storage unit or V2G EV does) and the site's base load, less the PV, into the net
import (export negative). ``meter.integrate(reading, dt_s)`` holds a reading for ``dt_s``
and adds its energy to the meter's registers: import, export, PV, base load and each
device's net energy, so a site's books can be checked: ``import - export + pv ==
base + sum of devices``.

The base load is ``base_load_w`` with seeded noise: each ``noise_slot_s`` slot draws a
factor in ``1 +/- base_load_noise`` from ``seed`` and the slot number alone.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from simulators.quantities import aware, finite, fraction, integer, non_negative, positive

__all__ = ["SiteMeter", "SiteReading"]


@dataclass(frozen=True, slots=True)
class SiteReading:
    at: datetime
    base_load_w: float
    devices_w: Mapping[str, float]
    pv_w: float

    @property
    def load_w(self) -> float:
        """Everything drawn (or given, negative) on the site side, PV apart."""
        return self.base_load_w + math.fsum(self.devices_w.values())

    @property
    def net_import_w(self) -> float:
        return self.load_w - self.pv_w

    @property
    def import_w(self) -> float:
        return max(0.0, self.net_import_w)

    @property
    def export_w(self) -> float:
        return max(0.0, -self.net_import_w)


@dataclass(slots=True)
class _Registers:
    import_wh: float = 0.0
    export_wh: float = 0.0
    pv_wh: float = 0.0
    base_load_wh: float = 0.0
    devices_wh: dict[str, float] = field(default_factory=dict)
    peak_import_w: float = 0.0


class SiteMeter:
    def __init__(
        self,
        site_id: str,
        *,
        base_load_w: float = 0.0,
        base_load_noise: float = 0.0,
        noise_slot_s: float = 60.0,
        seed: int = 0,
    ) -> None:
        where = f"site[{site_id}]"
        self.site_id = site_id
        self.base_load_w = non_negative(f"{where}.base_load_w", base_load_w)
        self.base_load_noise = fraction(f"{where}.base_load_noise", base_load_noise)
        self.noise_slot_s = positive(f"{where}.noise_slot_s", noise_slot_s)
        self.seed = integer(f"{where}.seed", seed)
        self.registers = _Registers()

    def base_load_at(self, at: datetime) -> float:
        if self.base_load_noise == 0.0:
            return self.base_load_w
        slot = math.floor(aware("at", at).timestamp() / self.noise_slot_s)
        draw = random.Random(f"{self.seed}:{self.site_id}:{slot}").uniform(-1.0, 1.0)
        return self.base_load_w * (1.0 + self.base_load_noise * draw)

    def reading(
        self, at: datetime, *, devices_w: Mapping[str, float], pv_w: float = 0.0
    ) -> SiteReading:
        checked = {name: finite(f"devices_w[{name}]", value) for name, value in devices_w.items()}
        return SiteReading(
            at=aware("at", at),
            base_load_w=self.base_load_at(at),
            devices_w=checked,
            pv_w=non_negative("pv_w", pv_w),
        )

    def integrate(self, reading: SiteReading, dt_s: float) -> None:
        """Hold ``reading`` for ``dt_s`` seconds on the registers."""
        hours = non_negative("dt_s", dt_s) / 3600.0
        registers = self.registers
        registers.import_wh += reading.import_w * hours
        registers.export_wh += reading.export_w * hours
        registers.pv_wh += reading.pv_w * hours
        registers.base_load_wh += reading.base_load_w * hours
        for name, power in reading.devices_w.items():
            registers.devices_wh[name] = registers.devices_wh.get(name, 0.0) + power * hours
        if dt_s > 0.0:
            registers.peak_import_w = max(registers.peak_import_w, reading.import_w)
