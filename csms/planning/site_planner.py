"""One site's planning loop: wait for a reason, build the problem, solve it off the event
loop, share the first step, send the TxProfiles, record the answers; the safe defaults and the
per-station quirks at boot."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from csms.domain import ChargingLimit, Transaction
from csms.events import (
    DepartureMissed,
    PlanComputed,
    PlanUpdated,
)
from csms.exceptions import CommandRejected, CsmsError
from csms.planning.allocate import fair_steps
from csms.planning.dispatch import (
    allowed_powers_w,
    carried_w,
    choose,
    current_w,
    executable_w,
    fallback_w,
    make_limit,
    min_power_w,
    single_period,
    window_end,
)
from csms.planning.history import BillingPeak, history_window
from csms.planning.problem import build_problem, default_problem
from csms.planning.quirks import CONFIG_KEYS_16, VARIABLES_201, after_rejection, detected_quirks
from csms.planning.state import EvseState, Sent, SiteState
from csms.planning.view import EvseView, PlanView
from csms.planning.windows import (
    carry_over_timed,
    edges,
    idle_shares,
    next_edge,
    node_limit_at,
    room_left,
)

if TYPE_CHECKING:
    from csms.planning.context import PlanningContext
from csms.sites.constraints import GridConstraint, NodeLimit, limits_in_force
from csms.sites.model import StationQuirks
from csms.store.transient import is_transient
from csms.supervisor import cancel_and_wait
from optimizer import Plan, Planner, PlannerConfig, safe_evse_limits_w

__all__ = ["SitePlanner"]

logger = logging.getLogger(__name__)


def _charging(ev: EvseState, at: datetime) -> bool:
    """Whether the EVSE's TxProfile for its running transaction lets it charge at ``at``."""
    sent, tx = ev.sent, ev.tx
    return (
        sent is not None
        and tx is not None
        and sent.transaction_id == tx.id
        and sent.state in ("accepted", "pending")
        and sent.value_at(at) > 0
    )


class SitePlanner:
    def __init__(self, ctx: PlanningContext, state: SiteState) -> None:
        self.ctx = ctx
        self.state = state
        self.site_id = state.site.id
        self.planner = Planner(
            PlannerConfig(
                backend=ctx.settings.backend,
                time_limit_s=ctx.settings.solver_time_limit_s,
                replan_interval_s=ctx.settings.replan_interval_s,
            )
        )
        self.wake = asyncio.Event()
        self.urgent = False
        self.reasons: list[str] = []
        self.last_plan: Plan | None = None
        self.last_plan_at: datetime | None = None
        self.last_solve_s: float | None = None
        self.plans = 0
        self.revision = 0  # of the site this planner works from
        self.defaults_w: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._sem = asyncio.Semaphore(ctx.settings.max_parallel_sends)
        #: The billing period's peak import as metered at the re-plans (decision 0411).
        self.billing_peak = BillingPeak()
        self._past: tuple[datetime, list[Transaction]] | None = None
        #: The longest a re-plan took lately, in clock seconds (solve and sends).
        self.replan_clock_s = 0.0
        #: Re-plans failed in a row (the next one comes sooner while this is not 0).
        self.failures = 0
        #: The site's constraints as the last re-plan read them (their edges wake the loop).
        self.constraints: list[GridConstraint] = []
        #: Idle EVSEs' share of what the sessions leave under every node (W): their
        #: TxDefaultProfile is held to it, so an EV arriving there fits (decision 0613).
        self.idle_caps_w: dict[str, float] = {}

    @property
    def renew_margin_s(self) -> float:
        """Profiles are renewed for the next window within this long of the window's end: at
        least 2 min, and three times what a re-plan takes lately in clock time (on a fast
        clock or a loaded machine a re-plan spans clock minutes; a renewal that lands after
        the window's end leaves some stations on their defaults next to raised ones)."""
        validity = self.ctx.settings.profile_validity_s
        return min(validity / 2, max(min(validity / 3, 120.0), 3.0 * self.replan_clock_s))

    # -- triggering -----------------------------------------------------------------------
    def trigger(self, reason: str, *, urgent: bool = False) -> None:
        self.reasons.append(reason)
        self.urgent = self.urgent or urgent
        self.wake.set()

    def start(self) -> None:
        self._task = self.ctx.supervisor.run(
            f"planner: site {self.site_id}", self._run, task_name=f"planner:{self.site_id}"
        )

    async def stop(self) -> None:
        await cancel_and_wait([t for t in (self._task, *self._sends) if t is not None])

    async def _run(self) -> None:
        settings = self.ctx.settings
        clock = self.ctx.clock
        while True:
            boundary = window_end(clock.now(), validity_s=settings.profile_validity_s, margin_s=0)
            renew_in = (boundary - clock.now()).total_seconds() - self.renew_margin_s / 2
            if renew_in <= 0:  # late for the renewal: at once if a profile still ends there
                renew_in = (
                    1.0 if self._renewal_due(boundary) else renew_in + settings.profile_validity_s
                )
            wait_s = min(settings.replan_interval_s, renew_in)
            if self.failures:  # the last re-plan failed (the database was down?): again soon
                wait_s = min(wait_s, 2.0 ** min(self.failures - 1, 8))
            edge = next_edge(self.constraints, clock.now())
            at_edge = edge is not None and (edge - clock.now()).total_seconds() <= wait_s
            if edge is not None and at_edge:
                # A window opens or closes: re-plan at its first second (the profiles sent
                # already change there; this takes in arrivals and the new limits' share).
                wait_s = max(0.0, (edge - clock.now()).total_seconds()) + 0.001
            sleeper = asyncio.ensure_future(clock.sleep(wait_s))
            waiter = asyncio.ensure_future(self.wake.wait())
            try:
                await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waiter.cancel()
            if not self.wake.is_set() and at_edge and edge is not None and clock.now() >= edge:
                self.reasons.append("window edge")
                self.urgent = True
            if self.wake.is_set() and not self.urgent and self.last_plan_at is not None:
                since = (clock.now() - self.last_plan_at).total_seconds()
                if since < settings.min_replan_gap_s:
                    await clock.sleep(settings.min_replan_gap_s - since)
            self.wake.clear()
            reasons, self.reasons, self.urgent = self.reasons or ["timer"], [], False
            began = clock.now()
            try:
                await self.replan(reasons)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                self.reasons.extend(r for r in reasons if r not in self.reasons)
                if isinstance(exc, CsmsError) or is_transient(exc):
                    logger.warning(
                        "site %s: re-plan failed (%d in a row; the stations keep their "
                        "last limits): %s",
                        self.site_id,
                        self.failures,
                        exc,
                    )
                else:
                    logger.exception("site %s: re-plan failed", self.site_id)
            else:
                self.failures = 0
            took = (clock.now() - began).total_seconds()
            self.replan_clock_s = max(0.9 * self.replan_clock_s, took)

    def _window_end(self, now: datetime, *, margin_s: float) -> datetime:
        """When TxProfiles sent now end: a window boundary (the next one, or the one after
        within ``margin_s`` of it), ``profile_windows`` - 1 windows further on; the same for
        every station."""
        settings = self.ctx.settings
        end = window_end(now, validity_s=settings.profile_validity_s, margin_s=margin_s)
        return end + timedelta(seconds=settings.profile_validity_s * (settings.profile_windows - 1))

    def _renewal_due(self, boundary: datetime) -> bool:
        return any(
            ev.tx is not None
            and ev.sent is not None
            and ev.sent.valid_to is not None
            and ev.sent.valid_to <= boundary
            and ev.sent.transaction_id == ev.tx.id
            and self.state.controllable(ev)
            for ev in self.state.evses.values()
        )

    # -- planning -------------------------------------------------------------------------
    async def replan(self, reasons: list[str]) -> None:
        ctx = self.ctx
        now = ctx.clock.now()
        self._sync_online()
        self._learn_from_rejections()
        constraints = await ctx.sites.list_constraints(self.site_id)
        self.constraints = constraints
        await self._refresh_defaults(constraints, now)
        groups = await ctx.token_groups(self.state)
        past = await self._history(now) if ctx.settings.expected_arrivals else []
        peak = self.billing_peak.update(self.state, now, self._import_w())
        built = build_problem(
            self.state,
            constraints,
            now=now,
            settings=ctx.settings,
            groups=groups,
            past=past,
            peak_so_far_w=peak,
        )
        for ev, missing_wh in built.missed:
            ev.missed_reported = True
            assert ev.tx is not None
            logger.warning(
                "site %s: %s/%d departed (planned) with %.0f Wh missing",
                self.site_id,
                ev.station.id,
                ev.evse.id,
                missing_wh,
            )
            ctx.bus.publish(
                DepartureMissed(self.site_id, ev.station.id, ev.evse.id, ev.tx.id, missing_wh, now)
            )
        if not built.controlled or not ctx.settings.optimize:
            self.last_plan_at = now
            # No session to share with: the idle EVSEs' defaults go back up to what the
            # limits in force leave them.
            idle = self._idle_defaults(
                (),
                sent_at=now,
                valid_to=now,
                limits=limits_in_force(self.state.site, constraints, now),
                uncontrolled_w=built.uncontrolled_w,
                later_limits_w={},
            )
            lower, higher = self._idle_changes(idle)
            await asyncio.gather(*(self._send_default(ev, w) for ev, w in lower))
            await asyncio.gather(*(self._send_default(ev, w) for ev, w in higher))
            return
        began = time.perf_counter()
        plan = await asyncio.to_thread(self.planner.plan, built.problem)
        self.last_solve_s = time.perf_counter() - began
        self.last_plan, self.last_plan_at = plan, now
        self.plans += 1
        limits = limits_in_force(self.state.site, constraints, now)
        site = self.state.site
        ctx.bus.publish(
            PlanComputed(
                site_id=self.site_id,
                plan_id=f"{self.site_id}@{now.strftime('%Y%m%dT%H%M%S.%fZ')}",
                at=now,
                plan=plan,
                problem=built.problem,
                ancestors={n.id: tuple(site.ancestors(n.id)) for n in site.nodes},
            )
        )
        # New limits go out within the current window; the renewal into the next one is a
        # second pass (:meth:`_carry_over`), so that the CSMS dying half-way through either
        # pass leaves no mix of states over a limit (decision 0602).
        # Windows count from when the limits go out: the solve took clock time too.
        # Whole seconds: the periods' offsets then fall exactly on the window edges.
        sent_at = ctx.clock.now().replace(microsecond=0)
        valid_to = self._window_end(sent_at, margin_s=1.0)
        next_to = self._window_end(sent_at, margin_s=self.renew_margin_s)
        grid = plan.grid
        # Steps into the next window too when this plan renews into it (their periods go
        # out with the renewal, so a window edge there is kept to the second).
        n_steps = sum(1 for k in range(grid.n_steps) if grid.step_start(k) < max(valid_to, next_to))
        held = {
            ev.key: 0.0
            for ev in built.controlled
            if single_period(self.state.stations[ev.station.id].quirks)
        }
        steps = fair_steps(
            plan,
            built.problem,
            ancestors={n.id: site.ancestors(n.id) for n in site.nodes},
            steps=n_steps,
            held=held,
            pv_w=built.pv_w,
            finish_margin_s=ctx.settings.finish_margin_s,
            min_w={
                ev.key: min_power_w(ev, self.state.stations[ev.station.id].quirks)
                for ev in built.controlled
            },
            charging={ev.key for ev in built.controlled if _charging(ev, sent_at)},
            hysteresis_s=ctx.settings.rotation_hysteresis_s,
            levels_w={
                ev.key: levels
                for ev in built.controlled
                if (levels := allowed_powers_w(ev, self.state.stations[ev.station.id].quirks))
                is not None
            },
        )
        first = {key: values[0] for key, values in steps.items()}
        later = {
            key: tuple((grid.step_start(k), w) for k, w in enumerate(values) if k > 0)
            for key, values in steps.items()
        }
        # Under a node with PV the EVs may draw its limit plus the PV counted on.
        pv_w = built.pv_w

        def with_pv(node_id: str, k: int, limit: float | None) -> float | None:
            if limit is None or node_id not in pv_w:
                return limit
            return limit + pv_w[node_id][k]

        later_limits = {
            node_id: tuple(
                (grid.step_start(k), with_pv(node_id, k, n.max_import_w[k]))
                for k in range(1, n_steps)
            )
            for node_id, n in plan.nodes.items()
        }
        # A session may have ended during the solve: leave it out.
        still = tuple(ev for ev in built.controlled if ev.tx is not None)
        choose_uncontrolled = {
            node_id: built.uncontrolled_w.get(node_id, 0.0) - pv_w.get(node_id, (0.0,))[0]
            for node_id in {*built.uncontrolled_w, *pv_w}
        }
        dispatches = choose(
            self.state,
            first,
            still,
            limits=limits,
            uncontrolled_w=choose_uncontrolled,
            now=sent_at,
            deadband_w=ctx.settings.deadband_w,
            valid_to=valid_to,
            later=later,
            later_limits_w=later_limits,
        )
        logger.info(
            "site %s: plan %s in %.3f s for %d sessions (%s); sending %d limits",
            self.site_id,
            plan.status,
            self.last_solve_s,
            len(built.controlled),
            ", ".join(sorted(set(reasons))),
            len(dispatches),
        )
        # Make room before granting it: decreases first, increases once they are answered.
        before = {d.evse.key: current_w(d.evse, sent_at) for d in dispatches}
        for d in dispatches:
            assert d.evse.tx is not None
            quirks = self.state.stations[d.evse.station.id].quirks
            beyond = (
                ()
                if single_period(quirks)
                else tuple(
                    (at, executable_w(d.evse, w, quirks))
                    for at, w in later.get(d.evse.key, ())
                    if at >= valid_to
                )
            )
            d.evse.sent = Sent(
                d.limit_w,
                "TxProfile",
                sent_at,
                valid_to=valid_to,
                transaction_id=d.evse.tx.id,
                # What is sent now (to valid_to), then the plan's next window for a renewal.
                periods=((sent_at, d.limit_w), *d.later, *beyond),
            )
        # An EV arriving at an idle EVSE draws its TxDefaultProfile before any re-plan:
        # hold each idle EVSE to its share of what the sessions leave (decision 0613).
        idle = self._idle_defaults(
            still,
            sent_at=sent_at,
            valid_to=valid_to,
            limits=limits,
            uncontrolled_w=choose_uncontrolled,
            later_limits_w=later_limits,
        )
        lower, higher = self._idle_changes(idle)
        down = [d for d in dispatches if d.limit_w < before[d.evse.key]]
        up = [d for d in dispatches if d.limit_w >= before[d.evse.key]]
        await asyncio.gather(
            *(self._send(d.evse, d.charging_limit) for d in down),
            *(self._send_default(ev, w) for ev, w in lower),
        )
        await asyncio.gather(*(self._send(d.evse, d.charging_limit) for d in up))
        await asyncio.gather(*(self._send_default(ev, w) for ev, w in higher))
        ctx.bus.publish(
            PlanUpdated(
                self.site_id,
                now,
                plan.status,
                tuple((d.evse.station.id, d.evse.evse.id, d.limit_w) for d in dispatches),
            )
        )
        if next_to > valid_to:
            await self._carry_over(
                built.controlled,
                constraints,
                built.uncontrolled_w,
                valid_from=valid_to,
                valid_to=next_to,
            )

    def _import_w(self) -> float:
        """The site's import as last metered: its EVs, plus what storage reports charging."""
        evs = sum(max(0.0, ev.power_w) for ev in self.state.evses.values() if ev.tx is not None)
        storage = sum(max(0.0, r.power_w) for r in self.state.storage.values())
        return evs + storage

    async def _history(self, now: datetime) -> list[Transaction]:
        """The site's transactions of the same weekday a week ago (read once a day)."""
        since, until = history_window(self.state, now)
        if self._past is None or self._past[0] != since:
            stations = set(self.state.stations)
            try:
                found = await self.ctx.store.list_transactions(
                    since=since, until=until, limit=100_000
                )
            except Exception:  # the plan goes on without history; read again next time
                logger.warning(
                    "site %s: planning without session history this time",
                    self.site_id,
                    exc_info=True,
                )
                return []
            self._past = (since, [tx for tx in found if tx.station_id in stations])
        return self._past[1]

    async def _carry_over(
        self,
        controlled: tuple[EvseState, ...],
        constraints: list[GridConstraint],
        uncontrolled_w: dict[str, float],
        *,
        valid_from: datetime,
        valid_to: datetime,
    ) -> None:
        """Renew the accepted TxProfiles into the next window ``[valid_from, valid_to)``:
        first those at or below their EVSE's fallback, then, once those are answered, the
        raises that still fit every node at every instant of that window (its window
        edges too) with whatever was not carried on its fallback and the idle EVSEs on
        their defaults."""

        def renewable(ev: EvseState) -> bool:
            sent, tx = ev.sent, ev.tx
            return (
                sent is not None
                and tx is not None
                and sent.state == "accepted"
                and sent.transaction_id == tx.id
                and sent.valid_to is not None
                and sent.valid_to < valid_to
            )

        def carried(ev: EvseState) -> bool:
            sent = ev.sent
            return sent is not None and sent.state == "accepted" and sent.valid_to == valid_to

        candidates = [ev for ev in controlled if renewable(ev)]
        if not candidates:
            return
        lows = [ev for ev in candidates if carried_w(ev) <= fallback_w(ev)]
        await self._renew(lows, valid_to=valid_to)
        site = self.state.site
        extended = {ev.key for ev in controlled if carried(ev)}
        base_w = dict(uncontrolled_w)
        for ev in self.state.evses.values():
            if ev.tx is None and self.state.controllable(ev):
                for node_id in site.ancestors(ev.node_id):
                    base_w[node_id] = base_w.get(node_id, 0.0) + fallback_w(ev)
        instants = {valid_from, *edges(constraints, valid_from, valid_to)}
        for ev in controlled:
            if ev.sent is not None:
                instants.update(at for at, _ in ev.sent.periods if valid_from < at < valid_to)
        by_instant = {at: limits_in_force(site, constraints, at) for at in instants}

        def limit_at(node_id: str, at: datetime) -> float | None:
            limit = by_instant[at].get(node_id)
            return limit.max_import_w if limit is not None else None

        raises = carry_over_timed(
            site,
            [ev for ev in candidates if renewable(ev) and not carried(ev)],
            extended,
            controlled,
            instants=sorted(instants),
            limit_at=limit_at,
            base_w=base_w,
        )
        await self._renew(raises, valid_to=valid_to)

    # -- idle EVSEs' defaults ---------------------------------------------------------------
    def _idle_defaults(
        self,
        controlled: tuple[EvseState, ...],
        *,
        sent_at: datetime,
        valid_to: datetime,
        limits: dict[str, NodeLimit],
        uncontrolled_w: dict[str, float],
        later_limits_w: dict[str, tuple[tuple[datetime, float | None], ...]],
    ) -> dict[str, float]:
        """The TxDefaultProfile limit (W) each idle EVSE (no session, steerable) should
        have: its safe default, held to its share of the least room the sessions' schedules
        leave under every node above it, at any instant before ``valid_to``."""
        site = self.state.site
        idle = {
            ev.key: ev.node_id
            for ev in self.state.evses.values()
            if ev.tx is None and self.state.controllable(ev)
        }
        if not idle:
            self.idle_caps_w = {}
            return {}
        instants = {sent_at}
        for ev in controlled:
            if ev.sent is not None:
                instants.update(at for at, _ in ev.sent.periods if sent_at < at < valid_to)
        for steps in later_limits_w.values():
            instants.update(at for at, _ in steps if sent_at < at < valid_to)
        under = {
            node.id: [ev for ev in controlled if node.id in site.ancestors(ev.node_id)]
            for node in site.nodes
        }

        def limit_at(node_id: str, at: datetime) -> float | None:
            return node_limit_at(
                site,
                node_id,
                at,
                now=sent_at,
                limits=limits,
                uncontrolled_w=uncontrolled_w,
                later_limits_w=later_limits_w,
            )

        room = room_left(
            site,
            sorted(instants),
            limit_at=limit_at,
            drawn_at=lambda node_id, at: sum(current_w(ev, at) for ev in under[node_id]),
        )
        # Whole deadbands (rounded down): the room moves a little at every re-plan, the
        # idle EVSEs' defaults only when it crosses a step.
        step_w = self.ctx.settings.deadband_w
        self.idle_caps_w = {
            key: math.floor(share / step_w + 1e-9) * step_w if step_w > 0 else share
            for key, share in idle_shares(site, idle=idle, headroom_w=room).items()
        }
        by_key = {ev.key: ev for ev in self.state.evses.values()}
        out: dict[str, float] = {}
        for key, share in self.idle_caps_w.items():
            ev = by_key[key]
            quirks = self.state.stations[ev.station.id].quirks
            out[key] = executable_w(ev, min(share, self.defaults_w.get(key, share)), quirks)
        for key in idle.keys() - out.keys():  # under no limited node: the safe default
            if key in self.defaults_w:
                ev = by_key[key]
                quirks = self.state.stations[ev.station.id].quirks
                out[key] = executable_w(ev, self.defaults_w[key], quirks)
        return out

    def _idle_changes(
        self, wanted: dict[str, float]
    ) -> tuple[list[tuple[EvseState, float]], list[tuple[EvseState, float]]]:
        """(defaults to lower, defaults to raise) among ``wanted``: any decrease, an increase
        only past the deadband; only to stations that have their defaults already."""
        settings = self.ctx.settings
        lower: list[tuple[EvseState, float]] = []
        higher: list[tuple[EvseState, float]] = []
        if not settings.default_profiles:
            return lower, higher
        by_key = {ev.key: ev for ev in self.state.evses.values()}
        for key, value in wanted.items():
            ev = by_key[key]
            st = self.state.stations[ev.station.id]
            if not (st.online and st.defaults_sent):
                continue
            current = ev.default_w
            if current is None or value < current - 1e-6:
                lower.append((ev, value))
            elif value > current + settings.deadband_w:
                higher.append((ev, value))
        return lower, higher

    def _default_for(self, ev: EvseState, quirks: StationQuirks | None) -> float:
        """What an EVSE's TxDefaultProfile allows: the safe share, and for an idle EVSE no
        more than its share of the room the sessions leave."""
        value = self.defaults_w.get(ev.key, 0.0)
        if ev.tx is None and ev.key in self.idle_caps_w:
            value = min(value, self.idle_caps_w[ev.key])
        return executable_w(ev, value, quirks)

    async def _send_default(self, ev: EvseState, value: float) -> bool:
        """One EVSE's TxDefaultProfile; True once the station accepted it."""
        ctx = self.ctx
        quirks = self.state.stations[ev.station.id].quirks
        limit = make_limit(
            ev, value, quirks, purpose="TxDefaultProfile", now=ctx.clock.now(), valid_to=None
        )
        try:
            async with asyncio.timeout(ctx.settings.send_timeout_s):
                await ctx.commands.set_charging_profile(limit)
        except (CsmsError, TimeoutError) as exc:
            logger.warning("site %s: default profile to %s: %s", self.site_id, ev.key, exc)
            return False
        ev.default_w = value
        ev.confirmed_w, ev.confirmed_at = value, ctx.clock.now()
        return True

    async def _renew(self, evs: list[EvseState], *, valid_to: datetime) -> None:
        """Send each EVSE its current TxProfile schedule again, lasting until ``valid_to``."""
        now = self.ctx.clock.now()
        sends = []
        for ev in evs:
            sent = ev.sent
            assert sent is not None and ev.tx is not None
            quirks = self.state.stations[ev.station.id].quirks
            value = sent.value_at(now)  # the same schedule from now on, to the new end
            later = tuple((at, w) for at, w in sent.periods if at > now)
            limit = make_limit(
                ev, value, quirks, purpose="TxProfile", now=now, valid_to=valid_to, later=later
            )
            ev.sent = Sent(
                value,
                "TxProfile",
                now,
                valid_to=valid_to,
                transaction_id=ev.tx.id,
                periods=((now, value), *later),
            )
            sends.append(self._send(ev, limit))
        await asyncio.gather(*sends)

    async def _send(self, ev: EvseState, limit: ChargingLimit) -> None:
        ctx = self.ctx
        sent = ev.sent
        async with self._sem:
            try:
                async with asyncio.timeout(ctx.settings.send_timeout_s):
                    await ctx.commands.set_charging_profile(limit)
            except CommandRejected as exc:
                state = "rejected"
                logger.warning("site %s: %s", self.site_id, exc)
            except (CsmsError, TimeoutError) as exc:
                state = "failed"
                logger.warning("site %s: profile to %s failed: %s", self.site_id, ev.key, exc)
            else:
                state = "accepted"
        if sent is not None and ev.sent is sent:
            sent.state = state  # type: ignore[assignment]
            if state == "accepted":
                ev.confirmed_w, ev.confirmed_at = sent.limit_w, ctx.clock.now()
                if sent.transaction_id is not None:
                    ev.accepted_tx = (sent.transaction_id, sent.limit_w)
                    ev.accepted_sent = sent
            else:
                if state == "rejected":
                    ev.rejected_tx = sent.transaction_id
                self.trigger(f"profile {state}")

    def _learn_from_rejections(self) -> None:
        """A TxProfile rejected while its transaction still runs says the station wants the
        other rate unit; one rejected because the transaction had just ended says nothing."""
        for ev in self.state.evses.values():
            rejected, ev.rejected_tx = ev.rejected_tx, None
            if rejected is None or ev.tx is None or ev.tx.id != rejected:
                continue
            st = self.state.stations[ev.station.id]
            configured = self.state.site.quirks_for(ev.station)
            st.quirks = after_rejection(st.quirks, configured)
            st.learned["rejections"] = int(str(st.learned.get("rejections", 0))) + 1

    def _sync_online(self) -> None:
        """Trust the connections over the events seen (one may have raced a restart)."""
        for station_id, st in self.state.stations.items():
            online = self.ctx.commands.is_online(station_id)
            if online and not st.online:
                st.online = st.seen = True
                if not st.defaults_sent:
                    self.ctx.spawn(
                        self.send_defaults(station_id), what=f"planner: defaults to {station_id}"
                    )
            elif not online and st.online:
                st.online, st.defaults_sent = False, False

    # -- safe defaults --------------------------------------------------------------------
    async def _refresh_defaults(self, constraints: list[GridConstraint], now: datetime) -> None:
        problem = default_problem(self.state.site, constraints, now=now)
        safe = await asyncio.to_thread(safe_evse_limits_w, problem) if problem.evses else {}
        changed = {
            key
            for key, value in safe.items()
            if abs(value - self.defaults_w.get(key, -1e9)) > self.ctx.settings.deadband_w
            or value < self.defaults_w.get(key, value)
        }
        self.defaults_w = safe
        if changed:
            stations = {ev.station.id for ev in self.state.evses.values() if ev.key in changed}
            for station_id in stations:
                st = self.state.stations[station_id]
                if st.online and st.defaults_sent:
                    await self.send_defaults(station_id)

    async def send_defaults(self, station_id: str) -> None:
        """TxDefaultProfile per EVSE: the safe share of every limit above it."""
        ctx = self.ctx
        if not ctx.settings.default_profiles:
            return
        st = self.state.stations.get(station_id)
        if st is None:
            return
        if not self.defaults_w:
            constraints = await ctx.sites.list_constraints(self.site_id)
            problem = default_problem(self.state.site, constraints, now=ctx.clock.now())
            if problem.evses:
                self.defaults_w = await asyncio.to_thread(safe_evse_limits_w, problem)
        st.defaults_sent = True
        await self._detect_quirks(station_id)
        for ev in [e for e in self.state.evses.values() if e.station.id == station_id]:
            await self._send_default(ev, self._default_for(ev, st.quirks))

    async def _detect_quirks(self, station_id: str) -> None:
        """Ask the station what it supports (best effort; the site file's quirks win)."""
        ctx = self.ctx
        st = self.state.stations[station_id]
        configured = self.state.site.quirks_for(st.station)
        values: dict[str, str | None] = {}
        try:
            if (st.ocpp_version or "").endswith("1.6"):
                async with asyncio.timeout(ctx.settings.send_timeout_s):
                    found = await ctx.commands.get_configuration(station_id, CONFIG_KEYS_16)
            else:
                async with asyncio.timeout(ctx.settings.send_timeout_s):
                    found = await ctx.commands.get_variables(station_id, VARIABLES_201)
        except (CsmsError, TimeoutError) as exc:
            logger.info(
                "site %s: %s reports no smart-charging settings: %s", self.site_id, station_id, exc
            )
            return
        for item in found:
            values[item.variable] = item.value
        st.quirks = detected_quirks(st.station.model, values, configured)
        st.learned.update({k: v for k, v in values.items() if v is not None})

    # -- views ----------------------------------------------------------------------------
    def view(self) -> PlanView:
        plan = self.last_plan
        binding: dict[str, str | None] = {}
        if plan is not None:
            binding = {node_id: n.binding[0] for node_id, n in plan.nodes.items()}
        rows = []
        for ev in self.state.evses.values():
            rows.append(
                EvseView(
                    station_id=ev.station.id,
                    evse_id=ev.evse.id,
                    online=self.state.stations[ev.station.id].online,
                    transaction_id=ev.tx.id if ev.tx is not None else None,
                    planned_w=ev.planned_w,
                    sent_w=ev.sent.limit_w if ev.sent is not None else None,
                    ack=ev.sent.state if ev.sent is not None else None,
                    confirmed_w=ev.confirmed_w,
                    default_w=ev.default_w,
                    measured_w=ev.power_w,
                    non_compliant=ev.non_compliant,
                )
            )
        return PlanView(
            self.site_id,
            self.last_plan_at,
            plan.status if plan is not None else None,
            self.last_solve_s,
            tuple(rows),
            binding,
            self.state.non_compliance_count,
        )
