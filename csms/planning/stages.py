"""The pure stages of a re-plan (sans-I/O), between the solve and the sends.

A re-plan (:meth:`csms.planning.loop.SiteLoop.replan`) runs in six named stages: *gather*
(constraints, token groups, history, the billing peak), *build* (the problem), *solve* (in
a worker thread), *share* (:func:`share`: the plan's steps shared among the sessions and
chosen against the deadband), *order* (:func:`record_sent`, then decreases before increases)
and *send*. This module holds what *share* and *order* compute; the loop does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from csms.planning.allocate import fair_steps
from csms.planning.config import PlanningSettings
from csms.planning.dispatch import (
    Dispatch,
    allowed_powers_w,
    choose,
    executable_w,
    min_power_w,
    single_period,
    tx_profile,
)
from csms.planning.problem import Built
from csms.planning.state import EvseState, Sent, SiteState
from csms.sites.constraints import NodeLimit
from csms.sites.model import StationQuirks
from optimizer import Plan

__all__ = ["Shares", "Window", "charging", "record_sent", "share"]

#: (start, W) periods after the first, per EVSE key
Periods = dict[str, tuple[tuple[datetime, float], ...]]
#: node id -> (from, W or None) limits after the first step
LaterLimits = dict[str, tuple[tuple[datetime, float | None], ...]]


@dataclass(frozen=True, slots=True)
class Window:
    """When what a re-plan sends applies."""

    #: when the limits go out (whole seconds: the periods then fall on the window edges)
    sent_at: datetime
    #: the end of the TxProfiles sent now (within the current window)
    valid_to: datetime
    #: the end of the renewal into the next window (after ``valid_to``: a second pass)
    next_to: datetime
    #: the plan's steps that start before ``max(valid_to, next_to)``
    n_steps: int


@dataclass(frozen=True, slots=True)
class Shares:
    """The plan's steps shared among the sessions, and the TxProfiles chosen to send."""

    #: the sessions still running (one may have ended during the solve)
    still: tuple[EvseState, ...]
    later: Periods
    later_limits_w: LaterLimits
    #: per node the uncontrolled draw net of the PV counted on now
    uncontrolled_w: dict[str, float]
    dispatches: list[Dispatch]


def charging(ev: EvseState, at: datetime) -> bool:
    """Whether the EVSE's TxProfile for its running transaction lets it charge at ``at``."""
    sent = tx_profile(ev)
    return sent is not None and sent.value_at(at) > 0


def share(
    state: SiteState,
    plan: Plan,
    built: Built,
    window: Window,
    *,
    limits: dict[str, NodeLimit],
    settings: PlanningSettings,
    giving: dict[str, frozenset[int]] | None = None,
) -> Shares:
    """Share the plan's steps (fairly, taper-aware) among the sessions and choose what to
    send: every node kept within its limit at every instant before ``window.valid_to``.
    ``giving``: EVSE key -> the steps its V2G EV gives power back in (no share there)."""
    steps = _fair_steps(state, plan, built, window, settings, giving or {})
    grid = plan.grid
    first = {key: values[0] for key, values in steps.items()}
    later = {
        key: tuple((grid.step_start(k), w) for k, w in enumerate(values) if k > 0)
        for key, values in steps.items()
    }
    later_limits = _later_limits(plan, built.pv_w, window.n_steps)
    still = tuple(ev for ev in built.controlled if ev.tx is not None)
    pv_w = built.pv_w
    uncontrolled = {
        node_id: built.uncontrolled_w.get(node_id, 0.0) - pv_w.get(node_id, (0.0,))[0]
        for node_id in {*built.uncontrolled_w, *pv_w}
    }
    dispatches = choose(
        state,
        first,
        still,
        limits=limits,
        uncontrolled_w=uncontrolled,
        now=window.sent_at,
        deadband_w=settings.deadband_w,
        valid_to=window.valid_to,
        later=later,
        later_limits_w=later_limits,
    )
    return Shares(still, later, later_limits, uncontrolled, dispatches)


def _fair_steps(
    state: SiteState,
    plan: Plan,
    built: Built,
    window: Window,
    settings: PlanningSettings,
    giving: dict[str, frozenset[int]],
) -> dict[str, list[float]]:
    site = state.site

    def quirks(ev: EvseState) -> StationQuirks | None:
        return state.stations[ev.station.id].quirks

    return fair_steps(
        plan,
        built.problem,
        ancestors={n.id: site.ancestors(n.id) for n in site.nodes},
        steps=window.n_steps,
        held={ev.key: 0.0 for ev in built.controlled if single_period(quirks(ev))},
        pv_w=built.pv_w,
        finish_margin_s=settings.finish_margin_s,
        min_w={ev.key: min_power_w(ev, quirks(ev)) for ev in built.controlled},
        charging={ev.key for ev in built.controlled if charging(ev, window.sent_at)},
        hysteresis_s=settings.rotation_hysteresis_s,
        levels_w={
            ev.key: levels
            for ev in built.controlled
            if (levels := allowed_powers_w(ev, quirks(ev))) is not None
        },
        giving=giving,
    )


def _later_limits(plan: Plan, pv_w: dict[str, tuple[float, ...]], n_steps: int) -> LaterLimits:
    """Each node's limit per later step; under a node with PV the EVs may draw its limit
    plus the PV counted on."""
    grid = plan.grid

    def with_pv(node_id: str, k: int, limit: float | None) -> float | None:
        if limit is None or node_id not in pv_w:
            return limit
        return limit + pv_w[node_id][k]

    return {
        node_id: tuple(
            (grid.step_start(k), with_pv(node_id, k, n.max_import_w[k])) for k in range(1, n_steps)
        )
        for node_id, n in plan.nodes.items()
    }


def record_sent(state: SiteState, shares: Shares, window: Window) -> None:
    """Record on each EVSE the TxProfile about to go out: what is sent now (to
    ``valid_to``), then the plan's next window for a renewal."""
    for d in shares.dispatches:
        assert d.evse.tx is not None
        quirks = state.stations[d.evse.station.id].quirks
        beyond = (
            ()
            if single_period(quirks)
            else tuple(
                (at, executable_w(d.evse, w, quirks))
                for at, w in shares.later.get(d.evse.key, ())
                if at >= window.valid_to
            )
        )
        d.evse.sent = Sent(
            d.limit_w,
            "TxProfile",
            window.sent_at,
            valid_to=window.valid_to,
            transaction_id=d.evse.tx.id,
            periods=((window.sent_at, d.limit_w), *d.later, *beyond),
        )
