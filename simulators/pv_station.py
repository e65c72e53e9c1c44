"""A PV plant as an OCPP 2.1 station: its inverter's meter on the wire (decision 0315).

:class:`PvStation` is the sans-I/O side: a PV source (:class:`~simulators.pv.ClearSkyPV`, the
clear-sky shape with seeded clouds, or :class:`~simulators.pv.CsvPV`, a CSV profile) run on
the station's clock, reporting clock-aligned ``MeterValues`` on EVSE 0 (the plant's meter):
``Power.Active.Export`` (W produced at the sample) and ``Energy.Active.Export.Register`` (Wh
produced since the start: a CSV profile's exactly, the clear sky's by the trapezoid every
``step_s``). A PV plant takes no charging profile
(``Rejected``, ``UnsupportedParam``) and has no EVSE of its own. :class:`PvRunner` runs it
under the device runner (:mod:`simulators.device_runner`): boot, heartbeats, reconnects, its
samples kept while offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulators.device_runner import DeviceChargePoint, DeviceRunner
from simulators.exceptions import InvalidParameter
from simulators.messages import DeviceRequest
from simulators.pv import ClearSkyPV, CsvPV
from simulators.quantities import aware, positive
from simulators.sampling import SampleClock
from simulators.storage_station import ProfileAnswer, clock_sample

__all__ = ["PV_EVSE", "PvChargePoint", "PvRunner", "PvSpec", "PvStation"]

#: the EVSE id of the plant's meter (the station's main meter in OCPP terms)
PV_EVSE = 0


@dataclass(frozen=True, slots=True)
class PvSpec:
    """A PV plant of the fleet: the id it connects as and what it produces."""

    station_id: str
    source: ClearSkyPV | CsvPV
    #: the energy register's integration step
    step_s: float = 60.0

    def __post_init__(self) -> None:
        sid = self.station_id
        if not isinstance(sid, str) or not 0 < len(sid) <= 48 or not sid.isprintable():
            raise InvalidParameter(
                "pv.station_id", f"must be 1 to 48 printable characters: {sid!r}"
            )
        positive(f"pv[{sid}].step_s", self.step_s)


class PvStation:
    """A PV plant's OCPP 2.1 side: clock-aligned samples of what it produces."""

    def __init__(self, spec: PvSpec, *, start: datetime, meter_interval_s: float = 60.0) -> None:
        self.spec = spec
        self.station_id = spec.station_id
        self.now = aware("start", start)
        self.sampling = SampleClock(meter_interval_s, self.now)
        self.energy_wh = 0.0
        self.peak_w = 0.0
        self.profiles_rejected = 0

    def power_w(self, at: datetime) -> float:
        return self.spec.source.power_w(at)

    def next_wakeup(self) -> datetime:
        return self.sampling.next

    def step(self, now: datetime) -> list[DeviceRequest]:
        """Run the plant up to ``now``; the samples that became due, in time order."""
        aware("now", now)
        out: list[DeviceRequest] = []
        step = timedelta(seconds=self.spec.step_s)
        while self.now < now:
            until = min(now, self.sampling.next, self.now + step)
            before, after = self.power_w(self.now), self.power_w(until)
            source = self.spec.source
            if isinstance(source, CsvPV):  # exact on its linear pieces
                self.energy_wh += source.energy_wh(self.now, until)
            else:  # the trapezoid
                hours = (until - self.now).total_seconds() / 3600.0
                self.energy_wh += (before + after) / 2.0 * hours
            self.peak_w = max(self.peak_w, before, after)
            self.now = until
            if self.sampling.take(until) is not None:
                out.extend(self.samples(until))
        return out

    def samples(self, now: datetime) -> list[DeviceRequest]:
        """The plant's meter (also what TriggerMessage asks for)."""
        values = [
            ("Power.Active.Export", round(self.power_w(now), 1), "W"),
            ("Energy.Active.Export.Register", round(self.energy_wh, 3), "Wh"),
        ]
        return [clock_sample(now, PV_EVSE, values)]

    def statuses(self, now: datetime) -> list[DeviceRequest]:
        return []  # no EVSE to report on

    def evse_ids(self) -> tuple[int, ...]:
        return ()

    def set_charging_profile(
        self, evse_id: int, raw: dict[str, Any], now: datetime
    ) -> ProfileAnswer:
        self.profiles_rejected += 1
        return ProfileAnswer("Rejected", "UnsupportedParam", "a PV plant takes no charging profile")

    def clear_charging_profile(self, profile_id: int | None) -> str:
        return "Unknown"


class PvChargePoint(DeviceChargePoint):
    """The PV plant's side of an OCPP 2.1 connection."""


class PvRunner(DeviceRunner[PvStation]):
    """Runs one PV plant against a central system at ``{url}/{station_id}``."""

    charge_point_class = PvChargePoint
    model_name = "SimPV"
