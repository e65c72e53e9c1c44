"""The measurand vocabulary: OCPP's measurand names, their units and unit conversions.

One table for everyone who names or converts a meter reading: the central system's core
(which scales a sample to its base unit), telemetry (which stores every measurand in one
fixed unit) and the simulators (which send them). Nothing here imports ``csms``.

- :class:`Measurand` names every OCPP 1.6 / 2.0.1 measurand; :data:`MEASURAND_UNITS` gives
  the unit each one is stored in (telemetry's schema unit), which is also the unit OCPP
  implies when a sample names none (:func:`default_unit`).
- :data:`UNITS` maps each unit spelling a station may send to a :class:`Unit`: the unit it
  converts to and how (a factor for prefixes such as kWh, a function for Kelvin and
  Fahrenheit, whose zero differs from Celsius).

Two rules read the same table (decision 0512):

- :func:`scaling` (the core): the spelling exactly as sent; only factors are applied, so a
  sample in K stays in K; SoC is kept as ``%`` (:data:`SAMPLE_SPELLING`), the store's
  spelling;
- :func:`conversion` (telemetry): any case; every conversion, to the measurand's own unit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MEASURAND",
    "MEASURAND_UNITS",
    "SAMPLE_SPELLING",
    "UNITS",
    "Measurand",
    "Unit",
    "canonical_measurand",
    "conversion",
    "default_unit",
    "scaling",
]


class Measurand:
    """OCPP 1.6 and 2.0.1 measurand names."""

    CURRENT_EXPORT = "Current.Export"
    CURRENT_IMPORT = "Current.Import"
    CURRENT_OFFERED = "Current.Offered"
    ENERGY_ACTIVE_EXPORT_REGISTER = "Energy.Active.Export.Register"
    ENERGY_ACTIVE_IMPORT_REGISTER = "Energy.Active.Import.Register"
    ENERGY_REACTIVE_EXPORT_REGISTER = "Energy.Reactive.Export.Register"
    ENERGY_REACTIVE_IMPORT_REGISTER = "Energy.Reactive.Import.Register"
    ENERGY_ACTIVE_EXPORT_INTERVAL = "Energy.Active.Export.Interval"
    ENERGY_ACTIVE_IMPORT_INTERVAL = "Energy.Active.Import.Interval"
    ENERGY_ACTIVE_NET = "Energy.Active.Net"
    ENERGY_REACTIVE_EXPORT_INTERVAL = "Energy.Reactive.Export.Interval"
    ENERGY_REACTIVE_IMPORT_INTERVAL = "Energy.Reactive.Import.Interval"
    ENERGY_REACTIVE_NET = "Energy.Reactive.Net"
    ENERGY_APPARENT_NET = "Energy.Apparent.Net"
    ENERGY_APPARENT_IMPORT = "Energy.Apparent.Import"
    ENERGY_APPARENT_EXPORT = "Energy.Apparent.Export"
    FREQUENCY = "Frequency"
    POWER_ACTIVE_EXPORT = "Power.Active.Export"
    POWER_ACTIVE_IMPORT = "Power.Active.Import"
    POWER_FACTOR = "Power.Factor"
    POWER_OFFERED = "Power.Offered"
    POWER_REACTIVE_EXPORT = "Power.Reactive.Export"
    POWER_REACTIVE_IMPORT = "Power.Reactive.Import"
    RPM = "RPM"
    SOC = "SoC"
    TEMPERATURE = "Temperature"
    VOLTAGE = "Voltage"


#: The measurand a sample that names none is (OCPP's default): the energy import register.
DEFAULT_MEASURAND = Measurand.ENERGY_ACTIVE_IMPORT_REGISTER

_M = Measurand
#: Every measurand and the unit it is stored in (and implied in when a sample names none).
MEASURAND_UNITS: dict[str, str] = {
    _M.CURRENT_EXPORT: "A",
    _M.CURRENT_IMPORT: "A",
    _M.CURRENT_OFFERED: "A",
    _M.ENERGY_ACTIVE_EXPORT_REGISTER: "Wh",
    _M.ENERGY_ACTIVE_IMPORT_REGISTER: "Wh",
    _M.ENERGY_REACTIVE_EXPORT_REGISTER: "varh",
    _M.ENERGY_REACTIVE_IMPORT_REGISTER: "varh",
    _M.ENERGY_ACTIVE_EXPORT_INTERVAL: "Wh",
    _M.ENERGY_ACTIVE_IMPORT_INTERVAL: "Wh",
    _M.ENERGY_ACTIVE_NET: "Wh",
    _M.ENERGY_REACTIVE_EXPORT_INTERVAL: "varh",
    _M.ENERGY_REACTIVE_IMPORT_INTERVAL: "varh",
    _M.ENERGY_REACTIVE_NET: "varh",
    _M.ENERGY_APPARENT_NET: "VAh",
    _M.ENERGY_APPARENT_IMPORT: "VAh",
    _M.ENERGY_APPARENT_EXPORT: "VAh",
    _M.FREQUENCY: "Hz",
    _M.POWER_ACTIVE_EXPORT: "W",
    _M.POWER_ACTIVE_IMPORT: "W",
    _M.POWER_FACTOR: "",
    _M.POWER_OFFERED: "W",
    _M.POWER_REACTIVE_EXPORT: "var",
    _M.POWER_REACTIVE_IMPORT: "var",
    _M.RPM: "RPM",
    _M.SOC: "Percent",
    _M.TEMPERATURE: "Celsius",
    _M.VOLTAGE: "V",
}

_BY_LOWER = {name.lower(): name for name in MEASURAND_UNITS}


@dataclass(frozen=True, slots=True)
class Unit:
    """What a unit spelling converts to: ``base`` (a unit of :data:`MEASURAND_UNITS` or one
    of OCPP's other units), by ``factor`` (kWh: 1000) or, for a unit whose zero differs
    (Kelvin, Fahrenheit), by ``shift`` (the whole conversion; ``factor`` is then unused)."""

    base: str
    factor: float = 1.0
    shift: Callable[[float], float] | None = None


def _kelvin(v: float) -> float:
    return v - 273.15


def _fahrenheit(v: float) -> float:
    return (v - 32.0) * 5.0 / 9.0


#: Unit spellings a station may send, as OCPP writes them (plus a few common aliases).
UNITS: dict[str, Unit] = {
    "Wh": Unit("Wh"),
    "kWh": Unit("Wh", 1000.0),
    "MWh": Unit("Wh", 1_000_000.0),
    "varh": Unit("varh"),
    "kvarh": Unit("varh", 1000.0),
    "VAh": Unit("VAh"),
    "kVAh": Unit("VAh", 1000.0),
    "W": Unit("W"),
    "kW": Unit("W", 1000.0),
    "MW": Unit("W", 1_000_000.0),
    "var": Unit("var"),
    "kvar": Unit("var", 1000.0),
    "VA": Unit("VA"),
    "kVA": Unit("VA", 1000.0),
    "A": Unit("A"),
    "mA": Unit("A", 0.001),
    "V": Unit("V"),
    "kV": Unit("V", 1000.0),
    "Hz": Unit("Hz"),
    "Percent": Unit("Percent"),
    "%": Unit("Percent"),
    "Celsius": Unit("Celsius"),
    "C": Unit("Celsius"),
    "K": Unit("Celsius", shift=_kelvin),
    "Kelvin": Unit("Celsius", shift=_kelvin),
    "Fahrenheit": Unit("Celsius", shift=_fahrenheit),
    "F": Unit("Celsius", shift=_fahrenheit),
    "RPM": Unit("RPM"),
}

_UNITS_BY_LOWER = {spelling.lower(): unit for spelling, unit in UNITS.items()}

#: How the core spells a base unit on a stored sample where it differs from the schema's.
SAMPLE_SPELLING: dict[str, str] = {"Percent": "%"}


def canonical_measurand(measurand: str | None) -> str | None:
    """The OCPP spelling of ``measurand`` in any case (``None`` or empty: the default energy
    register); ``None`` if it is not an OCPP measurand."""
    if not measurand:
        return DEFAULT_MEASURAND
    if measurand in MEASURAND_UNITS:
        return measurand
    return _BY_LOWER.get(measurand.strip().lower())


def _family_units() -> tuple[tuple[str, str], ...]:
    """``(name prefix, unit)`` for every dotted prefix of the measurand names (``Power``,
    ``Power.Active``, ``Power.Active.Import``) whose measurands share one unit, longest
    first."""
    families: dict[str, set[str]] = {}
    for name, unit in MEASURAND_UNITS.items():
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            families.setdefault(".".join(parts[:k]), set()).add(unit)
    shared = [(prefix, units.pop()) for prefix, units in families.items() if len(units) == 1]
    return tuple(sorted(shared, key=lambda pair: -len(pair[0])))


_FAMILY_UNITS = _family_units()


def default_unit(measurand: str) -> str:
    """The unit OCPP implies when a sample names none: the measurand's own; for a name OCPP
    does not define, its family's (``Power.Active.X``: W), else Wh."""
    unit = MEASURAND_UNITS.get(measurand)
    if unit is not None:
        return unit
    for prefix, unit in _FAMILY_UNITS:
        if measurand.startswith(prefix):
            return unit
    return "Wh"


def scaling(unit: str) -> tuple[str, float]:
    """The core's rule: ``(unit, factor)`` that scales a value sent in ``unit`` (spelled
    exactly as OCPP does) to its base unit; a unit that is not scaled (K, an unknown one)
    comes back as sent with factor 1."""
    known = UNITS.get(unit)
    if known is None or known.shift is not None:
        return unit, 1.0
    return SAMPLE_SPELLING.get(known.base, known.base), known.factor


def conversion(
    measurand: str, unit: str | None
) -> tuple[Callable[[float], float] | None, str] | None:
    """Telemetry's rule: ``(convert, unit)`` that brings a value of ``measurand`` (an OCPP
    name) sent in ``unit`` (any case; empty: the measurand's own) to the measurand's unit
    (``convert`` None: already in it); ``None`` when ``unit`` cannot belong to it."""
    expected = MEASURAND_UNITS[measurand]
    if not unit or unit == expected:
        return None, expected
    known = _UNITS_BY_LOWER.get(unit.strip().lower())
    if known is None or known.base != expected:
        return None
    if known.shift is not None:
        return known.shift, expected
    if known.factor == 1.0:
        return None, expected
    factor = known.factor
    return (lambda v: v * factor), expected
