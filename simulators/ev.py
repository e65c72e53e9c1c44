"""The electric vehicle: a pure battery model with a CC-CV taper.

``ev.advance(power_w, dt_s) -> energy_wh`` charges the battery with what the station offers,
never more than the vehicle accepts: its AC or DC maximum, reduced linearly above
``taper_soc`` down to ``taper_floor`` of the maximum at 100 % (a constant-current /
constant-voltage approximation), and nothing once ``target_soc`` is reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from simulators.v2x import V2XSpec

__all__ = ["EV", "EVSpec"]

_SUBSTEP_S = 30.0


@dataclass(frozen=True, slots=True)
class EVSpec:
    """What a vehicle is and wants; fractions of capacity for the states of charge."""

    ev_id: str
    capacity_wh: float = 60_000.0
    initial_soc: float = 0.2
    target_soc: float = 0.8
    max_ac_power_w: float = 11_000.0
    max_dc_power_w: float = 50_000.0
    phases: int = 3
    taper_soc: float = 0.8
    taper_floor: float = 0.1
    arrival: datetime | None = None
    departure: datetime | None = None
    id_tag: str | None = None
    v2x: V2XSpec | None = None
    """A V2G vehicle's V2X parameters: at an OCPP 2.1 station it is a
    :class:`~simulators.v2g.BidirectionalEV`; elsewhere it only charges."""

    def __post_init__(self) -> None:
        if self.capacity_wh <= 0:
            raise ValueError(f"capacity_wh must be positive, got {self.capacity_wh}")
        for name in ("initial_soc", "target_soc", "taper_soc", "taper_floor"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.phases not in (1, 2, 3):
            raise ValueError(f"phases must be 1, 2 or 3, got {self.phases}")
        if self.max_ac_power_w < 0 or self.max_dc_power_w < 0:
            raise ValueError("maximum powers must not be negative")

    @property
    def energy_request_wh(self) -> float:
        return max(0.0, (self.target_soc - self.initial_soc) * self.capacity_wh)


class EV:
    """A vehicle being charged; mutable state around an :class:`EVSpec`."""

    def __init__(self, spec: EVSpec, *, dc: bool = False) -> None:
        self.spec = spec
        self.dc = dc
        self.soc = spec.initial_soc
        self.delivered_wh = 0.0
        #: An injected fault: the vehicle stops drawing although it is not full.
        self.stopped_drawing = False

    @property
    def full(self) -> bool:
        return self.soc >= self.spec.target_soc - 1e-9

    def acceptance_w(self) -> float:
        """The most power the vehicle takes right now."""
        if self.full or self.stopped_drawing:
            return 0.0
        spec = self.spec
        peak = spec.max_dc_power_w if self.dc else spec.max_ac_power_w
        if self.soc <= spec.taper_soc or spec.taper_soc >= 1.0:
            return peak
        fraction = (1.0 - self.soc) / (1.0 - spec.taper_soc)
        return peak * max(spec.taper_floor, fraction)

    def advance(self, power_w: float, dt_s: float) -> float:
        """Charge with up to ``power_w`` for ``dt_s`` seconds; return the energy taken (Wh)."""
        if power_w <= 0 or dt_s <= 0:
            return 0.0
        taken = 0.0
        left = dt_s
        capacity = self.spec.capacity_wh
        while left > 1e-9 and not self.full:
            step = min(_SUBSTEP_S, left)
            power = min(power_w, self.acceptance_w())
            if power <= 0:
                break
            room_wh = (self.spec.target_soc - self.soc) * capacity
            energy = min(power * step / 3600.0, room_wh)
            self.soc += energy / capacity
            taken += energy
            left -= step
        self.delivered_wh += taken
        return taken
