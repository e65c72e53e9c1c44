"""A battery-swap station: a rack of packs charging as one flexible load, and a swap robot.

``station.advance(dt_s) -> RackReport`` moves the station's own virtual clock forward:

- vehicles arrive (:class:`SwapArrival`: a depleted pack, its serial and SoC) and queue for
  the robot, first come first served;
- the robot takes the *fullest ready* pack (SoC at or above ``ready_soc`` of its capacity),
  which stops charging at once, and ``swap_time_s`` later the vehicle leaves with it and its
  own pack sits in the freed slot, charging; a vehicle the robot finds no ready pack for
  leaves without one (``no_ready_pack``), one whose pack serial is already in the rack is
  refused (``duplicate_pack``); both are recorded like a swap;
- with ``swap_timeout_s`` a vehicle's swap must be done within that long of its turn (the
  robot free for it): it waits for a pack to become ready or for a jammed robot (a robot
  jams in ``jam_share`` of the swaps, seeded, for ``jam_s``; :meth:`SwapStation.jam` jams it
  by hand) and, once the time is up, leaves with its own pack (``timed_out``, with the reason
  ``no_ready_pack`` or ``robot_jam``; the pack the robot had taken goes back to charging);
- the rack draws at most ``max_rack_power_w`` (and the central system's limit when one is
  set), each slot at most ``max_pack_power_w``, shared fullest pack first so that packs
  become ready one after the other; a pack stops at ``target_soc``; charging stores
  ``P * charge_efficiency``.

Energy is accounted: ``grid energy == delta of the energy in the rack + losses
+ energy carried out by vehicles - energy carried in`` to rounding. Slots are numbered from
1 (the ``evseId`` of 2.1 BatterySwap events).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from simulators.exceptions import InvalidParameter
from simulators.quantities import aware, fraction, integer, non_negative, positive

__all__ = [
    "SWAP_OUTCOMES",
    "TIMEOUT_REASONS",
    "PackSpec",
    "RackReport",
    "SwapArrival",
    "SwapRecord",
    "SwapStation",
    "SwapStationSpec",
]

#: what became of a vehicle that came for a swap
SWAP_OUTCOMES = ("swapped", "no_ready_pack", "duplicate_pack", "timed_out")

#: why a swap timed out
TIMEOUT_REASONS = ("no_ready_pack", "robot_jam")


def _serial(field_name: str, serial: str) -> None:
    if not isinstance(serial, str) or not 0 < len(serial) <= 50 or not serial.isprintable():
        raise InvalidParameter(field_name, f"must be 1 to 50 printable characters, got {serial!r}")


@dataclass(frozen=True, slots=True)
class PackSpec:
    """A battery pack: serial number (2.1 ``serialNumber``), capacity and SoC (fraction)."""

    serial: str
    capacity_wh: float
    soc: float

    def __post_init__(self) -> None:
        _serial("pack.serial", self.serial)
        positive(f"pack[{self.serial}].capacity_wh", self.capacity_wh)
        fraction(f"pack[{self.serial}].soc", self.soc)


@dataclass(frozen=True, slots=True)
class SwapArrival:
    """A vehicle that comes to swap its (depleted) ``pack``."""

    vehicle_id: str
    at: datetime
    pack: PackSpec
    id_token: str | None = None

    def __post_init__(self) -> None:
        _serial("vehicle_id", self.vehicle_id)
        aware(f"arrival[{self.vehicle_id}].at", self.at)


@dataclass(frozen=True, slots=True)
class SwapStationSpec:
    station_id: str
    slots: int
    packs: tuple[PackSpec, ...]
    """The packs in the rack at the start, in slots 1, 2, ...; the other slots are empty."""
    max_rack_power_w: float
    max_pack_power_w: float
    charge_efficiency: float = 0.95
    ready_soc: float = 0.9
    target_soc: float = 0.95
    swap_time_s: float = 300.0
    step_s: float = 10.0
    #: the longest a swap may take from the vehicle's turn (None: no limit; a vehicle with no
    #: ready pack is then turned away at once, a jam only delays the swap)
    swap_timeout_s: float | None = None
    #: the share of swaps in which the robot jams (seeded), and for how long
    jam_share: float = 0.0
    jam_s: float = 1800.0

    def __post_init__(self) -> None:
        where = f"swap[{self.station_id}]"
        integer(f"{where}.slots", self.slots, low=1)
        if len(self.packs) > self.slots:
            raise InvalidParameter(
                f"{where}.packs", f"{len(self.packs)} packs in {self.slots} slots"
            )
        serials = [pack.serial for pack in self.packs]
        if len(set(serials)) != len(serials):
            raise InvalidParameter(f"{where}.packs", "holds a serial number twice")
        positive(f"{where}.max_rack_power_w", self.max_rack_power_w)
        positive(f"{where}.max_pack_power_w", self.max_pack_power_w)
        fraction(f"{where}.charge_efficiency", self.charge_efficiency, allow_zero=False)
        fraction(f"{where}.ready_soc", self.ready_soc)
        fraction(f"{where}.target_soc", self.target_soc)
        if self.target_soc < self.ready_soc:
            raise InvalidParameter(f"{where}.target_soc", "is below ready_soc")
        non_negative(f"{where}.swap_time_s", self.swap_time_s)
        positive(f"{where}.step_s", self.step_s)
        if self.swap_timeout_s is not None:
            positive(f"{where}.swap_timeout_s", self.swap_timeout_s)
            if self.swap_timeout_s < self.swap_time_s:
                raise InvalidParameter(f"{where}.swap_timeout_s", "is below swap_time_s")
        fraction(f"{where}.jam_share", self.jam_share)
        positive(f"{where}.jam_s", self.jam_s)


@dataclass(slots=True)
class _Pack:
    serial: str
    capacity_wh: float
    soc_wh: float

    @property
    def soc(self) -> float:
        return self.soc_wh / self.capacity_wh


@dataclass(frozen=True, slots=True)
class SwapRecord:
    """One vehicle's visit: what it brought, what it left with, the energy either way."""

    vehicle_id: str
    arrived: datetime
    started: datetime
    finished: datetime
    outcome: str
    pack_in_serial: str
    pack_in_soc: float
    energy_in_wh: float
    """Energy in the pack the vehicle brought (into the rack)."""
    slot: int | None = None
    pack_out_serial: str | None = None
    pack_out_soc: float | None = None
    energy_out_wh: float = 0.0
    """Energy in the pack the vehicle left with."""
    id_token: str | None = None
    #: ``timed_out``: why (one of :data:`TIMEOUT_REASONS`)
    reason: str | None = None

    @property
    def waited_s(self) -> float:
        return (self.started - self.arrived).total_seconds()


@dataclass(frozen=True, slots=True)
class RackReport:
    start: datetime
    end: datetime
    power_w: float
    energy_wh: float
    """Energy the rack drew from the site."""
    losses_wh: float
    ready_packs: int
    swaps: tuple[SwapRecord, ...]
    """Visits finished in the interval (swapped, or turned away)."""


@dataclass(slots=True)
class _Swap:
    arrival: SwapArrival
    started: datetime
    slot: int
    pack_out: _Pack
    turn: datetime  # when the robot was free for the vehicle (its timeout counts from here)


@dataclass(slots=True)
class _Totals:
    energy_wh: float = 0.0
    losses_wh: float = 0.0
    carried_in_wh: float = 0.0
    carried_out_wh: float = 0.0
    records: list[SwapRecord] = field(default_factory=list)


class SwapStation:
    """A swap station's rack and robot around a :class:`SwapStationSpec`, on its own clock."""

    def __init__(self, spec: SwapStationSpec, *, start: datetime, seed: int = 0) -> None:
        self.spec = spec
        self.seed = integer("seed", seed)
        self.now = aware("start", start)
        self.slots: list[_Pack | None] = [None] * spec.slots
        for i, pack in enumerate(spec.packs):
            self.slots[i] = _Pack(pack.serial, pack.capacity_wh, pack.soc * pack.capacity_wh)
        self.limit_w: float | None = None
        self.power_w = 0.0
        self.totals = _Totals()
        self._arrivals: list[SwapArrival] = []
        self._queue: deque[SwapArrival] = deque()
        self._swap: _Swap | None = None
        self._turn: datetime | None = None  # the first waiting vehicle's turn began
        self.jammed_until: datetime | None = None
        self._swaps_started = 0

    def add_arrivals(self, arrivals: list[SwapArrival]) -> None:
        """Vehicles to come; none before the station's clock."""
        for arrival in arrivals:
            if arrival.at < self.now:
                raise InvalidParameter(
                    f"arrival[{arrival.vehicle_id}].at", "is before the station's clock"
                )
        # kept latest first so that pop() takes the earliest; equal times in the order given
        pending = [*reversed(self._arrivals), *arrivals]
        self._arrivals = sorted(pending, key=lambda a: a.at)[::-1]

    def set_power_limit_w(self, limit_w: float | None) -> None:
        """The central system's limit on the rack (``None``: only the rack's own rating)."""
        self.limit_w = None if limit_w is None else non_negative("limit_w", limit_w)

    def rack_energy_wh(self) -> float:
        return sum(pack.soc_wh for pack in self.slots if pack is not None)

    def ready_packs(self) -> int:
        return sum(1 for i in range(len(self.slots)) if self._ready(i))

    def energy_to_target_wh(self) -> float:
        """Energy the rack would draw from the site to bring every pack to ``target_soc``."""
        target, efficiency = self.spec.target_soc, self.spec.charge_efficiency
        return sum(
            max(0.0, target * pack.capacity_wh - pack.soc_wh) / efficiency
            for pack in self.slots
            if pack is not None
        )

    def jam(self, until: datetime) -> None:
        """The robot is stuck until ``until``: the swap in progress ends no sooner, no other
        starts (with a timeout, the vehicles waiting time out)."""
        until = aware("until", until)
        self.jammed_until = max(until, self.jammed_until or until)

    def jammed(self) -> bool:
        return self.jammed_until is not None and self.now < self.jammed_until

    def next_event(self) -> datetime | None:
        """The next vehicle's arrival, the end (or timeout) of the swap in progress, the
        timeout of the vehicle waiting, the end of a jam, whichever is first."""
        times = [self._arrivals[-1].at] if self._arrivals else []
        timeout = self.spec.swap_timeout_s
        if self._swap is not None:
            times.append(self._swap_done_at(self._swap))
            if timeout is not None:
                times.append(self._swap.turn + timedelta(seconds=timeout))
        elif self._queue:
            if timeout is not None and self._turn is not None:
                times.append(self._turn + timedelta(seconds=timeout))
            if self.jammed() and self.jammed_until is not None:
                times.append(self.jammed_until)
        return min(times, default=None)

    def vehicles_waiting(self) -> int:
        """Vehicles that have arrived and wait for the robot (not the one being served)."""
        return len(self._queue) + sum(1 for a in self._arrivals if a.at <= self.now)

    def advance(self, dt_s: float) -> RackReport:
        duration = non_negative("dt_s", dt_s)
        start, end = self.now, self.now + timedelta(seconds=duration)
        totals = self.totals
        before = (totals.energy_wh, totals.losses_wh, len(totals.records))
        step = timedelta(seconds=self.spec.step_s)
        self._handle_due()
        while self.now < end:
            until = min(self.now + step, end)
            event = self.next_event()
            if event is not None and event > self.now:
                until = min(until, event)
            self._charge((until - self.now).total_seconds())
            self.now = until
            self._handle_due()
        return RackReport(
            start=start,
            end=end,
            power_w=self.power_w,
            energy_wh=totals.energy_wh - before[0],
            losses_wh=totals.losses_wh - before[1],
            ready_packs=self.ready_packs(),
            swaps=tuple(totals.records[before[2] :]),
        )

    def _swap_done_at(self, swap: _Swap) -> datetime:
        done = swap.started + timedelta(seconds=self.spec.swap_time_s)
        jam = self.jammed_until
        return max(done, jam) if jam is not None and jam > swap.started else done

    def _timed_out(self, turn: datetime) -> bool:
        timeout = self.spec.swap_timeout_s
        return timeout is not None and self.now >= turn + timedelta(seconds=timeout)

    def _ready(self, slot: int) -> bool:
        pack = self.slots[slot]
        if pack is None or (self._swap is not None and self._swap.slot == slot):
            return False
        return pack.soc_wh >= self.spec.ready_soc * pack.capacity_wh - 1e-9

    def _handle_due(self) -> None:
        swap = self._swap
        if swap is not None:
            if self._swap_done_at(swap) <= self.now:
                self._finish(swap)
            elif self._timed_out(swap.turn):  # the robot jammed: the vehicle gives up
                self._swap = None
                self._record(swap.arrival, "timed_out", reason="robot_jam", started=swap.started)
        while self._arrivals and self._arrivals[-1].at <= self.now:
            self._queue.append(self._arrivals.pop())
        while self._swap is None and self._queue and self._next_turn(self._queue[0]):
            self._queue.popleft()
            self._turn = None

    def _next_turn(self, arrival: SwapArrival) -> bool:
        """Serve (or turn away, or time out) the first waiting vehicle; False while it waits
        for a ready pack or for the robot."""
        if self._turn is None:
            self._turn = self.now
        brought = arrival.pack
        if any(p is not None and p.serial == brought.serial for p in self.slots):
            self._record(arrival, "duplicate_pack")
            return True
        ready = [i for i in range(len(self.slots)) if self._ready(i)]
        if ready and not self.jammed():
            self._start(arrival, ready, self._turn)
            return True
        if self.spec.swap_timeout_s is None:
            if self.jammed():
                return False  # no timeout: it waits for the robot
            self._record(arrival, "no_ready_pack")
            return True
        if self._timed_out(self._turn):
            reason = "robot_jam" if self.jammed() else "no_ready_pack"
            self._record(arrival, "timed_out", reason=reason, started=self._turn)
            return True
        return False

    def _start(self, arrival: SwapArrival, ready: list[int], turn: datetime) -> None:
        slot = max(ready, key=lambda i: (self.slots[i].soc, -i))  # type: ignore[union-attr]
        pack = self.slots[slot]
        assert pack is not None
        self._swaps_started += 1
        spec = self.spec
        if spec.jam_share > 0.0:
            draw = random.Random(f"jam:{self.seed}:{spec.station_id}:{self._swaps_started}")
            if draw.random() < spec.jam_share:
                self.jam(self.now + timedelta(seconds=spec.jam_s))
        self._swap = _Swap(arrival, self.now, slot, pack, turn)
        if self._swap_done_at(self._swap) <= self.now:
            self._finish(self._swap)

    def _finish(self, swap: _Swap) -> None:
        brought = swap.arrival.pack
        energy_in = brought.soc * brought.capacity_wh
        self.slots[swap.slot] = _Pack(brought.serial, brought.capacity_wh, energy_in)
        self.totals.carried_in_wh += energy_in
        self.totals.carried_out_wh += swap.pack_out.soc_wh
        self._swap = None
        self._record(swap.arrival, "swapped", swap)

    def _record(
        self,
        arrival: SwapArrival,
        outcome: str,
        swap: _Swap | None = None,
        *,
        reason: str | None = None,
        started: datetime | None = None,
    ) -> None:
        brought = arrival.pack
        out = None if swap is None else swap.pack_out
        if started is None:
            started = self.now if swap is None else swap.started
        self.totals.records.append(
            SwapRecord(
                vehicle_id=arrival.vehicle_id,
                arrived=arrival.at,
                started=started,
                finished=self.now,
                outcome=outcome,
                pack_in_serial=brought.serial,
                pack_in_soc=brought.soc,
                energy_in_wh=brought.soc * brought.capacity_wh,
                slot=None if swap is None else swap.slot + 1,
                pack_out_serial=None if out is None else out.serial,
                pack_out_soc=None if out is None else out.soc,
                energy_out_wh=0.0 if out is None else out.soc_wh,
                id_token=arrival.id_token,
                reason=reason,
            )
        )

    def _charge(self, dt_s: float) -> None:
        """Share the rack's power fullest pack first for ``dt_s`` seconds."""
        if dt_s <= 0.0:
            return
        spec = self.spec
        available = spec.max_rack_power_w
        if self.limit_w is not None:
            available = min(available, self.limit_w)
        busy = None if self._swap is None else self._swap.slot
        charging = [
            pack
            for i, pack in enumerate(self.slots)
            if pack is not None and i != busy and pack.soc < spec.target_soc
        ]
        charging.sort(key=lambda pack: -pack.soc)
        hours = dt_s / 3600.0
        total = 0.0
        for pack in charging:
            room_wh = max(0.0, spec.target_soc * pack.capacity_wh - pack.soc_wh)
            power = min(spec.max_pack_power_w, available - total)
            power = min(power, room_wh / (spec.charge_efficiency * hours))
            if power <= 0.0:
                continue
            energy = power * hours
            pack.soc_wh += energy * spec.charge_efficiency
            self.totals.energy_wh += energy
            self.totals.losses_wh += energy * (1.0 - spec.charge_efficiency)
            total += power
        self.power_w = total
