"""The planner's inputs: plain frozen dataclasses with units in the field names.

Each class checks its own fields once, at construction, and raises
:class:`~optimizer.exceptions.InvalidProblem` naming the field. Checks that need more than one
object (a node's parent exists, a session's EVSE exists, ...) live in
:class:`optimizer.problem.Problem`, which prefixes the field with its place, e.g.
``sessions[2].departure``.

Units: W, Wh, A, V, seconds, aware UTC datetimes; prices in currency per kWh (energy) and per
kW (demand charge), CO2 in g per kWh.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from optimizer.checks import (
    aware,
    efficiency,
    finite,
    identifier,
    non_negative,
    optional_non_negative,
    positive,
    prices,
    window,
)
from optimizer.exceptions import InvalidProblem

__all__ = [
    "CurrentLimit",
    "DeviceDimming",
    "Evse",
    "FlexibleLoad",
    "LimitNode",
    "NodeCap",
    "Phase",
    "PvPlant",
    "Session",
    "Setpoint",
    "StorageUnit",
    "Tariff",
]


class Phase(enum.StrEnum):
    """How a device is connected: one phase (L1, L2 or L3) or all three."""

    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    THREE = "L1L2L3"

    @property
    def n_phases(self) -> int:
        return 3 if self is Phase.THREE else 1


@dataclass(frozen=True, slots=True)
class LimitNode:
    """A node of the site's limit tree: grid connection, transformer, feeder, panel, station.

    Exactly one node has no parent: the grid connection, whose import is billed. Limits are the
    node's base limits; :class:`NodeCap` narrows them in time windows. ``None`` = no limit.
    """

    node_id: str
    parent_id: str | None = None
    max_import_w: float | None = None
    max_export_w: float | None = None
    max_phase_current_a: float | None = None
    voltage_v: float = 230.0

    def __post_init__(self) -> None:
        identifier("node_id", self.node_id)
        if self.parent_id is not None:
            identifier("parent_id", self.parent_id)
        if self.parent_id == self.node_id:
            raise InvalidProblem("parent_id", f"node {self.node_id!r} is its own parent")
        optional_non_negative("max_import_w", self.max_import_w)
        optional_non_negative("max_export_w", self.max_export_w)
        optional_non_negative("max_phase_current_a", self.max_phase_current_a)
        positive("voltage_v", self.voltage_v)


@dataclass(frozen=True, slots=True)
class Evse:
    """One EVSE (one outlet that charges one EV at a time) under a limit node.

    Power is AC power at the EVSE; ``efficiency`` is the share that reaches the battery.
    ``allowed_currents_a`` lists the discrete per-phase currents the hardware accepts (empty:
    any current between ``min_current_a`` and ``max_current_a``; zero is always allowed).
    ``station_id`` and ``ocpp_evse_id`` (1.6 connectorId / 2.0.1 evseId) address it in OCPP.
    """

    evse_id: str
    node_id: str
    phase: Phase = Phase.THREE
    voltage_v: float = 230.0
    min_current_a: float = 0.0
    max_current_a: float = 32.0
    allowed_currents_a: tuple[float, ...] = ()
    efficiency: float = 1.0
    station_id: str = ""
    ocpp_evse_id: int = 1

    def __post_init__(self) -> None:
        identifier("evse_id", self.evse_id)
        identifier("node_id", self.node_id)
        if not isinstance(self.phase, Phase):
            raise InvalidProblem("phase", f"must be one of {[p.value for p in Phase]}")
        positive("voltage_v", self.voltage_v)
        non_negative("min_current_a", self.min_current_a)
        positive("max_current_a", self.max_current_a)
        if self.min_current_a > self.max_current_a:
            raise InvalidProblem(
                "min_current_a",
                f"{self.min_current_a} A is above max_current_a {self.max_current_a} A",
            )
        for i, current in enumerate(self.allowed_currents_a):
            non_negative(f"allowed_currents_a[{i}]", current)
            if current > self.max_current_a:
                raise InvalidProblem(
                    f"allowed_currents_a[{i}]",
                    f"{current} A is above max_current_a {self.max_current_a} A",
                )
        if list(self.allowed_currents_a) != sorted(set(self.allowed_currents_a)):
            raise InvalidProblem("allowed_currents_a", "must be strictly increasing")
        efficiency("efficiency", self.efficiency)
        if self.ocpp_evse_id < 1:
            raise InvalidProblem("ocpp_evse_id", f"must be 1 or more, got {self.ocpp_evse_id}")

    @property
    def max_power_w(self) -> float:
        return self.max_current_a * self.voltage_v * self.phase.n_phases

    def power_w(self, current_a: float) -> float:
        """AC power drawn at a per-phase current."""
        return current_a * self.voltage_v * self.phase.n_phases

    def current_a(self, power_w: float) -> float:
        """Per-phase current at an AC power."""
        return power_w / (self.voltage_v * self.phase.n_phases)


@dataclass(frozen=True, slots=True)
class Session:
    """An EV plugged in (or expected) at an EVSE.

    ``energy_requested_wh`` is the energy the driver wants in the battery over the whole
    session and ``energy_delivered_wh`` what it has received so far; the plan aims at the
    difference. ``max_power_w`` is the EV's acceptance (AC). Higher ``priority`` weighs the
    session's unmet energy more.

    Taper (constant current, then constant voltage, as a line): from ``taper_start_wh`` of
    session energy in the battery (counted like ``energy_delivered_wh``), the EV accepts
    linearly less, down to ``taper_floor_w`` at ``taper_end_wh`` (the battery full; default
    ``energy_requested_wh``). The line starts at ``max_power_w``, or the EVSE's maximum when
    that is ``None``. :meth:`taper_from_soc` derives the energies from states of charge.
    """

    session_id: str
    evse_id: str
    arrival: datetime
    departure: datetime
    energy_requested_wh: float
    energy_delivered_wh: float = 0.0
    max_power_w: float | None = None
    priority: float = 1.0
    transaction_id: str | None = None
    taper_start_wh: float | None = None
    taper_end_wh: float | None = None
    taper_floor_w: float = 0.0

    def __post_init__(self) -> None:
        identifier("session_id", self.session_id)
        identifier("evse_id", self.evse_id)
        aware("arrival", self.arrival)
        aware("departure", self.departure)
        if self.departure <= self.arrival:
            raise InvalidProblem(
                "departure",
                f"{self.departure.isoformat()} is not after arrival {self.arrival.isoformat()}",
            )
        non_negative("energy_requested_wh", self.energy_requested_wh)
        non_negative("energy_delivered_wh", self.energy_delivered_wh)
        optional_non_negative("max_power_w", self.max_power_w)
        positive("priority", self.priority)
        self._check_taper()

    def _check_taper(self) -> None:
        non_negative("taper_floor_w", self.taper_floor_w)
        if self.taper_start_wh is None:
            if self.taper_end_wh is not None:
                raise InvalidProblem("taper_end_wh", "is set without taper_start_wh")
            return
        non_negative("taper_start_wh", self.taper_start_wh)
        optional_non_negative("taper_end_wh", self.taper_end_wh)
        end_wh = self.taper_full_wh
        if end_wh <= self.taper_start_wh:
            raise InvalidProblem(
                "taper_end_wh", f"{end_wh} Wh is not above taper_start_wh {self.taper_start_wh} Wh"
            )
        if self.energy_requested_wh > end_wh:
            raise InvalidProblem(
                "energy_requested_wh",
                f"{self.energy_requested_wh} Wh is above taper_end_wh {end_wh} Wh (battery full)",
            )
        if self.max_power_w is not None and self.taper_floor_w > self.max_power_w:
            raise InvalidProblem(
                "taper_floor_w", f"{self.taper_floor_w} W is above max_power_w {self.max_power_w} W"
            )

    @classmethod
    def from_soc(
        cls,
        *,
        soc_pct: float,
        target_soc_pct: float,
        capacity_wh: float,
        **kwargs: object,
    ) -> Session:
        """A session whose request is a target state of charge of a known battery."""
        positive("capacity_wh", capacity_wh)
        for name, value in (("soc_pct", soc_pct), ("target_soc_pct", target_soc_pct)):
            finite(name, value)
            if not 0 <= value <= 100:
                raise InvalidProblem(name, f"must be in [0, 100], got {value!r}")
        energy_wh = max(0.0, (target_soc_pct - soc_pct) / 100.0 * capacity_wh)
        return cls(energy_requested_wh=energy_wh, **kwargs)  # type: ignore[arg-type]

    @staticmethod
    def taper_from_soc(
        *, soc_pct: float, taper_soc_pct: float, capacity_wh: float
    ) -> dict[str, float]:
        """``taper_start_wh`` and ``taper_end_wh`` (full) for a battery at ``soc_pct`` whose
        acceptance starts to fall at ``taper_soc_pct``, as keyword arguments for
        :class:`Session` (energies counted from ``soc_pct``, with ``energy_delivered_wh``
        0 then)."""
        positive("capacity_wh", capacity_wh)
        for name, value in (("soc_pct", soc_pct), ("taper_soc_pct", taper_soc_pct)):
            finite(name, value)
            if not 0 <= value <= 100:
                raise InvalidProblem(name, f"must be in [0, 100], got {value!r}")
        if soc_pct >= 100:
            raise InvalidProblem("soc_pct", "the battery is already full")
        return {
            "taper_start_wh": max(0.0, (taper_soc_pct - soc_pct) / 100.0 * capacity_wh),
            "taper_end_wh": (100.0 - soc_pct) / 100.0 * capacity_wh,
        }

    @property
    def taper_full_wh(self) -> float:
        """Where the taper line reaches ``taper_floor_w``."""
        return self.energy_requested_wh if self.taper_end_wh is None else self.taper_end_wh

    @property
    def remaining_wh(self) -> float:
        return max(0.0, self.energy_requested_wh - self.energy_delivered_wh)


@dataclass(frozen=True, slots=True)
class PvPlant:
    """A PV plant under a node, with its forecast AC power per step of the time grid."""

    pv_id: str
    node_id: str
    forecast_w: tuple[float, ...]
    voltage_v: float = 230.0

    def __post_init__(self) -> None:
        identifier("pv_id", self.pv_id)
        identifier("node_id", self.node_id)
        for i, value in enumerate(self.forecast_w):
            non_negative(f"forecast_w[{i}]", value)
        positive("voltage_v", self.voltage_v)


@dataclass(frozen=True, slots=True)
class StorageUnit:
    """A stationary battery (3-phase) under a node."""

    storage_id: str
    node_id: str
    capacity_wh: float
    soc_wh: float
    max_charge_w: float
    max_discharge_w: float
    min_soc_wh: float = 0.0
    max_soc_wh: float | None = None
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    degradation_cost_per_kwh: float = 0.0
    final_soc_min_wh: float | None = None
    voltage_v: float = 230.0

    def __post_init__(self) -> None:
        identifier("storage_id", self.storage_id)
        identifier("node_id", self.node_id)
        positive("capacity_wh", self.capacity_wh)
        non_negative("min_soc_wh", self.min_soc_wh)
        optional_non_negative("max_soc_wh", self.max_soc_wh)
        if self.upper_soc_wh > self.capacity_wh:
            raise InvalidProblem("max_soc_wh", "is above capacity_wh")
        if self.min_soc_wh > self.upper_soc_wh:
            raise InvalidProblem("min_soc_wh", "is above max_soc_wh")
        finite("soc_wh", self.soc_wh)
        if not self.min_soc_wh <= self.soc_wh <= self.upper_soc_wh:
            raise InvalidProblem(
                "soc_wh",
                f"{self.soc_wh} Wh is outside [{self.min_soc_wh}, {self.upper_soc_wh}] Wh",
            )
        non_negative("max_charge_w", self.max_charge_w)
        non_negative("max_discharge_w", self.max_discharge_w)
        efficiency("charge_efficiency", self.charge_efficiency)
        efficiency("discharge_efficiency", self.discharge_efficiency)
        non_negative("degradation_cost_per_kwh", self.degradation_cost_per_kwh)
        if self.final_soc_min_wh is not None:
            non_negative("final_soc_min_wh", self.final_soc_min_wh)
            if self.final_soc_min_wh > self.upper_soc_wh:
                raise InvalidProblem("final_soc_min_wh", "is above max_soc_wh")
        positive("voltage_v", self.voltage_v)

    @property
    def upper_soc_wh(self) -> float:
        return self.capacity_wh if self.max_soc_wh is None else self.max_soc_wh


@dataclass(frozen=True, slots=True)
class FlexibleLoad:
    """A 3-phase load that needs ``energy_wh`` by ``ready_by`` (e.g. a swap station's pack rack)."""

    load_id: str
    node_id: str
    energy_wh: float
    ready_by: datetime
    max_power_w: float
    available_from: datetime | None = None
    priority: float = 1.0
    voltage_v: float = 230.0

    def __post_init__(self) -> None:
        identifier("load_id", self.load_id)
        identifier("node_id", self.node_id)
        non_negative("energy_wh", self.energy_wh)
        aware("ready_by", self.ready_by)
        if self.available_from is not None:
            aware("available_from", self.available_from)
            if self.available_from >= self.ready_by:
                raise InvalidProblem("ready_by", "is not after available_from")
        non_negative("max_power_w", self.max_power_w)
        positive("priority", self.priority)
        positive("voltage_v", self.voltage_v)


@dataclass(frozen=True, slots=True)
class Tariff:
    """Prices per step of the time grid (currency per kWh), demand charge per kW of peak.

    ``peak_so_far_w`` is the billing period's peak import reached before the horizon; only
    import above it costs demand charge. ``peak_target_w`` is the peak the operator expects
    the billing period to reach anyway (e.g. from past days): the plan may import up to it
    without counting demand charge and exceeds it only where that pays (energy owed to
    drivers, prices); the plan's reported demand charge still uses the real peak. A CO2
    signal (g/kWh) priced at ``co2_price_per_kg`` adds to the import price.
    """

    import_price_per_kwh: tuple[float, ...]
    export_price_per_kwh: tuple[float, ...] | None = None
    demand_charge_per_kw: float = 0.0
    peak_so_far_w: float = 0.0
    co2_g_per_kwh: tuple[float, ...] | None = None
    co2_price_per_kg: float = 0.0
    peak_target_w: float = 0.0

    def __post_init__(self) -> None:
        if not self.import_price_per_kwh:
            raise InvalidProblem("import_price_per_kwh", "needs one price per step")
        prices("import_price_per_kwh", self.import_price_per_kwh)
        prices("export_price_per_kwh", self.export_price_per_kwh)
        prices("co2_g_per_kwh", self.co2_g_per_kwh)
        non_negative("demand_charge_per_kw", self.demand_charge_per_kw)
        non_negative("peak_so_far_w", self.peak_so_far_w)
        non_negative("peak_target_w", self.peak_target_w)
        non_negative("co2_price_per_kg", self.co2_price_per_kg)


@dataclass(frozen=True, slots=True)
class NodeCap:
    """A grid-operator cap on a node during [start, end).

    Absolute (``max_import_w`` / ``max_export_w`` / ``max_phase_current_a``) or relative
    (``import_factor``: a demand-response reduction to that share of the node's base import
    limit). Several caps on one node combine to the strictest.
    """

    node_id: str
    start: datetime
    end: datetime
    max_import_w: float | None = None
    max_export_w: float | None = None
    max_phase_current_a: float | None = None
    import_factor: float | None = None

    def __post_init__(self) -> None:
        identifier("node_id", self.node_id)
        window(self.start, self.end)
        optional_non_negative("max_import_w", self.max_import_w)
        optional_non_negative("max_export_w", self.max_export_w)
        optional_non_negative("max_phase_current_a", self.max_phase_current_a)
        if self.import_factor is not None:
            finite("import_factor", self.import_factor)
            if not 0 <= self.import_factor <= 1:
                raise InvalidProblem(
                    "import_factor", f"must be in [0, 1], got {self.import_factor}"
                )


@dataclass(frozen=True, slots=True)
class DeviceDimming:
    """A grid-operator dimming of one EVSE or storage unit during [start, end).

    The device may draw at most ``max(max_power_w, guaranteed_min_w)``: the guaranteed
    minimum (4.2 kW in the German §14a EnWG scheme) is never dimmed away.
    """

    device_id: str
    start: datetime
    end: datetime
    max_power_w: float
    guaranteed_min_w: float = 4200.0

    def __post_init__(self) -> None:
        identifier("device_id", self.device_id)
        window(self.start, self.end)
        non_negative("max_power_w", self.max_power_w)
        non_negative("guaranteed_min_w", self.guaranteed_min_w)

    @property
    def cap_w(self) -> float:
        return max(self.max_power_w, self.guaranteed_min_w)


@dataclass(frozen=True, slots=True)
class Setpoint:
    """A grid-operator request that a node's import stay at ``target_w`` ± ``tolerance_w``.

    The upper edge is a hard cap; the lower edge is met when the site can (shortfalls below it
    are penalized, never forced by burning energy).
    """

    node_id: str
    start: datetime
    end: datetime
    target_w: float
    tolerance_w: float = 0.0

    def __post_init__(self) -> None:
        identifier("node_id", self.node_id)
        window(self.start, self.end)
        finite("target_w", self.target_w)
        non_negative("tolerance_w", self.tolerance_w)


@dataclass(frozen=True, slots=True)
class CurrentLimit:
    """A linear limit on EVSE currents: Σ_e coefficient_e · I_e ≤ ``max_current_a``.

    For networks the limit tree cannot express, e.g. line-to-line EVSEs behind a delta-wye
    transformer, where a conductor's current depends on phase angles (a polygon of such
    limits approximates the exact |Σ phasor| ≤ limit from inside). ``coefficients`` maps
    EVSE ids to dimensionless factors (negative allowed); optional window [start, end).
    """

    name: str
    coefficients: tuple[tuple[str, float], ...]
    max_current_a: float
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        identifier("name", self.name)
        if not self.coefficients:
            raise InvalidProblem("coefficients", "needs at least one EVSE")
        for i, (evse_id, factor) in enumerate(self.coefficients):
            identifier(f"coefficients[{i}][0]", evse_id)
            finite(f"coefficients[{i}][1]", factor)
        non_negative("max_current_a", self.max_current_a)
        if (self.start is None) != (self.end is None):
            raise InvalidProblem("end", "give both start and end, or neither")
        if self.start is not None and self.end is not None:
            window(self.start, self.end)
