"""The planning problem: the time grid, the site, the demand, the prices and the constraints.

:class:`Problem` validates how its parts fit together (one root node, no cycles, every EVSE
under a node, per-step series of the grid's length, ...) and raises
:class:`~optimizer.exceptions.InvalidProblem` with the field's dotted path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from optimizer.exceptions import InvalidProblem
from optimizer.inputs import (
    CurrentLimit,
    DeviceDimming,
    Evse,
    FlexibleLoad,
    LimitNode,
    NodeCap,
    PvPlant,
    Session,
    Setpoint,
    StorageUnit,
    Tariff,
)
from optimizer.swap import SwapRack

__all__ = ["Problem", "TimeGrid"]


@dataclass(frozen=True, slots=True)
class TimeGrid:
    """Consecutive steps from ``start``; steps may differ in length (a coarser tail)."""

    start: datetime
    step_durations_s: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.start, datetime) or self.start.tzinfo is None:
            raise InvalidProblem("grid.start", "must be a timezone-aware datetime")
        if not self.step_durations_s:
            raise InvalidProblem("grid.step_durations_s", "needs at least one step")
        for i, duration in enumerate(self.step_durations_s):
            if not duration > 0:
                raise InvalidProblem(f"grid.step_durations_s[{i}]", "must be positive")

    @classmethod
    def uniform(
        cls,
        *,
        start: datetime,
        step_s: float,
        n_steps: int,
        tail_step_s: float | None = None,
        tail_n_steps: int = 0,
    ) -> TimeGrid:
        """``n_steps`` of ``step_s``, then ``tail_n_steps`` of ``tail_step_s``."""
        durations = [float(step_s)] * n_steps
        if tail_n_steps:
            if tail_step_s is None:
                raise InvalidProblem("grid.tail_step_s", "is needed when tail_n_steps > 0")
            durations += [float(tail_step_s)] * tail_n_steps
        return cls(start=start, step_durations_s=tuple(durations))

    @property
    def n_steps(self) -> int:
        return len(self.step_durations_s)

    @property
    def offsets_s(self) -> tuple[float, ...]:
        """Start of each step in seconds from ``start``."""
        out, total = [], 0.0
        for duration in self.step_durations_s:
            out.append(total)
            total += duration
        return tuple(out)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=sum(self.step_durations_s))

    def step_start(self, index: int) -> datetime:
        return self.start + timedelta(seconds=self.offsets_s[index])


def _check_series(name: str, values: Sequence[float] | None, n_steps: int) -> None:
    if values is not None and len(values) != n_steps:
        raise InvalidProblem(name, f"has {len(values)} values for {n_steps} steps")


@dataclass(frozen=True, slots=True)
class Problem:
    """Everything one plan needs. Built once; validated at construction."""

    grid: TimeGrid
    nodes: tuple[LimitNode, ...]
    evses: tuple[Evse, ...]
    tariff: Tariff
    sessions: tuple[Session, ...] = ()
    pv: tuple[PvPlant, ...] = ()
    storage: tuple[StorageUnit, ...] = ()
    flexible_loads: tuple[FlexibleLoad, ...] = ()
    node_caps: tuple[NodeCap, ...] = ()
    dimmings: tuple[DeviceDimming, ...] = ()
    setpoints: tuple[Setpoint, ...] = ()
    current_limits: tuple[CurrentLimit, ...] = ()
    swap_racks: tuple[SwapRack, ...] = ()
    unmet_penalty_per_kwh: float | None = None
    root_id: str = field(init=False, default="")

    def __post_init__(self) -> None:
        for name in ("nodes", "evses", "sessions", "pv", "storage", "flexible_loads",
                     "node_caps", "dimmings", "setpoints", "current_limits",
                     "swap_racks"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "root_id", self._check_tree())
        node_ids = {node.node_id for node in self.nodes}
        evse_ids = self._unique("evses", [e.evse_id for e in self.evses])
        for i, evse in enumerate(self.evses):
            if evse.node_id not in node_ids:
                raise InvalidProblem(f"evses[{i}].node_id", f"no node {evse.node_id!r}")
        self._unique("sessions", [s.session_id for s in self.sessions])
        by_evse: dict[str, list[Session]] = {}
        for i, session in enumerate(self.sessions):
            if session.evse_id not in evse_ids:
                raise InvalidProblem(f"sessions[{i}].evse_id", f"no EVSE {session.evse_id!r}")
            for other in by_evse.get(session.evse_id, []):
                if session.arrival < other.departure and other.arrival < session.departure:
                    raise InvalidProblem(
                        f"sessions[{i}].arrival",
                        f"overlaps session {other.session_id!r} at EVSE {session.evse_id!r}",
                    )
            by_evse.setdefault(session.evse_id, []).append(session)
        n = self.grid.n_steps
        _check_series("tariff.import_price_per_kwh", self.tariff.import_price_per_kwh, n)
        _check_series("tariff.export_price_per_kwh", self.tariff.export_price_per_kwh, n)
        _check_series("tariff.co2_g_per_kwh", self.tariff.co2_g_per_kwh, n)
        self._unique("pv", [p.pv_id for p in self.pv])
        for i, plant in enumerate(self.pv):
            _check_series(f"pv[{i}].forecast_w", plant.forecast_w, n)
            self._node_exists(f"pv[{i}].node_id", plant.node_id, node_ids)
        storage_ids = self._unique("storage", [s.storage_id for s in self.storage])
        for i, unit in enumerate(self.storage):
            self._node_exists(f"storage[{i}].node_id", unit.node_id, node_ids)
        self._unique("flexible_loads", [f.load_id for f in self.flexible_loads])
        for i, load in enumerate(self.flexible_loads):
            self._node_exists(f"flexible_loads[{i}].node_id", load.node_id, node_ids)
        self._unique("swap_racks", [r.rack_id for r in self.swap_racks])
        for i, rack in enumerate(self.swap_racks):
            self._node_exists(f"swap_racks[{i}].node_id", rack.node_id, node_ids)
        by_node = {node.node_id: node for node in self.nodes}
        for i, cap in enumerate(self.node_caps):
            self._node_exists(f"node_caps[{i}].node_id", cap.node_id, node_ids)
            if cap.import_factor is not None and by_node[cap.node_id].max_import_w is None:
                raise InvalidProblem(
                    f"node_caps[{i}].import_factor",
                    f"node {cap.node_id!r} has no max_import_w to reduce",
                )
        for i, dim in enumerate(self.dimmings):
            if dim.device_id not in evse_ids and dim.device_id not in storage_ids:
                raise InvalidProblem(
                    f"dimmings[{i}].device_id", f"no EVSE or storage unit {dim.device_id!r}"
                )
        for i, sp in enumerate(self.setpoints):
            self._node_exists(f"setpoints[{i}].node_id", sp.node_id, node_ids)
        for i, lim in enumerate(self.current_limits):
            for j, (evse_id, _factor) in enumerate(lim.coefficients):
                if evse_id not in evse_ids:
                    raise InvalidProblem(
                        f"current_limits[{i}].coefficients[{j}]", f"no EVSE {evse_id!r}"
                    )
        if self.unmet_penalty_per_kwh is not None and not self.unmet_penalty_per_kwh > 0:
            raise InvalidProblem("unmet_penalty_per_kwh", "must be positive")

    @staticmethod
    def _unique(name: str, ids: list[str]) -> set[str]:
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                raise InvalidProblem(f"{name}[{i}]", f"duplicate id {ident!r}")
            seen.add(ident)
        return seen

    @staticmethod
    def _node_exists(name: str, node_id: str, node_ids: set[str]) -> None:
        if node_id not in node_ids:
            raise InvalidProblem(name, f"no node {node_id!r}")

    def _check_tree(self) -> str:
        if not self.nodes:
            raise InvalidProblem("nodes", "needs at least the grid connection node")
        ids = self._unique("nodes", [node.node_id for node in self.nodes])
        roots = [node.node_id for node in self.nodes if node.parent_id is None]
        if len(roots) != 1:
            raise InvalidProblem("nodes", f"needs exactly one root (grid connection), got {roots}")
        parent = {node.node_id: node.parent_id for node in self.nodes}
        for i, node in enumerate(self.nodes):
            if node.parent_id is not None and node.parent_id not in ids:
                raise InvalidProblem(f"nodes[{i}].parent_id", f"no node {node.parent_id!r}")
        for i, node in enumerate(self.nodes):
            seen = {node.node_id}
            current = node.parent_id
            while current is not None:
                if current in seen:
                    raise InvalidProblem(
                        f"nodes[{i}].parent_id", f"cycle through node {node.node_id!r}"
                    )
                seen.add(current)
                current = parent[current]
        return roots[0]

    def ancestors(self, node_id: str) -> list[str]:
        """``node_id`` and every node above it, up to the root."""
        parent = {node.node_id: node.parent_id for node in self.nodes}
        out: list[str] = []
        current: str | None = node_id
        while current is not None:
            out.append(current)
            current = parent[current]
        return out
