"""The site's swap stations in the planning wing: each rack's state from the station's
reports, the rack as the optimizer's :class:`~optimizer.SwapRack`, the rack's limit as a
station-level charging profile, and the swaps that found no ready pack.

Pure: the site loop sends the limits and the planning service publishes the findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from csms.domain import ChargingLimit, ChargingRateUnit, RackSwap, SwapRackReading
from csms.events import MeterValuesReceived, SwapFromReadyPack, SwapWithoutReadyPack
from csms.planning.rack_meter import RackMeter
from csms.planning.under import add_steps_under, add_under
from csms.sites.model import Site, SwapStation
from csms.sites.swap import forecast_swap_times
from csms.swaps.model import BatterySwap, SwapState
from optimizer import Plan, SwapRack, TimeGrid

__all__ = [
    "RackState",
    "rack_draws_w",
    "rack_limit",
    "racks_of",
    "racks_uncontrolled_w",
    "swap_racks",
    "with_planned_racks",
]

#: The profile id of a swap station's rack limit (its ChargingStationMaxProfile).
RACK_PROFILE_ID = 9100


@dataclass(slots=True)
class RackState:
    """What is known of one swap station's rack: its last reading, the swaps seen, those
    that found no ready pack, and the limit last sent."""

    swap: SwapStation
    reading: SwapRackReading | None = None
    swaps_seen: int = 0
    no_ready_pack: int = 0
    last_no_ready_at: datetime | None = None
    sent_w: float | None = None
    sent_state: str | None = None  # "accepted", "rejected", "failed"
    findings: list[SwapWithoutReadyPack] = field(default_factory=list)
    #: the swaps that found a ready pack, to publish (telemetry counts both kinds)
    served: list[SwapFromReadyPack] = field(default_factory=list)
    sessions_seen: set[tuple[int, datetime]] = field(default_factory=set)
    #: what the station's own MeterValues say: the rack's draw, its slots' SoC (0915)
    meter: RackMeter = field(default_factory=RackMeter)

    def take_metered(self, event: MeterValuesReceived) -> list[str]:
        """Take the station's MeterValues (its rack on EVSE 0, its slots' packs on theirs);
        the reasons to re-plan: a pack's SoC known for the first time."""
        return self.meter.take(event, self.swap)

    def take(self, reading: SwapRackReading, *, site_id: str) -> list[str]:
        """Take a reading (a late one is ignored); the reasons it gives to re-plan: a swap
        happened (the rack changed), or its packs are known for the first time. A swap
        that handed out no pack, or one below the threshold, is kept as a finding."""
        before = self.reading
        if before is not None and reading.at < before.at:
            return []
        self.reading = reading
        for swap in reading.swaps:
            self._count(swap, site_id)
        if reading.swaps:
            return ["swap"]
        return ["swap rack"] if before is None else []

    def take_battery_swap(self, swap: BatterySwap, *, site_id: str) -> list[str]:
        """Take a completed OCPP 2.1 swap session of the station (``csms.swaps``): the swap
        counts (ready or not by the SoC of the pack that went out), and the rack as last known
        loses the packs that went out and holds the packs that came in."""
        if swap.state is not SwapState.COMPLETED or not swap.packs_out:
            return []
        key = (swap.request_id, swap.created_at)
        if key in self.sessions_seen:
            return []
        self.sessions_seen.add(key)
        at = swap.ended_at or swap.created_at
        self._count(RackSwap(at, min(p.soc_pct for p in swap.packs_out)), site_id)
        slots = self.meter.slots  # where the station meters its slots, they follow the swap
        metered = bool(slots)
        for pack in swap.packs_out if metered else ():
            if pack.slot in slots and slots[pack.slot][1] <= at:
                del slots[pack.slot]
        for pack in swap.packs_in if metered else ():
            if 1 <= pack.slot <= self.swap.rack_size and pack.slot not in slots:
                slots[pack.slot] = (pack.soc_pct, at)
        reading = self.reading
        if reading is not None and at >= reading.at:
            self.reading = _after_swap(reading, swap, at)
        return ["swap"]

    def _count(self, swap: RackSwap, site_id: str) -> None:
        self.swaps_seen += 1
        ready = self.swap.ready_soc_pct
        if swap.pack_out_soc_pct is not None and swap.pack_out_soc_pct >= ready:
            self.served.append(
                SwapFromReadyPack(site_id, self.swap.id, self.swap.station,
                                  swap.pack_out_soc_pct, ready, swap.at)
            )  # fmt: skip
        else:
            self.no_ready_pack += 1
            self.last_no_ready_at = swap.at
            self.findings.append(
                SwapWithoutReadyPack(
                    site_id, self.swap.id, self.swap.station, swap.pack_out_soc_pct, ready,
                    swap.at,
                )
            )  # fmt: skip

    @property
    def controllable(self) -> bool:
        """Whether the plan may count on the rack drawing what it is sent: not after the
        station failed or refused the last limit (then it may draw its whole rating)."""
        return self.sent_state not in ("failed", "rejected")

    def pop_findings(self) -> list[SwapWithoutReadyPack]:
        out, self.findings = self.findings, []
        return out

    def pop_served(self) -> list[SwapFromReadyPack]:
        out, self.served = self.served, []
        return out

    def _metered(self, metered: bool) -> bool:
        """Whether to take the station's metered slots: asked to, and newer than the rack
        last reported."""
        at = self.meter.slots_at
        if metered and at is None:
            self.meter.no_slot_soc(self.swap)
        return metered and at is not None and (self.reading is None or at >= self.reading.at)

    def soc_pct(self, *, metered: bool = False) -> tuple[float, ...]:
        """The packs' SoC as last known: with ``metered``, the station's metered slots (a
        slot not metered yet at the forecast's arrival SoC) where newer than the rack last
        reported; else the rack last reported; before any, every slot at the arrival SoC
        (the worst a rack refilled by swaps holds)."""
        arrival = self.swap.arrival_soc_pct
        if self._metered(metered):
            slots = self.meter.slots
            return tuple(
                slots[n][0] if n in slots else arrival for n in range(1, self.swap.rack_size + 1)
            )
        if self.reading is not None and self.reading.pack_soc_pct:
            return self.reading.pack_soc_pct
        return (arrival,) * self.swap.rack_size

    def pack_ids(self, *, metered: bool = False) -> tuple[str, ...]:
        """The ids of :meth:`soc_pct`'s packs where known (a reading naming them), else ()."""
        reading = self.reading
        if (
            reading is None
            or self._metered(metered)
            or len(reading.pack_ids) != len(reading.pack_soc_pct)
        ):
            return ()
        return reading.pack_ids

    def worst_w(self) -> float:
        """What the rack may draw: the limit it last accepted, else its rating."""
        if self.sent_state == "accepted" and self.sent_w is not None:
            return min(self.sent_w, self.swap.max_rack_power_w)
        return self.swap.max_rack_power_w


def _after_swap(reading: SwapRackReading, swap: BatterySwap, at: datetime) -> SwapRackReading:
    """The rack after ``swap``: each pack out leaves (by id where the rack's ids are known,
    else the fullest pack, the one a station hands out), each pack in arrives."""
    ids = list(reading.pack_ids) or [""] * len(reading.pack_soc_pct)
    packs = list(zip(ids, reading.pack_soc_pct, strict=True))
    for out in swap.packs_out:
        named = [i for i, (pid, _) in enumerate(packs) if pid and pid == out.serial_number]
        if named:
            packs.pop(named[0])
        elif packs:
            packs.pop(max(range(len(packs)), key=lambda i: packs[i][1]))
    packs += [(p.serial_number, p.soc_pct) for p in swap.packs_in]
    known = all(pid for pid, _ in packs)
    return SwapRackReading(
        reading.swap_id, at, tuple(soc for _, soc in packs),
        tuple(pid for pid, _ in packs) if known else (),
    )  # fmt: skip


def racks_of(site: Site, old: dict[str, RackState]) -> dict[str, RackState]:
    """One state per ``[[swap]]`` of ``site``, keeping what is known of those that stay."""
    out = {}
    for swap in site.swap:
        state = old.get(swap.id) or RackState(swap)
        state.swap = swap
        out[swap.id] = state
    return out


def swap_racks(
    racks: dict[str, RackState], site: Site, grid: TimeGrid, *, metered_soc: bool = False
) -> tuple[SwapRack, ...]:
    """Every rack as the optimizer's :class:`~optimizer.SwapRack` over ``grid``: its packs
    as last known (``metered_soc``: the slots its station meters too) and the swaps the
    forecast expects in the horizon."""
    out = []
    for state in racks.values():
        if not state.controllable:
            continue
        swap = state.swap
        soc = state.soc_pct(metered=metered_soc)
        out.append(
            SwapRack(
                rack_id=swap.id,
                node_id=swap.node,
                pack_soc_pct=soc,
                pack_ids=state.pack_ids(metered=metered_soc),
                pack_capacity_wh=swap.pack_capacity_wh,
                max_pack_power_w=swap.max_pack_power_w,
                max_rack_power_w=swap.max_rack_power_w,
                ready_soc_pct=swap.ready_soc_pct,
                arrival_soc_pct=swap.arrival_soc_pct,
                efficiency=swap.efficiency,
                swap_times=forecast_swap_times(
                    swap, timezone=site.timezone, start=grid.start, end=grid.end
                ),
            )
        )
    return tuple(out)


def rack_draws_w(racks: dict[str, RackState], now: datetime, *, stale_after_s: float) -> float:
    """What the site's racks draw at ``now`` as their stations meter it, each counted at
    what it may draw while its reading is stale or missing (:meth:`RackMeter.draw_w`)."""
    return sum(
        state.meter.draw_w(state.swap, now, stale_after_s=stale_after_s, worst_w=state.worst_w())
        for state in racks.values()
    )


def racks_uncontrolled_w(racks: dict[str, RackState], site: Site) -> dict[str, float]:
    """Per node the racks the plan cannot count on may draw: each at its rating."""
    out: dict[str, float] = {}
    for state in racks.values():
        if not state.controllable:
            add_under(out, site, state.swap.node, state.swap.max_rack_power_w)
    return out


def with_planned_racks(
    supply_w: dict[str, tuple[float, ...]], plan: Plan, site: Site
) -> dict[str, tuple[float, ...]]:
    """The supply the EVs under each node may take on top of its net import (the PV and
    planned storage), less what the plan has the racks under it draw: the plan's node power
    holds the racks' power too, and the rack gets it as its own limit (decision 0914)."""
    if not plan.swap_racks:
        return supply_w
    out = dict(supply_w)
    for swap in site.swap:
        rack = plan.swap_racks.get(swap.id)
        if rack is not None:
            add_steps_under(out, site, swap.node, rack.power_w, sign=-1.0)
    return out


def rack_limit(
    swap: SwapStation, plan: Plan, *, sent_at: datetime, valid_to: datetime
) -> ChargingLimit:
    """The rack's planned power as the swap station's station-level limit (a
    ChargingStationMaxProfile in W), one period per plan step from ``sent_at`` until
    ``valid_to``; a plan without the rack (the fallback) gives it nothing. The profile has
    no end: if the central system stops re-planning, the last period holds (never more
    than the plan counted on), and the next re-plan replaces it (same profile id)."""
    rack = plan.swap_racks.get(swap.id)
    grid = plan.grid
    periods: list[tuple[int, float, int | None]] = []
    for k in range(grid.n_steps):
        begin = grid.step_start(k)
        end = begin + timedelta(seconds=grid.step_durations_s[k])
        if end <= sent_at or begin >= valid_to:
            continue
        watts = 0.0 if rack is None else max(0.0, round(rack.power_w[k], 1))
        offset = max(0, int((begin - sent_at).total_seconds()))
        if periods and periods[-1][1] == watts:
            continue
        if periods and periods[-1][0] == offset:
            periods[-1] = (offset, watts, 3)
        else:
            periods.append((offset, watts, 3))
    return ChargingLimit(
        station_id=swap.station,
        evse_id=0,
        unit=ChargingRateUnit.WATT,
        schedule=tuple(periods) or ((0, 0.0, 3),),
        purpose="ChargingStationMaxProfile",
        profile_id=RACK_PROFILE_ID,
        start_at=sent_at,
    )
