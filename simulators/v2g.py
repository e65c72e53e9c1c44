"""A bidirectional (V2G) electric vehicle: the :class:`~simulators.ev.EV` that may also give.

``ev.advance(power_w, dt_s, now=...)`` charges with a positive power as the plain EV does and
discharges with a negative one (sign convention of OCPP 2.1 ``CentralSetpoint``: negative is
energy to the site), within the vehicle's V2X limits:

- nothing while the driver does not allow discharging (``V2XSpec.discharge_allowed``);
- nothing for a setpoint smaller than ``min_discharge_w`` (the vehicle cannot discharge that
  little); a setpoint beyond ``max_discharge_w`` is clamped and counted;
- never below the *discharge floor*: the higher of its V2X cycling minimum
  (``v2x_min_soc``) and the lowest state of charge from which it can still charge to its
  target by departure (less ``departure_margin_s``), along its own CC-CV taper at its charge
  maximum. The floor rises as departure comes closer, so a vehicle that has given energy
  early stops giving, and then needs the station to charge it.

Each refusal (whole or partial) is counted by reason in :attr:`BidirectionalEV.refusals`.
The battery is lossless, like the plain EV: energy at the connector is energy in the cells.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from simulators.ev import EV, EVSpec
from simulators.exceptions import InvalidParameter
from simulators.quantities import aware
from simulators.v2x import V2XSpec

__all__ = ["REFUSAL_REASONS", "BidirectionalEV", "V2XSpec"]

_SUBSTEP_S = 30.0

#: why a V2G EV gives less than it was asked
REFUSAL_REASONS = (
    "driver_disallows",
    "below_min_discharge",
    "above_max_discharge",
    "v2x_min_soc",
    "departure_need",
)


class BidirectionalEV(EV):
    """An EV that obeys negative setpoints within its V2X limits and its departure need."""

    def __init__(self, spec: EVSpec, v2x: V2XSpec, *, dc: bool = False) -> None:
        super().__init__(spec, dc=dc)
        self.v2x = v2x
        #: energy given to the site over the vehicle's visit (Wh, positive)
        self.discharged_wh = 0.0
        self.refusals: Counter[str] = Counter()
        self.last_refusal: str | None = None

    @property
    def charge_peak_w(self) -> float:
        own = self.spec.max_dc_power_w if self.dc else self.spec.max_ac_power_w
        limit = self.v2x.max_charge_w
        return own if limit is None else min(own, limit)

    def charge_time_s(self, from_soc: float, to_soc: float) -> float:
        """Seconds to charge from ``from_soc`` to ``to_soc`` at :attr:`charge_peak_w` along the
        CC-CV taper of :meth:`EV.acceptance_w` (``inf`` when it cannot get there)."""
        if to_soc <= from_soc:
            return 0.0
        peak = self.charge_peak_w
        if peak <= 0.0:
            return math.inf
        spec = self.spec
        knee = min(1.0, spec.taper_soc)
        flat = 1.0 - spec.taper_floor * (1.0 - knee)  # where the taper reaches its floor
        hours = max(0.0, min(to_soc, knee) - from_soc) / peak
        low, high = max(from_soc, knee), min(to_soc, flat)
        if high > low:
            hours += (1.0 - knee) / peak * math.log((1.0 - low) / (1.0 - high))
        low = max(from_soc, flat)
        if to_soc > low:
            if spec.taper_floor <= 0.0:
                return math.inf
            hours += (to_soc - low) / (peak * spec.taper_floor)
        return hours * spec.capacity_wh * 3600.0

    def discharge_floor_soc(self, now: datetime | None) -> tuple[float, str]:
        """The lowest state of charge it may discharge to now, and which rule sets it."""
        floor, reason = self.v2x.v2x_min_soc, "v2x_min_soc"
        departure = self.spec.departure
        if departure is None:
            return floor, reason
        if now is None:
            raise InvalidParameter("now", "a V2G EV with a departure needs the time")
        target = self.spec.target_soc
        left_s = (departure - aware("now", now)).total_seconds() - self.v2x.departure_margin_s
        if self.charge_time_s(floor, target) <= left_s:
            return floor, reason
        low, high = floor, max(floor, target)
        for _ in range(60):
            middle = (low + high) / 2.0
            if self.charge_time_s(middle, target) <= left_s:
                high = middle
            else:
                low = middle
        return high, "departure_need"

    def dischargeable_wh(self, now: datetime | None = None) -> float:
        """Energy the vehicle may give now."""
        floor, _ = self.discharge_floor_soc(now)
        return max(0.0, (self.soc - floor) * self.spec.capacity_wh)

    def advance(self, power_w: float, dt_s: float, *, now: datetime | None = None) -> float:
        """Charge (``power_w`` > 0) or discharge (< 0) for ``dt_s`` seconds starting at ``now``;
        return the energy taken (Wh), negative for energy given."""
        self.last_refusal = None
        if power_w >= 0.0:
            return super().advance(power_w, dt_s)
        wanted_w = -power_w
        if not self.v2x.discharge_allowed:
            return self._refuse("driver_disallows")
        if wanted_w < self.v2x.min_discharge_w:
            return self._refuse("below_min_discharge")
        if wanted_w > self.v2x.max_discharge_w:
            self._refuse("above_max_discharge")
            wanted_w = self.v2x.max_discharge_w
        given = 0.0
        elapsed = 0.0
        capacity = self.spec.capacity_wh
        while dt_s - elapsed > 1e-9:
            step = min(_SUBSTEP_S, dt_s - elapsed)
            at = None if now is None else now + timedelta(seconds=elapsed + step)
            floor, reason = self.discharge_floor_soc(at)
            room_wh = (self.soc - floor) * capacity
            energy = wanted_w * step / 3600.0
            if room_wh < energy:
                self._refuse(reason)
                energy = max(0.0, room_wh)
            self.soc -= energy / capacity
            given += energy
            elapsed += step
            if energy <= 0.0:
                break
        self.discharged_wh += given
        return -given

    def _refuse(self, reason: str) -> float:
        if reason != self.last_refusal:
            self.refusals[reason] += 1
        self.last_refusal = reason
        return 0.0

    def energy_transfer_modes(self) -> list[str]:
        """What the vehicle offers (2.1 ``availableEnergyTransfer``): BPT only when allowed."""
        if self.dc:
            plain = "DC"
        else:
            plain = "AC_three_phase" if self.spec.phases == 3 else "AC_single_phase"
        if not self.v2x.discharge_allowed:
            return [plain]
        return ["DC_BPT" if self.dc else "AC_BPT", plain]

    def charging_needs(self) -> dict[str, Any]:
        """The 2.1 ``chargingNeeds`` of a NotifyEVChargingNeeds request, camelCase."""
        spec, v2x, soc = self.spec, self.v2x, self.soc
        capacity = spec.capacity_wh
        parameters: dict[str, Any] = {
            "minChargePower": v2x.min_charge_w,
            "maxChargePower": self.charge_peak_w,
            "minDischargePower": v2x.min_discharge_w,
            "maxDischargePower": v2x.max_discharge_w if v2x.discharge_allowed else 0.0,
            "evTargetEnergyRequest": round((spec.target_soc - soc) * capacity, 1),
            "evMinEnergyRequest": round((v2x.min_soc - soc) * capacity, 1),
            "evMaxEnergyRequest": round((1.0 - soc) * capacity, 1),
            "evMinV2XEnergyRequest": round((v2x.v2x_min_soc - soc) * capacity, 1),
            "evMaxV2XEnergyRequest": round((v2x.v2x_max_soc - soc) * capacity, 1),
            "targetSoC": round(spec.target_soc * 100),
        }
        modes = self.energy_transfer_modes()
        needs: dict[str, Any] = {
            "requestedEnergyTransfer": modes[0],
            "availableEnergyTransfer": modes,
            "controlMode": "DynamicControl",
            "mobilityNeedsMode": "EVCC",
            "v2xChargingParameters": parameters,
        }
        if spec.departure is not None:
            needs["departureTime"] = spec.departure.isoformat().replace("+00:00", "Z")
        return needs
