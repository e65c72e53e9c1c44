"""A site's grid meter as an OCPP 2.1 station: the sans-I/O part (decision 0917).

:class:`MeterStation` reads the site's :class:`~simulators.site_meter.SiteMeter` at every
clock-aligned sample: what each device of the site draws at that moment (``devices_w``, the
fleet's charging connectors, storage units and swap racks, each signed: negative gives to
the site), the base load with its noise, less what the site's PV plants produce
(``pv_w``). It reports it as MeterValues on EVSE 0,
the station's main meter, at the grid inlet, as a meter gateway or a station wired to the
site's grid meter does: ``Power.Active.Import`` and ``.Export`` (W) and the import and
export energy registers (Wh, each reading held until the next). The central system reads
the site import from exactly these (``[meter] station``, ``evse = 0``).

A meter has no connectors: it sends no status, refuses charging profiles and has none to
clear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulators.messages import DeviceRequest
from simulators.quantities import aware, positive
from simulators.sampling import SampleClock
from simulators.site_meter import SiteMeter, SiteReading
from simulators.storage_station import ProfileAnswer, clock_sample

__all__ = ["MeterStation", "SiteMeterSpec"]

#: the station's main meter: the whole site at its grid connection
EVSE_ID = 0


@dataclass(frozen=True, slots=True)
class SiteMeterSpec:
    """The simulated site's grid meter: its station id, the load no station meters (its
    base, and the seeded noise on it; checked by :class:`SiteMeter`) and how often it
    reports (``interval_s``; None: the fleet's meter interval). A grid meter reports every
    few seconds where the stations meter every minute or so (decision 0931)."""

    station_id: str = "GRIDMETER"
    base_load_w: float = 0.0
    base_load_noise: float = 0.0
    seed: int = 0
    interval_s: float | None = None

    def __post_init__(self) -> None:
        if self.interval_s is not None:
            positive("interval_s", self.interval_s)


class MeterStation:
    def __init__(
        self,
        station_id: str,
        meter: SiteMeter,
        devices_w: Callable[[datetime], Mapping[str, float]],
        *,
        start: datetime,
        pv_w: Callable[[datetime], float] | None = None,
        meter_interval_s: float = 60.0,
    ) -> None:
        self.station_id = station_id
        self.meter = meter
        self.devices_w = devices_w
        self.pv_w = pv_w
        self.sampling = SampleClock(meter_interval_s, aware("start", start))
        self.last: SiteReading | None = None

    def read(self, at: datetime) -> SiteReading:
        """The meter at ``at``: every device as it draws now, the base load, the PV."""
        pv_w = self.pv_w(at) if self.pv_w is not None else 0.0
        return self.meter.reading(at, devices_w=self.devices_w(at), pv_w=pv_w)

    def next_wakeup(self) -> datetime:
        return self.sampling.next

    def step(self, now: datetime) -> list[DeviceRequest]:
        """The samples that became due by ``now``, in time order."""
        aware("now", now)
        out: list[DeviceRequest] = []
        while (at := self.sampling.take(now)) is not None:
            reading = self.read(at)
            if self.last is not None:
                self.meter.integrate(self.last, (at - self.last.at).total_seconds())
            self.last = reading
            out.append(self.meter_values(reading))
        return out

    def meter_values(self, reading: SiteReading) -> DeviceRequest:
        registers = self.meter.registers
        values = [
            ("Power.Active.Import", round(reading.import_w, 1), "W"),
            ("Power.Active.Export", round(reading.export_w, 1), "W"),
            ("Energy.Active.Import.Register", round(registers.import_wh, 3), "Wh"),
            ("Energy.Active.Export.Register", round(registers.export_wh, 3), "Wh"),
        ]
        return clock_sample(reading.at, EVSE_ID, values, location="Inlet")

    def statuses(self, now: datetime) -> list[DeviceRequest]:
        return []

    def samples(self, now: datetime) -> list[DeviceRequest]:
        return [self.meter_values(self.read(now))]

    def evse_ids(self) -> tuple[int, ...]:
        return ()

    def set_charging_profile(
        self, evse_id: int, raw: dict[str, Any], now: datetime
    ) -> ProfileAnswer:
        return ProfileAnswer("Rejected", "UnsupportedRequest", "a grid meter draws no power")

    def clear_charging_profile(self, profile_id: int | None) -> str:
        return "Unknown"
