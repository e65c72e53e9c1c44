"""One site's planning loop: wait for a reason, then re-plan in named stages (gather, build,
solve, share, order, send) and record the answers. The safe defaults live in
:mod:`csms.planning.defaults`, the sends and renewals in :mod:`csms.planning.sending`, the pure
stages in :mod:`csms.planning.stages`."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from csms.domain import ChargingLimit, Transaction
from csms.events import DepartureMissed, PlanComputed, PlanUpdated
from csms.exceptions import CsmsError
from csms.planning import storage as site_storage
from csms.planning.context import PlanningContext
from csms.planning.defaults import Changes, SafeDefaults
from csms.planning.dispatch import Dispatch, current_w, window_end
from csms.planning.history import BillingPeak, history_window
from csms.planning.lease import record_leases, unit_lease_shares
from csms.planning.problem import Built, build_problem
from csms.planning.quirks import after_rejection
from csms.planning.sending import ProfileSender
from csms.planning.stages import Shares, Window, record_sent, share
from csms.planning.state import EvseState, Lease, SiteState
from csms.planning.swap import RackState, rack_limit, with_planned_racks
from csms.planning.v2x import V2XOrder, charging_view, giving_steps, v2x_orders
from csms.planning.waiting import Waiting
from csms.planning.windows import next_edge, supply_at
from csms.sites.constraints import GridConstraint, NodeLimit, limits_in_force
from csms.storage_units import SiteHooks, StorageController
from csms.store.transient import is_transient
from csms.supervisor import cancel_and_wait
from optimizer import Plan, Planner

__all__ = ["SiteLoop"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Gathered:
    """What a re-plan reads before it builds the problem."""

    now: datetime
    constraints: list[GridConstraint]
    groups: dict[str, str | None]
    past: list[Transaction]
    peak_so_far_w: float


@dataclass(frozen=True, slots=True)
class Orders:
    """A re-plan's sends in the order that makes room before granting it: decreases (and
    idle EVSEs' lower defaults) first, increases once those are answered, raised defaults
    last."""

    down: list[Dispatch]
    lower: Changes
    up: list[Dispatch]
    higher: Changes
    #: swap stations' rack limits (decreases go with the first wave, the rest with the second)
    racks_down: list[tuple[RackState, ChargingLimit]]
    racks_up: list[tuple[RackState, ChargingLimit]]


class SiteLoop:
    """The planning loop of one site; its :attr:`planner` is the optimizer's MPC planner."""

    def __init__(self, ctx: PlanningContext, state: SiteState) -> None:
        self.ctx = ctx
        self.state = state
        self.site_id = state.site.id
        self.planner = Planner(ctx.settings.planner_config())
        self.defaults = SafeDefaults(ctx, state)
        self.sender = ProfileSender(ctx, state, refused=self.trigger, v2x_refused=self._v2x_refused)
        self.wake = asyncio.Event()
        self.urgent = False
        self.reasons: list[str] = []
        self.last_plan: Plan | None = None
        self.last_plan_at: datetime | None = None
        self.last_solve_s: float | None = None
        self.plans = 0
        self.revision = 0  # of the site this loop works from
        self._task: asyncio.Task[None] | None = None
        #: The billing period's peak import as metered at the re-plans (decision 0411).
        self.billing_peak = BillingPeak()
        self._past: tuple[datetime, list[Transaction]] | None = None
        #: The longest a re-plan took lately, in clock seconds (solve and sends).
        self.replan_clock_s = 0.0
        #: Re-plans failed in a row (the next one comes sooner while this is not 0).
        self.failures = 0
        #: The site's constraints as the last re-plan read them (their edges wake the loop).
        self.constraints: list[GridConstraint] = []
        #: The OCPP storage units' controller, from :meth:`start` (decision 0905): it reads
        #: the plan and the metered import, and hands its EV reduction to the sharing (0906).
        self.storage: StorageController | None = None
        #: V2G EVs that refused (or failed) to give power back; each is planned charging
        #: only for the rest of its session (decision 0910).
        self.v2x_refusals = 0
        #: A re-plan is running (its sends included).
        self.replanning = False
        self.waiting = Waiting(ctx, self.wake)

    @property
    def renew_margin_s(self) -> float:
        """Profiles are renewed for the next window within this long of the window's end: at
        least 2 min, and three times what a re-plan takes lately in clock time (on a fast
        clock or a loaded machine a re-plan spans clock minutes; a renewal that lands after
        the window's end leaves some stations on their defaults next to raised ones)."""
        validity = self.ctx.settings.profile_validity_s
        return min(validity / 2, max(min(validity / 3, 120.0), 3.0 * self.replan_clock_s))

    @property
    def idle(self) -> bool:
        """No re-plan running or due before the clock moves (:class:`Waiting`)."""
        return self.waiting.idle

    # -- triggering -----------------------------------------------------------------------
    def trigger(self, reason: str, *, urgent: bool = False) -> None:
        self.reasons.append(reason)
        self.urgent = self.urgent or urgent
        self.wake.set()

    def start(self) -> None:
        self._task = self.ctx.supervisor.run(
            f"planner: site {self.site_id}", self._run, task_name=f"planner:{self.site_id}"
        )
        self.storage = self._storage_controller()
        self.storage.start()

    async def stop(self) -> None:
        if self.storage is not None:
            await self.storage.stop()
        await cancel_and_wait([self._task] if self._task is not None else [])

    def _storage_controller(self) -> StorageController:
        hooks = SiteHooks(
            site=lambda: self.state.site,
            plan=lambda: self.last_plan,
            import_w=self.metered_import_w,
            ev_reduction=self.reduce_evs,
            replan=lambda reason: self.trigger(reason, urgent=True),
            leases=lambda: self.sender.renew_leases(self.storage),
        )
        return site_storage.storage_controller(self.site_id, self.state, hooks, self.ctx)

    def reduce_evs(self, watts: float) -> None:
        """The storage controller's EV reduction (0906): a rise beyond the deadband re-plans
        at once; until that re-plan sends, the sender takes it off the sessions (0927)."""
        before, self.state.ev_reduction_w = self.state.ev_reduction_w, watts
        if watts > before + self.ctx.settings.deadband_w:
            self.trigger("storage shortfall", urgent=True)
        elif watts == 0.0 < before:
            self.trigger("storage shortfall over")
        self.sender.shortfall(watts)

    async def _run(self) -> None:
        clock = self.ctx.clock
        while True:
            await self._wait()
            self.wake.clear()
            reasons, self.reasons, self.urgent = self.reasons or ["timer"], [], False
            began = clock.now()
            self.replanning = True
            try:
                await self.replan(reasons)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(reasons, exc)
            else:
                self.failures = 0
            finally:
                self.replanning = False
            took = (clock.now() - began).total_seconds()
            self.replan_clock_s = max(0.9 * self.replan_clock_s, took)

    async def _wait(self) -> None:
        """Until the timer, a renewal, a window edge or a trigger (a non-urgent one no
        sooner than ``min_replan_gap_s`` after the last plan)."""
        settings, clock = self.ctx.settings, self.ctx.clock
        boundary = window_end(clock.now(), validity_s=settings.profile_validity_s, margin_s=0)
        renew_in = (boundary - clock.now()).total_seconds() - self.renew_margin_s / 2
        if renew_in <= 0:  # late for the renewal: at once if a profile still ends there
            due = self._renewal_due(boundary)
            renew_in = 1.0 if due else renew_in + settings.profile_validity_s
        lapse_s = self.state.pv_plants.lapse_in_s(clock.now(), settings.readings_max_age_s)
        wait_s = min(settings.replan_interval_s, renew_in, lapse_s)  # a PV meter gone silent
        if self.failures:  # the last re-plan failed (the database was down?): again soon
            wait_s = min(wait_s, 2.0 ** min(self.failures - 1, 8))
        edge = next_edge(self.constraints, clock.now())
        at_edge = edge is not None and (edge - clock.now()).total_seconds() <= wait_s
        if edge is not None and at_edge:
            # A window opens or closes: re-plan at its first second (the profiles sent
            # already change there; this takes in arrivals and the new limits' share).
            wait_s = max(0.0, (edge - clock.now()).total_seconds()) + 0.001
        await self.waiting.clock_or_wake(wait_s)
        if not self.wake.is_set() and at_edge and edge is not None and clock.now() >= edge:
            self.reasons.append("window edge")
            self.urgent = True
        if self.wake.is_set() and not self.urgent and self.last_plan_at is not None:
            since = (clock.now() - self.last_plan_at).total_seconds()
            if since < settings.min_replan_gap_s:
                await self.waiting.hold(settings.min_replan_gap_s - since)

    def _failed(self, reasons: list[str], exc: Exception) -> None:
        self.failures += 1
        self.reasons.extend(r for r in reasons if r not in self.reasons)
        if isinstance(exc, CsmsError) or is_transient(exc):
            logger.warning(
                "site %s: re-plan failed (%d in a row; the stations keep their last limits): %s",
                self.site_id,
                self.failures,
                exc,
            )
        else:
            logger.exception("site %s: re-plan failed", self.site_id)

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
        """Gather, build, solve, share, order, send."""
        gathered = await self._gather()
        built = self._build(gathered)
        if not (built.controlled or self.state.racks) or not self.ctx.settings.optimize:
            await self._idle_only(gathered, built)
            return
        plan = await self._solve(gathered, built)
        pv_w = built.pv_w
        supply = site_storage.with_planned_storage(pv_w, plan, self.state.site)
        built = replace(built, pv_w=with_planned_racks(supply, plan, self.state.site))
        limits = limits_in_force(self.state.site, gathered.constraints, gathered.now)
        window = self._window(plan)
        settings = self.ctx.settings
        # every limit is chosen with the V2G EVs counted at what they charge (decision 0910)
        view = charging_view(plan, built.problem)
        shares = share(self.state, view, built, window, limits=limits, settings=settings,
                       giving=giving_steps(plan))  # fmt: skip
        leases: dict[str, Lease] = {}
        if plan.storage:  # the raised limits last as long as each unit's commitment (0930)
            share_of = partial(share, self.state, view, window=window, limits=limits,
                               settings=settings, giving=giving_steps(plan))  # fmt: skip
            shares, leases = unit_lease_shares(self.state, shares, share_of, built, pv_w, plan,
                                               self.storage, window)  # fmt: skip
        logger.info("site %s: plan %s in %.3f s for %d sessions (%s); sending %d limits",
                    self.site_id, plan.status, self.last_solve_s, len(built.controlled),
                    ", ".join(sorted(set(reasons))), len(shares.dispatches))  # fmt: skip
        orders = self._order(plan, shares, window, limits)
        record_leases(self.state, leases)
        v2x = v2x_orders(self.state, plan, shares.dispatches, shares.still, now=window.sent_at,
                         valid_to=window.valid_to, renew_to=window.next_to,
                         settings=settings)  # fmt: skip
        await self._send(orders, v2x)
        sent = tuple((d.evse.station.id, d.evse.evse.id, d.limit_w) for d in shares.dispatches)
        self.ctx.bus.publish(PlanUpdated(self.site_id, gathered.now, plan.status, sent))
        if window.next_to > window.valid_to:
            await self.sender.carry_over(
                built.controlled,
                gathered.constraints,
                built.uncontrolled_w,
                valid_from=window.valid_to,
                valid_to=window.next_to,
                supply=supply_at(built.pv_w, plan.grid),
            )

    async def _gather(self) -> Gathered:
        """Stage 1: the stations' connections and lessons, the constraints (and the safe
        defaults they give), the token groups, the history and the billing peak."""
        ctx = self.ctx
        now = ctx.clock.now()
        self._sync_online()
        self._learn_from_rejections()
        constraints = await ctx.sites.list_constraints(self.site_id)
        self.constraints = constraints
        await self.defaults.refresh(constraints, now)
        groups = await ctx.token_groups(self.state)
        past = await self._history(now) if ctx.settings.expected_arrivals else []
        billed = site_storage.billed_import_w(self.state, ctx.clock.now(), ctx.settings)
        peak = self.billing_peak.update(self.state, now, billed)
        return Gathered(now, constraints, groups, past, peak)

    def _build(self, gathered: Gathered) -> Built:
        """Stage 2: the problem; the departures passed with energy missing are reported."""
        now = gathered.now
        built = build_problem(
            self.state,
            gathered.constraints,
            now=now,
            settings=self.ctx.settings,
            groups=gathered.groups,
            past=gathered.past,
            peak_so_far_w=gathered.peak_so_far_w,
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
            self.ctx.bus.publish(
                DepartureMissed(self.site_id, ev.station.id, ev.evse.id, ev.tx.id, missing_wh, now)
            )
        return built

    async def _idle_only(self, gathered: Gathered, built: Built) -> None:
        """No session to share with: the idle EVSEs' defaults go back up to what the limits
        in force leave them."""
        now = gathered.now
        self.last_plan_at = now
        idle = self.defaults.idle(
            (),
            sent_at=now,
            valid_to=now,
            limits=limits_in_force(self.state.site, gathered.constraints, now),
            uncontrolled_w=built.uncontrolled_w,
            later_limits_w={},
        )
        lower, higher = self.defaults.changes(idle)
        await self.defaults.send_all(lower)
        await self.defaults.send_all(higher)

    async def _solve(self, gathered: Gathered, built: Built) -> Plan:
        """Stage 3: the optimizer in a worker thread (the OCPP path never waits on it)."""
        now = gathered.now
        began = time.perf_counter()
        plan = await asyncio.to_thread(self.planner.plan, built.problem)
        self.last_solve_s = time.perf_counter() - began
        self.last_plan, self.last_plan_at = plan, now
        self.plans += 1
        site = self.state.site
        self.ctx.bus.publish(
            PlanComputed(
                site_id=self.site_id,
                plan_id=f"{self.site_id}@{now.strftime('%Y%m%dT%H%M%S.%fZ')}",
                at=now,
                plan=plan,
                problem=built.problem,
                ancestors={n.id: tuple(site.ancestors(n.id)) for n in site.nodes},
            )
        )
        return plan

    def _window(self, plan: Plan) -> Window:
        """When the limits go out and how long they last. New limits go out within the
        current window; the renewal into the next one is a second pass (the sender's
        ``carry_over``), so that the CSMS dying half-way through either pass leaves no mix of
        states over a limit (decision 0602). Windows count from when the limits go out: the
        solve took clock time too."""
        sent_at = self.ctx.clock.now().replace(microsecond=0)
        valid_to = self._window_end(sent_at, margin_s=1.0)
        next_to = self._window_end(sent_at, margin_s=self.renew_margin_s)
        # Steps into the next window too when this plan renews into it (their periods go
        # out with the renewal, so a window edge there is kept to the second).
        grid = plan.grid
        end = max(valid_to, next_to)
        n_steps = sum(1 for k in range(grid.n_steps) if grid.step_start(k) < end)
        return Window(sent_at, valid_to, next_to, n_steps)

    def _order(
        self, plan: Plan, shares: Shares, window: Window, limits: dict[str, NodeLimit]
    ) -> Orders:
        """Stage 5: record what goes out, hold each idle EVSE to its share of what the
        sessions leave (an EV arriving there draws its default before any re-plan; decision
        0613), and make room before granting it."""
        before = {d.evse.key: current_w(d.evse, window.sent_at) for d in shares.dispatches}
        record_sent(self.state, shares, window)
        idle = self.defaults.idle(
            shares.still,
            sent_at=window.sent_at,
            valid_to=window.valid_to,
            limits=limits,
            uncontrolled_w=shares.uncontrolled_w,
            later_limits_w=shares.later_limits_w,
        )
        lower, higher = self.defaults.changes(idle)
        end = max(window.valid_to, window.next_to)
        racks = [
            (r, rack_limit(r.swap, plan, sent_at=window.sent_at, valid_to=end))
            for r in self.state.racks.values()
        ]
        return Orders(
            down=[d for d in shares.dispatches if d.limit_w < before[d.evse.key]],
            lower=lower,
            up=[d for d in shares.dispatches if d.limit_w >= before[d.evse.key]],
            higher=higher,
            racks_down=[(r, lim) for r, lim in racks if lim.schedule[0][1] < (r.sent_w or 0.0)],
            racks_up=[(r, lim) for r, lim in racks if lim.schedule[0][1] >= (r.sent_w or 0.0)],
        )

    async def _send(self, orders: Orders, v2x: dict[str, V2XOrder]) -> None:
        """Stage 6: decreases first, increases once they are answered; a V2G EV that gives
        power back gets its V2X schedule instead of its TxProfile, with the increases."""
        send, rack = self.sender.send, self.sender.send_rack
        await asyncio.gather(
            *(send(d.evse, d.charging_limit) for d in orders.down if d.evse.key not in v2x),
            *(self.defaults.send_one(ev, w) for ev, w in orders.lower),
            *(rack(r, lim) for r, lim in orders.racks_down),
        )
        await asyncio.gather(
            *(send(d.evse, d.charging_limit) for d in orders.up if d.evse.key not in v2x),
            *(rack(r, lim) for r, lim in orders.racks_up),
            *(self.sender.send_v2x(ev, lim, base) for ev, lim, base in v2x.values()),
        )  # fmt: skip
        await self.defaults.send_all(orders.higher)
        self.sender.cut_w = 0.0  # these limits were shared with the reduction in force (0927)

    def _v2x_refused(self, ev: EvseState, why: str) -> None:
        """A V2G EV refused its V2X schedule: logged, counted, planned charging only from now
        (its charging-only TxProfile goes out at once; every other limit never counted on
        what it would give)."""
        assert ev.tx is not None
        ev.v2x_refused_tx = ev.tx.id
        self.v2x_refusals += 1
        logger.warning(
            "site %s: %s/%d (transaction %d) will not give power back: %s; re-planned "
            "charging only",
            self.site_id, ev.station.id, ev.evse.id, ev.tx.id, why,
        )  # fmt: skip
        self.trigger("v2x refused", urgent=True)

    def metered_import_w(self) -> float:
        """The site's import now from what the CSMS knows (:func:`storage.estimated_import_w`)."""
        return site_storage.estimated_import_w(self.state, self.ctx.clock.now(), self.ctx.settings)

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
                        self.defaults.send(station_id), what=f"planner: defaults to {station_id}"
                    )
            elif not online and st.online:
                st.online, st.defaults_sent = False, False
