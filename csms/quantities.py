"""The numbers the central system takes from outside, and their ranges: one rule at the
boundary.

Every number that enters (an HTTP body or query parameter, a site file, a CLI option, an
OCPP payload that feeds the planner) is a finite number within the range of its quantity,
or it is refused with an error that names the field. The types here say what each quantity
may be; the pydantic models at every edge use them, and so do the site-file loader and the
CLI (:func:`finite_option`). NaN, ±Infinity and anything that overflows a float (``1e400``)
are never in range.

==================  =================================  ===============
type                quantity                            range
==================  =================================  ===============
``PowerW``          a power limit or rating, W           0 .. 1 GW
``SignedPowerW``    a power that flows both ways, W     -1 GW .. 1 GW
``PositivePowerW``  a rating that must be above zero    (0 .. 1 GW]
``EnergyWh``        an energy, Wh                        0 .. 1 TWh
``CurrentA``        a current, A                         0 .. 100 kA
``VoltageV``        a voltage, V                         (0 .. 1 MV]
``Percent``         a share, %                           0 .. 100
``Efficiency``      a conversion efficiency              (0 .. 1]
``PricePerKwh``     a price per kWh (may be negative)   -10,000 .. 10,000
``PricePerKw``      a demand charge per kW               0 .. 1,000,000
``DurationS``       a duration, s                        (0 .. 10 years]
==================  =================================  ===============

The bounds are wide enough for any site a central system manages and narrow enough that
sums and products over a site (a few thousand EVSEs, a day of steps) stay finite.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_CURRENT_A",
    "MAX_DURATION_S",
    "MAX_ENERGY_WH",
    "MAX_POWER_W",
    "MAX_PRICE",
    "CurrentA",
    "DurationS",
    "Efficiency",
    "EnergyWh",
    "NotFinite",
    "Percent",
    "PositivePowerW",
    "PowerW",
    "PricePerKw",
    "PricePerKwh",
    "SettingsSection",
    "SignedPowerW",
    "VoltageV",
    "check_finite",
    "finite_option",
]

MAX_POWER_W = 1e9
MAX_ENERGY_WH = 1e12
MAX_CURRENT_A = 1e5
MAX_VOLTAGE_V = 1e6
MAX_PRICE = 1e4
MAX_DEMAND_CHARGE = 1e6
MAX_DURATION_S = 10 * 365 * 86400.0


class SettingsSection(BaseModel):
    """A section of the settings file (``[server]``, ``[security]``, ...): unknown options
    refused, frozen, and every number finite (``inf`` or ``nan`` in the TOML file or the
    environment refused, naming the option) before its own bounds are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


PowerW = Annotated[float, Field(ge=0, le=MAX_POWER_W, allow_inf_nan=False)]
PositivePowerW = Annotated[float, Field(gt=0, le=MAX_POWER_W, allow_inf_nan=False)]
SignedPowerW = Annotated[float, Field(ge=-MAX_POWER_W, le=MAX_POWER_W, allow_inf_nan=False)]
EnergyWh = Annotated[float, Field(ge=0, le=MAX_ENERGY_WH, allow_inf_nan=False)]
CurrentA = Annotated[float, Field(ge=0, le=MAX_CURRENT_A, allow_inf_nan=False)]
VoltageV = Annotated[float, Field(gt=0, le=MAX_VOLTAGE_V, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Efficiency = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
PricePerKwh = Annotated[float, Field(ge=-MAX_PRICE, le=MAX_PRICE, allow_inf_nan=False)]
PricePerKw = Annotated[float, Field(ge=0, le=MAX_DEMAND_CHARGE, allow_inf_nan=False)]
DurationS = Annotated[float, Field(gt=0, le=MAX_DURATION_S, allow_inf_nan=False)]


class NotFinite(ValueError):
    """A number that is NaN, infinite or outside its range; the message names the field."""


def check_finite(
    field: str, value: float, *, low: float | None = None, high: float | None = None
) -> float:
    """``value`` if it is a finite number within ``[low, high]``; else :class:`NotFinite`
    naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NotFinite(f"{field}: must be a number, not {value!r}")
    if not math.isfinite(value):
        raise NotFinite(f"{field}: must be a finite number, not {value!r}")
    if low is not None and value < low:
        raise NotFinite(f"{field}: must be at least {low:g}, not {value:g}")
    if high is not None and value > high:
        raise NotFinite(f"{field}: must be at most {high:g}, not {value:g}")
    return float(value)


def finite_option(
    name: str, *, low: float | None = None, high: float | None = None, positive: bool = False
) -> type[float]:
    """An argparse ``type=`` for a CLI option: a finite float in range, else an argparse
    error naming the option (``--max-import-kw: must be a finite number, not 'inf'``)."""
    import argparse

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}: not a number: {text!r}") from None
        try:
            check_finite(name, value, low=low, high=high)
        except NotFinite as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if positive and value <= 0:
            raise argparse.ArgumentTypeError(f"{name}: must be above 0, not {text}")
        return value

    parse.__name__ = "number"  # argparse names the type in its messages
    return parse  # type: ignore[return-value]
