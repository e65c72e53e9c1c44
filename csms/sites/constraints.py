"""Grid-operator constraints and how they combine.

A constraint has an id, a source (who set it), a priority and a time window ``[start, end)``
on one node of a site's limit tree. Three kinds:

- ``cap``: ``max_import_w`` and/or ``max_export_w`` (and/or ``max_phase_current_a``);
- ``reduce`` (demand response): to ``reduce_to_w``, or by ``reduce_by_pct`` % of the node's
  base import limit;
- ``price``: an import price signal ``import_price_per_kwh`` that replaces the tariff's.

Overlapping limits combine to the strictest (the smallest), whatever their priority; among
overlapping price signals the highest priority wins, then the newest. Everything here is pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from csms.ids import EntityId
from csms.quantities import CurrentA, Percent, PowerW, PricePerKwh
from csms.sites.model import Site, SiteEvse, SiteStation

__all__ = [
    "ConstraintKind",
    "GridConstraint",
    "InvalidStoredConstraint",
    "NewConstraint",
    "NodeLimit",
    "constraint_limits",
    "constraint_warnings",
    "current_warnings",
    "limits_in_force",
    "parse_stored_constraint",
    "power_warnings",
    "price_in_force",
]

ConstraintKind = Literal["cap", "reduce", "price"]

#: the value fields each kind takes (the others must be left out)
_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "cap": ("max_import_w", "max_export_w", "max_phase_current_a"),
    "reduce": ("reduce_to_w", "reduce_by_pct"),
    "price": ("import_price_per_kwh",),
}


class NewConstraint(BaseModel):
    """A constraint as a grid operator submits it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    node_id: EntityId = Field(description="node of the site's limit tree")
    kind: ConstraintKind = "cap"
    start: AwareDatetime
    end: AwareDatetime
    source: str = Field(default="operator", min_length=1, max_length=255)
    priority: int = Field(default=0, ge=0, le=1000)
    max_import_w: PowerW | None = None
    max_export_w: PowerW | None = None
    max_phase_current_a: CurrentA | None = None
    reduce_to_w: PowerW | None = None
    reduce_by_pct: Percent | None = Field(default=None, gt=0)
    import_price_per_kwh: PricePerKwh | None = None

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("end must be after start")
        return end

    @field_validator(*(f for fields in _KIND_FIELDS.values() for f in fields))
    @classmethod
    def _of_its_kind(cls, value: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("kind")
        if value is not None and kind is not None and info.field_name not in _KIND_FIELDS[kind]:
            raise ValueError(f"a {kind} constraint takes no {info.field_name}")
        return value

    @field_validator("reduce_by_pct")
    @classmethod
    def _not_both(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("reduce_to_w") is not None:
            raise ValueError("give reduce_to_w or reduce_by_pct, not both")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        given = {
            "cap": (self.max_import_w, self.max_export_w, self.max_phase_current_a),
            "reduce": (self.reduce_to_w, self.reduce_by_pct),
            "price": (self.import_price_per_kwh,),
        }
        if all(v is None for v in given[self.kind]):
            needs = {
                "cap": "max_import_w, max_export_w or max_phase_current_a",
                "reduce": "reduce_to_w or reduce_by_pct",
                "price": "import_price_per_kwh",
            }[self.kind]
            raise ValueError(f"a {self.kind} constraint needs {needs}")
        return self


class GridConstraint(NewConstraint):
    """A stored constraint."""

    id: str
    site_id: str
    created_at: AwareDatetime
    cancelled_at: AwareDatetime | None = None

    def active_at(self, at: datetime) -> bool:
        return self.cancelled_at is None and self.start <= at < self.end

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.cancelled_at is None and self.start < end and start < self.end

    def import_cap_w(self, base_import_w: float | None) -> float | None:
        """The import limit this constraint sets on its node (``None``: none)."""
        if self.kind == "cap":
            return self.max_import_w
        if self.kind == "reduce":
            if self.reduce_to_w is not None:
                return self.reduce_to_w
            if self.reduce_by_pct is not None and base_import_w is not None:
                return base_import_w * (1 - self.reduce_by_pct / 100)
        return None


@dataclass(frozen=True, slots=True)
class InvalidStoredConstraint:
    """A stored constraint row that does not validate (a NULL or non-finite value written
    by an earlier version, a kind without its value): never used for limits or prices,
    listed so that it can be seen and deleted. ``values`` holds the row with every number
    JSON cannot carry as ``None``; ``problems`` says what is wrong, field by field."""

    id: str
    site_id: str
    values: dict[str, object]
    problems: tuple[str, ...]


def parse_stored_constraint(row: dict[str, object]) -> GridConstraint | InvalidStoredConstraint:
    """A stored row as a :class:`GridConstraint`, or as an :class:`InvalidStoredConstraint`
    when it no longer validates."""
    try:
        return GridConstraint.model_validate(row)
    except ValidationError as exc:
        problems = tuple(
            f"{'.'.join(str(p) for p in e['loc']) or 'constraint'}: {e['msg']}"
            for e in exc.errors()
        )
    values = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()
    }
    for name, value in row.items():
        if isinstance(value, float) and not math.isfinite(value):
            problems += (f"{name}: stored as {value!r}",)
    return InvalidStoredConstraint(str(row.get("id")), str(row.get("site_id")), values, problems)


@dataclass(frozen=True, slots=True)
class NodeLimit:
    """A node's limits in force at one instant and the constraints that set them."""

    node_id: str
    max_import_w: float | None
    max_export_w: float | None
    max_phase_current_a: float | None
    binding: tuple[str, ...]  # ids of the constraints that set the limits in force


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def limits_in_force(
    site: Site, constraints: list[GridConstraint], at: datetime
) -> dict[str, NodeLimit]:
    """Every node's limits at ``at``: its base limits narrowed by the active constraints."""
    out: dict[str, NodeLimit] = {}
    active = [c for c in constraints if c.site_id == site.id and c.active_at(at)]
    for node in site.nodes:
        base = (node.max_import_w, node.max_export_w, node.max_phase_current_a)
        caps: list[tuple[str, tuple[float | None, float | None, float | None]]] = []
        for c in active:
            if c.node_id == node.id:
                export = c.max_export_w if c.kind == "cap" else None
                amps = c.max_phase_current_a if c.kind == "cap" else None
                caps.append((c.id, (c.import_cap_w(node.max_import_w), export, amps)))
        final = list(base)
        for _, values in caps:
            final = [_min(f, v) for f, v in zip(final, values, strict=True)]
        binding = tuple(
            cid
            for cid, values in caps
            if any(
                v is not None and v == f and (b is None or v < b)
                for v, f, b in zip(values, final, base, strict=True)
            )
        )
        out[node.id] = NodeLimit(node.id, final[0], final[1], final[2], binding)
    return out


def constraint_limits(c: NewConstraint, site: Site | None) -> tuple[tuple[str, float, str], ...]:
    """What ``c`` sets, as ``(kind, value, unit)`` for telemetry: ``import_max``,
    ``export_max`` (W), ``phase_current_max`` (A), ``import_price`` (currency/kWh); a
    ``reduce`` by a percentage is the import limit it leaves (``import_reduce_pct`` in
    Percent when the node has no base import limit to take it from)."""
    out: list[tuple[str, float, str]] = []
    if c.kind == "cap":
        if c.max_import_w is not None:
            out.append(("import_max", c.max_import_w, "W"))
        if c.max_export_w is not None:
            out.append(("export_max", c.max_export_w, "W"))
        if c.max_phase_current_a is not None:
            out.append(("phase_current_max", c.max_phase_current_a, "A"))
    elif c.kind == "reduce":
        node = site.node(c.node_id) if site is not None else None
        base = node.max_import_w if node is not None else None
        cap = c.reduce_to_w
        if cap is None and c.reduce_by_pct is not None and base is not None:
            cap = base * (1 - c.reduce_by_pct / 100)
        if cap is not None:
            out.append(("import_max", cap, "W"))
        elif c.reduce_by_pct is not None:
            out.append(("import_reduce_pct", c.reduce_by_pct, "Percent"))
    elif c.import_price_per_kwh is not None:
        currency = site.tariff.currency if site is not None else "EUR"
        out.append(("import_price", c.import_price_per_kwh, f"{currency}/kWh"))
    return tuple(out)


def price_in_force(site: Site, constraints: list[GridConstraint], at: datetime) -> float:
    """The import price at ``at``: the winning price signal, else the tariff's."""
    signals = [
        c for c in constraints if c.site_id == site.id and c.kind == "price" and c.active_at(at)
    ]
    if signals:
        best = max(signals, key=lambda c: (c.priority, c.created_at))
        assert best.import_price_per_kwh is not None
        return best.import_price_per_kwh
    return site.tariff.import_price_at(site.local_time(at).time())


def _min_current_a(site: Site, station: SiteStation, evse: SiteEvse) -> float:
    """The smallest current the EVSE charges at (its own, raised by its station model's)."""
    quirks = site.quirks_for(station)
    if quirks is not None and quirks.min_current_a is not None:
        return max(evse.min_current_a, quirks.min_current_a)
    return evse.min_current_a


def _phases(evse: SiteEvse) -> tuple[str, ...]:
    return ("L1", "L2", "L3") if evse.phase == "L1L2L3" else (evse.phase,)


def current_warnings(
    site: Site, node_id: str, limit_a: float, *, all_at_once: bool = True
) -> list[str]:
    """A per-phase current limit on ``node_id`` below what the EVSEs under it need to
    charge: below every EVSE's minimum current (none can charge) or, with ``all_at_once``,
    below the sum of the minimum currents on one phase (not all of them at once)."""
    evses = site.evses_under(node_id)
    if not evses:
        return []
    smallest = min(_min_current_a(site, station, evse) for station, evse in evses)
    if limit_a < smallest:
        return [
            f"the phase current limit {limit_a:g} A is below the minimum charging current of "
            f"every EVSE under {node_id!r} ({smallest:g} A): none of them can charge"
        ]
    if not all_at_once:
        return []
    per_phase: dict[str, float] = {}
    for station, evse in evses:
        for phase in _phases(evse):
            per_phase[phase] = per_phase.get(phase, 0.0) + _min_current_a(site, station, evse)
    phase, total = max(per_phase.items(), key=lambda item: item[1])
    if limit_a < total:
        return [
            f"the phase current limit {limit_a:g} A is below the sum of the minimum charging "
            f"currents on {phase} of the EVSEs under {node_id!r} ({total:g} A): not all of "
            "them can charge at once"
        ]
    return []


def power_warnings(
    site: Site, node_id: str, limit_w: float, *, all_at_once: bool = True
) -> list[str]:
    """An import limit on ``node_id`` below what the EVSEs under it need to charge: below
    every EVSE's minimum power (none can charge) or, with ``all_at_once``, below the sum of
    their minimum powers (not all of them at once)."""
    evses = site.evses_under(node_id)
    if not evses:
        return []
    smallest = min(evse.min_power_w for _, evse in evses)
    total = sum(evse.min_power_w for _, evse in evses)
    if limit_w < smallest:
        return [
            f"the import limit {limit_w / 1000:g} kW is below the minimum charging power of "
            f"every EVSE under {node_id!r} ({smallest / 1000:g} kW): none of them can charge"
        ]
    if all_at_once and limit_w < total:
        return [
            f"the import limit {limit_w / 1000:g} kW is below the sum of the minimum charging "
            f"powers of the {len(evses)} EVSEs under {node_id!r} ({total / 1000:g} kW): not "
            "all of them can charge at once"
        ]
    return []


def constraint_warnings(site: Site, new: NewConstraint) -> list[str]:
    """Accepted-but-suspicious: an import or phase current limit below what the EVSEs under
    the node need to charge."""
    node = site.node(new.node_id)
    if node is None:
        return []
    cap: float | None
    if new.kind == "cap":
        cap = new.max_import_w
    elif new.kind == "reduce":
        cap = new.reduce_to_w
        if cap is None and new.reduce_by_pct is not None and node.max_import_w is not None:
            cap = node.max_import_w * (1 - new.reduce_by_pct / 100)
    else:
        cap = None
    warnings = [] if cap is None else power_warnings(site, node.id, cap)
    if new.kind == "cap" and new.max_phase_current_a is not None:
        warnings += current_warnings(site, node.id, new.max_phase_current_a)
    return warnings
