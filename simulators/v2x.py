"""A vehicle's V2X parameters (2.1 NotifyEVChargingNeeds ``v2xChargingParameters``): what a
:class:`~simulators.v2g.BidirectionalEV` may give, as plain data an
:class:`~simulators.ev.EVSpec` can carry."""

from __future__ import annotations

from dataclasses import dataclass

from simulators.exceptions import InvalidParameter
from simulators.quantities import fraction, non_negative

__all__ = ["V2XSpec"]


@dataclass(frozen=True, slots=True)
class V2XSpec:
    """A vehicle's V2X parameters (NotifyEVChargingNeeds ``v2xChargingParameters``);
    fractions of capacity for the states of charge."""

    discharge_allowed: bool = True
    min_discharge_w: float = 0.0
    max_discharge_w: float = 11_000.0
    min_charge_w: float = 0.0
    max_charge_w: float | None = None
    """``None``: the vehicle's own AC or DC maximum."""
    min_soc: float = 0.2
    """The driver's minimum state of charge (``evMinEnergyRequest``)."""
    v2x_min_soc: float = 0.3
    v2x_max_soc: float = 0.9
    departure_margin_s: float = 900.0

    def __post_init__(self) -> None:
        for name in ("min_discharge_w", "max_discharge_w", "min_charge_w", "departure_margin_s"):
            non_negative(f"v2x.{name}", getattr(self, name))
        if self.max_charge_w is not None:
            non_negative("v2x.max_charge_w", self.max_charge_w)
            if self.min_charge_w > self.max_charge_w:
                raise InvalidParameter("v2x.min_charge_w", "is above max_charge_w")
        if self.min_discharge_w > self.max_discharge_w:
            raise InvalidParameter("v2x.min_discharge_w", "is above max_discharge_w")
        for name in ("min_soc", "v2x_min_soc", "v2x_max_soc"):
            fraction(f"v2x.{name}", getattr(self, name))
        if self.v2x_min_soc > self.v2x_max_soc:
            raise InvalidParameter("v2x.v2x_min_soc", "is above v2x_max_soc")
        if not isinstance(self.discharge_allowed, bool):
            raise InvalidParameter("v2x.discharge_allowed", "must be true or false")
