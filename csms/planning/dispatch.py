"""From a plan to the limits to send (sans-I/O): per-station quirks, the deadband, and the
decreases a node needs that the deadband must not hold back."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from csms.domain import ChargingLimit, ChargingRateUnit
from csms.planning.state import EvseState, Sent, SiteState
from csms.sites.constraints import NodeLimit
from csms.sites.model import Site, StationQuirks

__all__ = [
    "Dispatch",
    "allowed_currents",
    "allowed_powers_w",
    "carried_w",
    "carry_over",
    "choose",
    "current_w",
    "executable_w",
    "fallback_w",
    "make_limit",
    "min_current_a",
    "min_power_w",
    "node_limit_at",
    "single_period",
    "tx_profile",
    "window_end",
]

#: Profile ids: one TxProfile and one TxDefaultProfile per EVSE, replaced in place.
TX_PROFILE_ID = 1_000
DEFAULT_PROFILE_ID = 2_000


def window_end(now: datetime, *, validity_s: float, margin_s: float) -> datetime:
    """When the TxProfiles sent now end: the next multiple of ``validity_s`` since the epoch
    (the next one again within ``margin_s`` of it). Every TxProfile of every station ends at
    the same instant, so when the CSMS is gone they all fall back to the safe defaults
    together: never a mix of some stations on raised limits and others back on defaults."""
    t = now.timestamp()
    end = math.ceil(t / validity_s) * validity_s
    if end - t < margin_s:
        end += validity_s
    return datetime.fromtimestamp(end, tz=now.tzinfo)


@dataclass(frozen=True, slots=True)
class Dispatch:
    evse: EvseState
    limit_w: float  # what the station will allow, after quirks (the first period)
    charging_limit: ChargingLimit
    forced: bool  # a change a node needed, sent despite the deadband
    later: tuple[tuple[datetime, float], ...] = ()  # the next periods (start, W)


def _unit(quirks: StationQuirks | None) -> ChargingRateUnit:
    if quirks is not None and quirks.unit == "W":
        return ChargingRateUnit.WATT
    return ChargingRateUnit.AMPERE


def min_current_a(ev: EvseState, quirks: StationQuirks | None) -> float:
    """The smallest current the EVSE charges at: its own, raised by its model's, never above
    its maximum (IEC 61851 EVs do not charge below 6 A; some stop for good)."""
    min_a = ev.evse.min_current_a
    if quirks is not None and quirks.min_current_a is not None:
        min_a = max(min_a, quirks.min_current_a)
    return min(min_a, ev.evse.max_current_a)


def allowed_currents(ev: EvseState, quirks: StationQuirks | None) -> tuple[float, ...] | None:
    """The currents the EVSE's pilot takes (0 first), or None where any current from its
    minimum up is taken."""
    if quirks is None or not quirks.allowed_currents_a:
        return None
    low = min_current_a(ev, quirks)
    top = ev.evse.max_current_a
    return (0.0, *(a for a in quirks.allowed_currents_a if low - 1e-9 <= a <= top + 1e-9))


def allowed_powers_w(ev: EvseState, quirks: StationQuirks | None) -> tuple[float, ...] | None:
    """:func:`allowed_currents` as the limits :func:`executable_w` sends, in W."""
    allowed = allowed_currents(ev, quirks)
    if allowed is None:
        return None
    per_amp = ev.evse.voltage_v * ev.evse.n_phases
    if _unit(quirks) is ChargingRateUnit.WATT:
        return tuple(float(round(a * per_amp)) for a in allowed)
    return tuple(a * per_amp for a in allowed)


def min_power_w(ev: EvseState, quirks: StationQuirks | None) -> float:
    """The smallest non-zero limit the station may be sent, in W (as :func:`executable_w`
    keeps it: 0.1 A steps, whole watts; the lowest allowed current where the model takes a
    set)."""
    phases = ev.evse.n_phases
    volts = ev.evse.voltage_v
    amps = math.ceil(min_current_a(ev, quirks) * 10 - 1e-9) / 10
    allowed = allowed_currents(ev, quirks)
    if allowed is not None:
        if len(allowed) < 2:
            return math.inf  # no current it may be given: it never charges
        if _unit(quirks) is ChargingRateUnit.WATT:
            return float(round(allowed[1] * volts * phases))
        return allowed[1] * volts * phases
    if _unit(quirks) is ChargingRateUnit.WATT:
        return float(math.ceil(amps * volts * phases - 1e-9))
    return amps * volts * phases


def executable_w(ev: EvseState, limit_w: float, quirks: StationQuirks | None) -> float:
    """The power the station will actually allow for ``limit_w``: amps rounded down to 0.1 A
    (whole watts for stations limited in W), and zero below the EVSE's minimum current; where
    the model takes only a set of currents, the highest of them not above ``limit_w``."""
    phases = ev.evse.n_phases
    volts = ev.evse.voltage_v
    allowed = allowed_currents(ev, quirks)
    if allowed is not None:
        watt_unit = _unit(quirks) is ChargingRateUnit.WATT
        best = 0.0
        for amps in allowed:
            # in W: the whole watts of that current (the station turns them back into amps)
            watts = float(round(amps * volts * phases)) if watt_unit else amps * volts * phases
            if watts <= max(0.0, limit_w) + 1e-6:
                best = watts
        return best
    floor_w = min_power_w(ev, quirks)
    if _unit(quirks) is ChargingRateUnit.WATT:
        watts = float(math.floor(max(0.0, limit_w) + 1e-9))
        return watts if watts >= floor_w else 0.0
    amps = math.floor(max(0.0, limit_w) / (volts * phases) * 10 + 1e-9) / 10
    if amps * volts * phases < floor_w - 1e-9:
        amps = 0.0
    return amps * volts * phases


def make_limit(
    ev: EvseState,
    limit_w: float,
    quirks: StationQuirks | None,
    *,
    purpose: str,
    now: datetime,
    valid_to: datetime | None,
    later: tuple[tuple[datetime, float], ...] = (),
) -> ChargingLimit:
    """``limit_w`` from ``now``; ``later``: the next periods (start, W) of the schedule."""
    unit = _unit(quirks)
    phases = ev.evse.n_phases

    def value_of(watts: float) -> float:
        if unit is ChargingRateUnit.WATT:
            return math.floor(watts + 1e-9)  # an int: some 1.6 stacks reject decimals
        return math.floor(watts / (ev.evse.voltage_v * phases) * 10 + 1e-9) / 10

    schedule = [(0, value_of(limit_w), phases)]
    for start, watts in later:
        # Whole seconds: a decrease never starts late, an increase never starts early.
        seconds = (start - now).total_seconds()
        lower = value_of(watts) < schedule[-1][1]
        offset = math.floor(seconds + 1e-6) if lower else math.ceil(seconds - 1e-6)
        if offset > schedule[-1][0] and value_of(watts) != schedule[-1][1]:
            schedule.append((offset, value_of(watts), phases))
    stack = 1 if purpose == "TxProfile" else 0
    if quirks is not None and quirks.max_stack_level is not None:
        stack = min(stack, quirks.max_stack_level)
    tx = purpose == "TxProfile"
    return ChargingLimit(
        station_id=ev.station.id,
        evse_id=ev.evse.id,
        unit=unit,
        schedule=tuple(schedule),
        purpose=purpose,
        stack_level=stack,
        profile_id=(TX_PROFILE_ID if tx else DEFAULT_PROFILE_ID) + ev.evse.id,
        start_at=now if tx else None,
        duration_s=(
            max(1, math.ceil((valid_to - now).total_seconds()))
            if tx and valid_to is not None
            else None
        ),
        transaction_id=ev.tx.id if tx and ev.tx is not None else None,
    )


def current_w(ev: EvseState, now: datetime | None = None) -> float:
    """What the EVSE may draw at ``now`` as far as the planner knows: its TxProfile's limit
    then while it lasts (accepted, or not answered yet or in time), else its fallback."""
    sent = tx_profile(ev)
    if sent is None or (now is not None and sent.valid_to is not None and sent.valid_to <= now):
        return fallback_w(ev)
    if sent.state == "failed":  # on it or on what it had (decision 0015)
        return max(sent.value_at(now), ev.limit_in_force_w(now) or fallback_w(ev))
    return sent.value_at(now)


def tx_profile(ev: EvseState) -> Sent | None:
    """The TxProfile of the EVSE's running transaction, accepted or unanswered, if any."""
    sent, tx = ev.sent, ev.tx
    if sent is None or tx is None or sent.transaction_id != tx.id:
        return None
    return sent if sent.state == "accepted" or sent.unanswered else None


def single_period(quirks: StationQuirks | None) -> bool:
    return quirks is not None and quirks.single_period


def choose(
    state: SiteState,
    first_step: dict[str, float],
    controlled: tuple[EvseState, ...],
    *,
    limits: dict[str, NodeLimit],
    uncontrolled_w: dict[str, float],
    now: datetime,
    deadband_w: float,
    valid_to: datetime,
    later: dict[str, tuple[tuple[datetime, float], ...]] | None = None,
    later_limits_w: dict[str, tuple[tuple[datetime, float | None], ...]] | None = None,
) -> list[Dispatch]:
    """The TxProfiles to send for the plan's first step (EVSE id -> W) and, to stations that
    take more than one period per schedule, its next steps (``later``: EVSE id -> (start, W)
    before ``valid_to``).

    Every node is checked at every instant a schedule changes before ``valid_to``: the
    schedules sent plus the ones held back by the deadband (which the stations keep
    following) must stay within its limit (now: ``limits``, the limits in force; later:
    ``later_limits_w``, node id -> (from, W) for the controlled EVSEs, as the plan had them).
    Held-back schedules under a node that would be over are sent too; if the node is still
    over at a later instant, the later periods under it are lowered there."""
    t = _targets(
        state,
        first_step,
        controlled,
        later or {},
        now=now,
        valid_to=valid_to,
        deadband_w=deadband_w,
    )
    limit_at = functools.partial(
        node_limit_at,
        state.site,
        now=now,
        limits=limits,
        uncontrolled_w=uncontrolled_w,
        later_limits_w=later_limits_w or {},
    )
    _keep_within(state, controlled, t, limit_at, now=now, valid_to=valid_to)
    out: list[Dispatch] = []
    for ev in controlled:
        if not (t.wanted[ev.key] or ev.key in t.forced):
            continue
        quirks = state.stations[ev.station.id].quirks
        profile = make_limit(
            ev,
            t.targets[ev.key],
            quirks,
            purpose="TxProfile",
            now=now,
            valid_to=valid_to,
            later=t.periods[ev.key],
        )
        out.append(Dispatch(ev, t.targets[ev.key], profile, ev.key in t.forced, t.periods[ev.key]))
    return out


@dataclass(slots=True)
class _Targets:
    """What :func:`choose` would send each EVSE: its first-period limit, its next periods,
    and whether it wants sending (``wanted``) or must be sent for a node (``forced``)."""

    now: datetime
    targets: dict[str, float] = field(default_factory=dict)
    periods: dict[str, tuple[tuple[datetime, float], ...]] = field(default_factory=dict)
    wanted: dict[str, bool] = field(default_factory=dict)
    forced: set[str] = field(default_factory=set)

    def value(self, ev: EvseState, at: datetime, *, new: bool) -> float:
        """What ``ev`` may draw at ``at``: with the new schedule, or the one it has."""
        if not new:
            return current_w(ev, at)
        out = self.targets[ev.key]
        for start, w in self.periods[ev.key]:
            if start <= at:
                out = w
        return out

    def sending(self, ev: EvseState) -> bool:
        return self.wanted[ev.key] or ev.key in self.forced


def _targets(
    state: SiteState,
    first_step: dict[str, float],
    controlled: tuple[EvseState, ...],
    later: dict[str, tuple[tuple[datetime, float], ...]],
    *,
    now: datetime,
    valid_to: datetime,
    deadband_w: float,
) -> _Targets:
    """Each EVSE's executable schedule (its ``planned_w`` set), and whether it differs
    enough from what it has (or that ends, or failed) to be sent."""
    t = _Targets(now)
    for ev in controlled:
        quirks = state.stations[ev.station.id].quirks
        target = executable_w(ev, first_step.get(ev.key, 0.0), quirks)
        ev.planned_w = target
        t.targets[ev.key] = target
        steps: tuple[tuple[datetime, float], ...] = ()
        if not single_period(quirks):
            steps = tuple(
                (at, executable_w(ev, w, quirks))
                for at, w in later.get(ev.key, ())
                if at < valid_to
            )
        t.periods[ev.key] = steps
        sent = ev.sent
        fresh = sent is None or ev.tx is None or sent.transaction_id != ev.tx.id
        expiring = sent is not None and sent.valid_to is not None and sent.valid_to < valid_to
        retry = sent is not None and sent.state in ("rejected", "failed")
        moved = abs(target - current_w(ev, now)) > deadband_w or any(
            abs(w - current_w(ev, at)) > deadband_w for at, w in steps
        )
        t.wanted[ev.key] = fresh or expiring or retry or moved
    return t


def node_limit_at(
    site: Site,
    node_id: str,
    at: datetime,
    *,
    now: datetime,
    limits: Mapping[str, NodeLimit],
    uncontrolled_w: Mapping[str, float],
    later_limits_w: Mapping[str, Sequence[tuple[datetime, float | None]]],
) -> float | None:
    """What the controlled EVSEs under ``node_id`` may draw together at ``at``: now, its
    limit in force less what is not controlled; later, the plan's limit for the step then
    (already net of it). None: no limit."""
    if at <= now:
        if node_id in limits:
            limit = limits[node_id].max_import_w
        else:
            node = site.node(node_id)
            limit = node.max_import_w if node is not None else None
        return None if limit is None else limit - uncontrolled_w.get(node_id, 0.0)
    found: float | None = None
    for start, w in later_limits_w.get(node_id, ()):
        if start <= at:
            found = w
    return found


def _keep_within(
    state: SiteState,
    controlled: tuple[EvseState, ...],
    t: _Targets,
    limit_at: Callable[[str, datetime], float | None],
    *,
    now: datetime,
    valid_to: datetime,
) -> None:
    """Check every node at every instant a schedule changes before ``valid_to``: force out
    held-back schedules under a node that would be over, and where it is still over later,
    lower the later periods under it there."""
    site = state.site
    instants = sorted({now, *(at for steps in t.periods.values() for at, _ in steps)})
    under_of: dict[str, list[EvseState]] = {}  # in one pass, not one per node (large sites)
    for ev in controlled:
        sent = ev.sent
        if sent is not None and not t.wanted[ev.key]:
            instants = sorted({*instants, *(at for at, _ in sent.periods if now < at < valid_to)})
        for node_id in site.ancestors(ev.node_id):
            under_of.setdefault(node_id, []).append(ev)
    for node in site.nodes:
        under = under_of.get(node.id, [])
        for at in instants if under else ():
            limit = limit_at(node.id, at)
            if limit is None:
                continue
            total = sum(t.value(ev, at, new=t.sending(ev)) for ev in under)
            if total > limit + 1e-6:
                # Held-back schedules that would go down (or, later on, all of them).
                for ev in under:
                    if not t.wanted[ev.key] and (
                        at > now or t.value(ev, at, new=True) < t.value(ev, at, new=False)
                    ):
                        t.forced.add(ev.key)
                total = sum(t.value(ev, at, new=t.sending(ev)) for ev in under)
            if total > limit + 1e-6 and at > now:
                sending = {ev.key for ev in under if t.sending(ev)}
                floors = {
                    ev.key: min_power_w(ev, state.stations[ev.station.id].quirks) for ev in under
                }
                _lower(under, sending, t.targets, t.periods, at, total - limit, t.value, floors)


def _lower(
    under: list[EvseState],
    sending: set[str],
    targets: dict[str, float],
    periods: dict[str, tuple[tuple[datetime, float], ...]],
    at: datetime,
    excess_w: float,
    value: Callable[..., float],
    floors: dict[str, float],
) -> None:
    """Take ``excess_w`` off what the schedules being sent under a node allow at ``at``, in
    proportion, down to zero (a value that would fall below the EVSE's minimum goes to zero):
    first the schedules of several periods (a period from ``at``
    on), then, if that is not enough, the one value of stations that take one period
    (lowered from now on: still safe)."""
    for multi in (True, False):
        movable = {
            ev.key: value(ev, at, new=True)
            for ev in under
            if ev.key in sending and bool(periods[ev.key]) is multi
        }
        total = sum(movable.values())
        if total <= 0 or excess_w <= 0:
            continue
        factor = max(0.0, 1.0 - excess_w / total)
        for key, current in movable.items():
            lowered = float(math.floor(current * factor))
            if lowered < floors.get(key, 0.0):  # below its minimum: it waits
                lowered = 0.0
            excess_w -= current - lowered
            if multi:
                steps = [(start, w) for start, w in periods[key] if start != at]
                periods[key] = tuple(sorted([*steps, (at, lowered)]))
            else:
                targets[key] = min(targets[key], lowered)


def fallback_w(ev: EvseState) -> float:
    """What an EVSE may draw once its TxProfile has ended: its confirmed safe default, else
    its rating."""
    return ev.default_w if ev.default_w is not None else ev.rated_w


def carried_w(ev: EvseState) -> float:
    """The most a TxProfile carried into the next window may allow: the highest limit of its
    schedule (a schedule of several periods keeps its last one to its end)."""
    sent = ev.sent
    return sent.peak_w if sent is not None else current_w(ev)


def carry_over(
    state: SiteState,
    candidates: list[EvseState],
    extended: set[str],
    controlled: tuple[EvseState, ...],
    *,
    limits: dict[str, NodeLimit],
    uncontrolled_w: dict[str, float],
) -> list[EvseState]:
    """Which of ``candidates`` may have their TxProfile carried into the next window now.

    Past the window's end an EVSE is on its carried-over TxProfile if it was carried
    (``extended``), else on its fallback (:func:`fallback_w`). One whose limit is at or below
    its fallback is always safe to carry; one above it only while every node above it stays
    within its limit with everything not carried on its fallback. Taken in ascending order of
    the raise, so the CSMS may die after any of them is sent and the next window still holds.
    """
    site = state.site
    totals: dict[str, float] = dict(uncontrolled_w)
    for ev in controlled:
        held = carried_w(ev) if ev.key in extended else fallback_w(ev)
        for node_id in site.ancestors(ev.node_id):
            totals[node_id] = totals.get(node_id, 0.0) + held
    chosen: list[EvseState] = []
    for ev in sorted(candidates, key=lambda e: carried_w(e) - fallback_w(e)):
        raise_w = carried_w(ev) - fallback_w(ev)
        nodes = site.ancestors(ev.node_id)
        if raise_w > 0:
            over = False
            for node_id in nodes:
                node = site.node(node_id)
                if node_id in limits:
                    limit = limits[node_id].max_import_w
                else:
                    limit = node.max_import_w if node is not None else None
                if limit is not None and totals.get(node_id, 0.0) + raise_w > limit + 1e-6:
                    over = True
            if over:
                continue
        for node_id in nodes:
            totals[node_id] = totals.get(node_id, 0.0) + raise_w
        chosen.append(ev)
    return chosen
