"""A battery-swap station's rack of packs as flexible load with readiness targets.

A rack holds packs that charge between swaps. Its forecast lists the moments swaps are
expected; each swap takes one pack of at least ``ready_soc_pct`` out and puts the driver's
pack (at ``arrival_soc_pct``) in. The readiness targets are "j packs at or above X % by the
j-th swap's time T_j" (packs handed out count), see :func:`readiness_targets`.

The LP does not choose which pack serves which swap (that would need integers). The packs
are given to the swaps in a fixed order, the earliest-deadline rule: the fullest pack in the
rack to the first swap, the next fullest to the second, ..., and the pack brought in by swap
i to swap i + n (n = packs in the rack; first in, first out). Each pairing is a *pack job*,
an ordinary load of the loads family (``optimizer.model.add_load_constraints``):

    Σ_{t < T_j} η Δt_t p[j,t] + u[j] = E_j,   E_j = max(0, (X - soc_j) / 100 · C)
    0 ≤ p[j,t] ≤ p̄ · (share of step t in [a_j, T_j))     (a_j: now, or when the pack came in)

and the rack adds one family (:func:`optimizer.model.add_rack_constraints`):
Σ_{j in rack} p[j,t] ≤ R̄[t]. A pack's energy state is soc_j C / 100 + Σ_{t' ≤ t} η Δt p[j,t'];
it never passes X (the energy row is an equality), so never the capacity.

Why this implies the targets: u[j] = 0 means pack j holds E_j more by T_j, i.e. is at X % when
its swap comes; the deadlines are sorted, so by T_j the packs of jobs 1..j are all ready:
"j packs ≥ X % by T_j". A job the limits cannot meet keeps u[j] > 0, priced like any unmet
energy (far above any price, never a broken limit), and is reported as a shortfall and as a
swap expected to find no ready pack. With alike packs, giving the fullest pack the earliest
swap is the order that needs the least energy soonest (exchanging two packs' swaps never
lowers the energy needed before the earlier one). An earlier swap's job weighs up to 10 % more
than a later one's: short of energy, the plan readies the next packs whole rather than every
pack part-way (a pack at 85 % serves no swap that wants 90 %). Packs with no swap in the
horizon (the spare ones) are filled to X by the horizon's end at a tenth of the priority, in
the cheapest steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from optimizer.checks import aware, efficiency, finite, identifier, non_negative, positive
from optimizer.exceptions import InvalidProblem

__all__ = ["PackJob", "RackPlan", "SwapRack", "rack_jobs", "readiness_targets"]

#: A spare pack's priority against a pack a forecast swap needs.
SPARE_PRIORITY = 0.1


def _pct(field: str, value: float) -> None:
    finite(field, value)
    if not 0 <= value <= 100:
        raise InvalidProblem(field, f"must be in 0..100, got {value!r}")


@dataclass(frozen=True, slots=True)
class SwapRack:
    """A swap station's rack: the packs in it now (state of charge each, %), their capacity
    and charge limits, the readiness threshold and the expected swaps (sorted, aware)."""

    rack_id: str
    node_id: str
    pack_soc_pct: tuple[float, ...]
    pack_capacity_wh: float
    max_pack_power_w: float
    max_rack_power_w: float
    ready_soc_pct: float
    swap_times: tuple[datetime, ...] = ()
    arrival_soc_pct: float = 20.0
    efficiency: float = 0.95
    priority: float = 1.0
    voltage_v: float = 230.0
    pack_ids: tuple[str, ...] = ()  # the packs' ids in the order of pack_soc_pct, if known

    def __post_init__(self) -> None:
        identifier("rack_id", self.rack_id)
        identifier("node_id", self.node_id)
        object.__setattr__(self, "pack_soc_pct", tuple(self.pack_soc_pct))
        object.__setattr__(self, "swap_times", tuple(self.swap_times))
        object.__setattr__(self, "pack_ids", tuple(self.pack_ids))
        for i, soc in enumerate(self.pack_soc_pct):
            _pct(f"pack_soc_pct[{i}]", soc)
        if self.pack_ids and len(self.pack_ids) != len(self.pack_soc_pct):
            raise InvalidProblem("pack_ids", "needs one id per pack in pack_soc_pct")
        positive("pack_capacity_wh", self.pack_capacity_wh)
        non_negative("max_pack_power_w", self.max_pack_power_w)
        non_negative("max_rack_power_w", self.max_rack_power_w)
        _pct("ready_soc_pct", self.ready_soc_pct)
        _pct("arrival_soc_pct", self.arrival_soc_pct)
        efficiency("efficiency", self.efficiency)
        positive("priority", self.priority)
        positive("voltage_v", self.voltage_v)
        for i, moment in enumerate(self.swap_times):
            aware(f"swap_times[{i}]", moment)
            if i and moment < self.swap_times[i - 1]:
                raise InvalidProblem(f"swap_times[{i}]", "is before the swap listed before it")


@dataclass(frozen=True, slots=True)
class PackJob:
    """One pack charged for one swap (``swap_at`` None: a spare pack, ready by the horizon's
    end). ``pack`` names the pack: its id or ``in:<k>`` for the pack swap k brings in."""

    load_id: str
    pack: str
    available_from: datetime | None  # None: in the rack now
    ready_by: datetime
    energy_wh: float
    priority: float
    swap_at: datetime | None


@dataclass(frozen=True, slots=True)
class RackPlan:
    """The rack's planned power, and the forecast swaps expected to find no ready pack (their
    pack short of the threshold by more than ``tolerance_wh``)."""

    rack_id: str
    power_w: tuple[float, ...]
    jobs: tuple[PackJob, ...]
    shortfall_wh: tuple[float, ...]  # per job
    unready_swaps: tuple[datetime, ...]


def readiness_targets(rack: SwapRack, end: datetime) -> tuple[tuple[int, float, datetime], ...]:
    """(N packs, X %, by T) for every forecast swap before ``end``."""
    swaps = [t for t in rack.swap_times if t < end]
    return tuple((j + 1, rack.ready_soc_pct, t) for j, t in enumerate(swaps))


@lru_cache(maxsize=64)
def rack_jobs(rack: SwapRack, start: datetime, end: datetime) -> tuple[PackJob, ...]:
    """The pack jobs of the horizon [start, end): one per forecast swap in it, in swap order,
    then one per spare pack. Swaps before ``start`` are the caller's to drop (they happened).
    Cached: a compile asks for them family by family, and the rack is immutable."""
    swaps = [t for t in rack.swap_times if start <= t < end]
    ids = rack.pack_ids or tuple(f"slot{i + 1}" for i in range(len(rack.pack_soc_pct)))
    order = sorted(range(len(rack.pack_soc_pct)), key=lambda i: -rack.pack_soc_pct[i])
    # Packs in the order they serve swaps: (name, SoC %, in the rack from).
    packs: list[tuple[str, float, datetime | None]] = [
        (ids[i], rack.pack_soc_pct[i], None) for i in order
    ]
    packs += [(f"in:{k + 1}", rack.arrival_soc_pct, t) for k, t in enumerate(swaps)]
    jobs = []
    for j, (name, soc, since) in enumerate(packs):
        swap_at = swaps[j] if j < len(swaps) else None
        energy = max(0.0, (rack.ready_soc_pct - soc) / 100.0 * rack.pack_capacity_wh)
        # Earlier swaps weigh a little more (1.1 down to 1.0): when not every pack can be
        # ready, the plan readies the next swaps' packs whole instead of every pack halfway.
        weight = SPARE_PRIORITY if swap_at is None else 1.0 + 0.1 * (1.0 - j / len(swaps))
        jobs.append(
            PackJob(
                load_id=f"{rack.rack_id}/{j + 1}",
                pack=name,
                available_from=since,
                ready_by=end if swap_at is None else swap_at,
                energy_wh=energy,
                priority=rack.priority * weight,
                swap_at=swap_at,
            )
        )
    return tuple(jobs)
