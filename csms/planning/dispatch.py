"""From a plan to the limits to send (sans-I/O): per-station quirks, the deadband, and the
decreases a node needs that the deadband must not hold back."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from csms.domain import ChargingLimit, ChargingRateUnit
from csms.planning.state import EvseState, SiteState
from csms.sites.constraints import NodeLimit
from csms.sites.model import StationQuirks

__all__ = [
    "Dispatch",
    "carry_over",
    "choose",
    "current_w",
    "executable_w",
    "fallback_w",
    "make_limit",
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
    limit_w: float  # what the station will allow, after quirks
    charging_limit: ChargingLimit
    forced: bool  # a decrease a node needed, sent despite the deadband


def _unit(quirks: StationQuirks | None) -> ChargingRateUnit:
    if quirks is not None and quirks.unit == "W":
        return ChargingRateUnit.WATT
    return ChargingRateUnit.AMPERE


def executable_w(ev: EvseState, limit_w: float, quirks: StationQuirks | None) -> float:
    """The power the station will actually allow for ``limit_w``: amps rounded down to 0.1 A,
    and zero below the model's minimum current."""
    phases = ev.evse.n_phases
    volts = ev.evse.voltage_v
    if _unit(quirks) is ChargingRateUnit.WATT:
        return float(math.floor(max(0.0, limit_w)))
    amps = math.floor(max(0.0, limit_w) / (volts * phases) * 10 + 1e-9) / 10
    min_a = quirks.min_current_a if quirks is not None else None
    if min_a is not None and 0 < amps < min_a:
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
) -> ChargingLimit:
    unit = _unit(quirks)
    phases = ev.evse.n_phases
    value: float
    if unit is ChargingRateUnit.WATT:
        value = math.floor(limit_w + 1e-9)  # an int: some 1.6 stacks reject decimals
    else:
        value = math.floor(limit_w / (ev.evse.voltage_v * phases) * 10 + 1e-9) / 10
    stack = 1 if purpose == "TxProfile" else 0
    if quirks is not None and quirks.max_stack_level is not None:
        stack = min(stack, quirks.max_stack_level)
    tx = purpose == "TxProfile"
    return ChargingLimit(
        station_id=ev.station.id,
        evse_id=ev.evse.id,
        unit=unit,
        schedule=((0, value, phases),),
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
    """What the EVSE may draw now as far as the planner knows: its TxProfile limit while that
    lasts (accepted or still unanswered), else its fallback."""
    sent, tx = ev.sent, ev.tx
    if (
        sent is not None
        and tx is not None
        and sent.transaction_id == tx.id
        and sent.state in ("accepted", "pending")
        and (now is None or sent.valid_to is None or sent.valid_to > now)
    ):
        return sent.limit_w
    return fallback_w(ev)


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
) -> list[Dispatch]:
    """The TxProfiles to send for the plan's first step (EVSE id -> W)."""
    site = state.site
    targets: dict[str, float] = {}
    wanted: dict[str, bool] = {}
    for ev in controlled:
        quirks = state.stations[ev.station.id].quirks
        first = first_step.get(ev.key, 0.0)
        target = executable_w(ev, first, quirks)
        ev.planned_w = target
        targets[ev.key] = target
        sent = ev.sent
        fresh = sent is None or ev.tx is None or sent.transaction_id != ev.tx.id
        expiring = sent is not None and sent.valid_to is not None and sent.valid_to < valid_to
        retry = sent is not None and sent.state in ("rejected", "failed")
        wanted[ev.key] = fresh or expiring or retry or abs(target - current_w(ev, now)) > deadband_w
    # A node over its limit with the held-back values: send its held-back decreases too.
    forced: set[str] = set()
    for node in site.nodes:
        limit = limits[node.id].max_import_w if node.id in limits else node.max_import_w
        if limit is None:
            continue
        under = [ev for ev in controlled if node.id in site.ancestors(ev.node_id)]
        total = uncontrolled_w.get(node.id, 0.0) + sum(
            targets[ev.key] if wanted[ev.key] else current_w(ev, now) for ev in under
        )
        if total > limit + 1e-6:
            for ev in under:
                if not wanted[ev.key] and targets[ev.key] < current_w(ev, now):
                    forced.add(ev.key)
    out: list[Dispatch] = []
    for ev in controlled:
        if not (wanted[ev.key] or ev.key in forced):
            continue
        quirks = state.stations[ev.station.id].quirks
        profile = make_limit(
            ev, targets[ev.key], quirks, purpose="TxProfile", now=now, valid_to=valid_to
        )
        out.append(Dispatch(ev, targets[ev.key], profile, ev.key in forced))
    return out


def fallback_w(ev: EvseState) -> float:
    """What an EVSE may draw once its TxProfile has ended: its confirmed safe default, else
    its rating."""
    if ev.default_w is not None:
        return ev.default_w
    rated = ev.evse.max_power_w
    if ev.station.max_power_w is not None:
        rated = min(rated, ev.station.max_power_w)
    return rated


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
        held = current_w(ev) if ev.key in extended else fallback_w(ev)
        for node_id in site.ancestors(ev.node_id):
            totals[node_id] = totals.get(node_id, 0.0) + held
    chosen: list[EvseState] = []
    for ev in sorted(candidates, key=lambda e: current_w(e) - fallback_w(e)):
        raise_w = current_w(ev) - fallback_w(ev)
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
