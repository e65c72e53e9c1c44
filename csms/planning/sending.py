"""Sending a site's TxProfiles and recording the answers; renewing the accepted ones into the
next window in a second pass that stays safe if the CSMS dies half-way (decision 0602), a V2G
EV's with the giving its plan recorded (decision 0920)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from csms.domain import ChargingLimit
from csms.exceptions import CommandFailed, CommandRejected, CsmsError
from csms.planning.context import PlanningContext
from csms.planning.dispatch import carried_w, fallback_w, make_limit, tx_profile
from csms.planning.state import EvseState, Sent, SiteState
from csms.planning.swap import RackState
from csms.planning.under import add_under
from csms.planning.unit_lease import resend_periods, unit_commits
from csms.planning.v2x import renewal_v2x
from csms.planning.windows import carry_over_timed, edges
from csms.sites.constraints import GridConstraint, limits_in_force
from csms.storage_units import StorageController

__all__ = ["ProfileSender", "why_failed"]

logger = logging.getLogger(__name__)


def why_failed(exc: Exception, timeout_s: float) -> str:
    """What a call to a station ran into (a ``timeout_s`` passing says nothing itself)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    return str(exc) or type(exc).__name__


class ProfileSender:
    """One site's TxProfiles to its stations, at most ``max_parallel_sends`` at a time."""

    def __init__(
        self,
        ctx: PlanningContext,
        state: SiteState,
        *,
        refused: Callable[[str], None],
        v2x_refused: Callable[[EvseState, str], None],
    ) -> None:
        self.ctx = ctx
        self.state = state
        self.site_id = state.site.id
        #: Called with a reason ("profile rejected", "profile failed") to re-plan soon.
        self._refused = refused
        #: Called with a V2G EV whose station refused its V2X schedule (or it failed).
        self._v2x_refused = v2x_refused
        self._sem = asyncio.Semaphore(ctx.settings.max_parallel_sends)
        #: Leased TxProfiles sent by the units' commitments, by why (``withdraw``,
        #: ``restore``, ``renew``; decision 0930).
        self.lease_sends: Counter[str] = Counter()
        #: The same per unit whose lent part the resent profile carries: (unit, why).
        self.unit_lease_sends: Counter[tuple[str, str]] = Counter()
        #: The EV reduction taken off the sessions at once since the last re-plan's sends
        #: (decision 0927; the loop resets it when those sends are out).
        self.cut_w = 0.0
        #: Cuts made (counted since the start).
        self.cuts = 0

    async def send(self, ev: EvseState, limit: ChargingLimit) -> None:
        """Send ``limit`` (the EVSE's ``sent`` as recorded) and record the answer on it."""
        sent = ev.sent
        self._record(ev, sent, await self._answer(limit, f"profile to {ev.key}"))

    async def _answer(self, limit: ChargingLimit, what: str) -> str:
        """Send ``limit`` (at most ``max_parallel_sends`` at once, each within
        ``send_timeout_s``): ``accepted``, ``rejected`` or ``failed`` (logged as ``what``)."""
        async with self._sem:
            try:
                async with asyncio.timeout(self.ctx.settings.send_timeout_s):
                    await self.ctx.commands.set_charging_profile(limit)
            except CommandRejected as exc:
                logger.warning("site %s: %s", self.site_id, exc)
                return "rejected"
            except (CsmsError, TimeoutError) as exc:
                logger.warning(
                    "site %s: %s failed (sent again at the next re-plan): %s",
                    self.site_id,
                    what,
                    self._why(exc),
                )
                return "failed"
        return "accepted"

    def _why(self, exc: Exception) -> str:
        return why_failed(exc, self.ctx.settings.send_timeout_s)

    def _record(self, ev: EvseState, sent: Sent | None, state: str) -> None:
        """The station's answer to the TxProfile ``sent`` (if it is still the EVSE's)."""
        ctx = self.ctx
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
                self._refused(f"profile {state}")

    async def send_v2x(self, ev: EvseState, limit: ChargingLimit, fallback: ChargingLimit) -> None:
        """Send a V2G EV its V2X schedule; if the station refuses it (Rejected, or a
        CALLERROR), the EV gets its charging-only TxProfile ``fallback`` instead and
        ``v2x_refused`` is told. A send that got no answer in time (or found the station
        offline) is no refusal: it is recorded failed and sent again at the next re-plan
        (decision 0015)."""
        sent = ev.sent
        try:
            async with self._sem, asyncio.timeout(self.ctx.settings.send_timeout_s):
                await self.ctx.commands.set_charging_profile(limit)
        except CommandRejected as exc:
            self._v2x_refused(ev, f"the station answered {exc}")
        except CommandFailed as exc:
            self._v2x_refused(ev, f"the V2X schedule failed: {exc}")
        except (CsmsError, TimeoutError) as exc:
            logger.warning(
                "site %s: V2X schedule to %s failed (sent again at the next re-plan): %s",
                self.site_id,
                ev.key,
                self._why(exc),
            )
            self._record(ev, sent, "failed")
            return
        else:
            self._record(ev, sent, "accepted")
            return
        await self.send(ev, fallback)

    async def send_rack(self, rack: RackState, limit: ChargingLimit) -> None:
        """Send a swap station its rack limit and record the answer on ``rack``."""
        state = await self._answer(limit, f"rack limit to {limit.station_id}")
        was = rack.sent_state
        rack.sent_w, rack.sent_state = limit.schedule[0][1], state
        if state != "accepted" and was != state:
            self._refused(f"rack limit {state}")  # counted at its rating from now on
        elif was in ("failed", "rejected"):
            self._refused("rack limit accepted")  # planned as flexible load again

    async def renew(self, evs: list[EvseState], *, valid_to: datetime) -> None:
        """Send each EVSE its current TxProfile schedule again, lasting until ``valid_to``; a
        V2G EV's as a V2X schedule where its plan has it give then (decision 0920)."""
        now = self.ctx.clock.now()
        sends = []
        for ev in evs:
            sent = ev.sent
            assert sent is not None
            later = tuple((at, w) for at, w in sent.periods if at > now)
            sends.append(self._resend(ev, ((now, sent.value_at(now)), *later), valid_to, now))
        await asyncio.gather(*sends)

    async def renew_leases(self, storage: StorageController | None) -> None:
        """After the units' schedules went out: send every TxProfile that counts on storage
        discharge the schedule its units' commitments now give it (decision 0930): a unit
        not counted on has its lent part withdrawn at once, one counted on again has it
        restored, and a lease that ends within 1.5 control intervals is moved to the units'
        renewed schedules; no other EVSE is sent anything."""
        now = self.ctx.clock.now()
        commits = unit_commits(storage, now)
        margin_s = 1.5 * self.ctx.settings.storage_interval_s
        sends = []
        for ev in self.state.evses.values():
            found = resend_periods(ev, commits, now, margin_s)
            if found is not None and ev.sent is not None and ev.sent.valid_to is not None:
                periods, to, why = found
                self.lease_sends[why] += 1
                lent = ev.sent.lease.lent if ev.sent.lease is not None else ()
                self.unit_lease_sends.update((unit_id, why) for unit_id, _ in lent)
                if why != "renew":
                    held = ev.sent.value_at(now)
                    logger.log(logging.WARNING if why == "withdraw" else logging.INFO,
                               "site %s: %s: storage headroom %s: %.0f W -> %.0f W", self.site_id,
                               ev.key, "withdrawn" if why == "withdraw" else "restored", held,
                               periods[0][1])  # fmt: skip
                sends.append(self._resend(ev, periods, ev.sent.valid_to, now, lease_to=to))
        await asyncio.gather(*sends)

    def shortfall(self, reduction_w: float) -> None:
        """The storage controller's EV reduction now: what it asks beyond what was already
        taken off (by more than the deadband) is taken off at once (:meth:`cut`)."""
        more_w = reduction_w - self.cut_w
        if more_w > self.ctx.settings.deadband_w:
            self.cut_w, self.cuts = reduction_w, self.cuts + 1
            self.ctx.spawn(self.cut(more_w), what=f"planner: EV cut at {self.site_id}")

    async def cut(self, reduction_w: float) -> None:
        """Take ``reduction_w`` off the sessions' draw at once, without a re-plan (decision
        0927): each session with a TxProfile drawing power is lowered from the lower of its
        draw and its limit by its share of the reduction (in proportion to its draw: the
        draws as last metered, so that a second cut before they are metered again takes
        off only what the first did not), to no less than 0, for the rest of its profile (its
        later periods no higher). A lowered limit needs no node check; the re-plan asked for
        with the reduction shares the room again."""
        now = self.ctx.clock.now()
        drawing = [
            ev
            for ev in self.state.evses.values()
            if (sent := tx_profile(ev)) is not None
            and sent.valid_to is not None
            and sent.valid_to > now
            and ev.power_w > 0
            and self.state.controllable(ev)
        ]
        total_w = sum(ev.power_w for ev in drawing)
        if reduction_w <= 0 or total_w <= 0:
            return
        sends = []
        for ev in drawing:
            sent = ev.sent
            assert sent is not None and sent.valid_to is not None
            share_w = reduction_w * ev.power_w / total_w
            value = max(0.0, min(ev.power_w, sent.value_at(now)) - share_w)
            later = tuple((at, min(w, value)) for at, w in sent.periods if at > now)
            if sent.lease is not None:  # a lease renewed later raises it no higher (0626)
                lease = sent.lease
                sent.lease = replace(
                    lease,
                    raised=tuple((at, min(w, value)) for at, w in lease.raised),
                    free=tuple((at, min(w, value)) for at, w in lease.free),
                )
            sends.append(self._lowered(ev, sent, ((now, value), *later), now))
        logger.warning("site %s: %.0f W taken off %d sessions at once (storage shortfall)",
                       self.site_id, min(reduction_w, total_w), len(drawing))  # fmt: skip
        await asyncio.gather(*sends)

    async def _lowered(
        self, ev: EvseState, sent: Sent, periods: tuple[tuple[datetime, float], ...], now: datetime
    ) -> None:
        """``periods`` as the EVSE's TxProfile until its end, unless its session ended or it
        was sent another one while the sends before it went out."""
        if ev.tx is None or ev.sent is not sent or sent.valid_to is None:
            return
        await self._resend(ev, periods, sent.valid_to, now)

    async def _resend(
        self,
        ev: EvseState,
        periods: tuple[tuple[datetime, float], ...],
        valid_to: datetime,
        now: datetime,
        *,
        lease_to: datetime | None = None,
    ) -> None:
        """Send ``periods`` (from ``now``) until ``valid_to`` as the EVSE's TxProfile, its
        recorded giving and lease kept (the lease moved to ``lease_to``, if given)."""
        sent = ev.sent
        assert sent is not None and ev.tx is not None
        quirks = self.state.stations[ev.station.id].quirks
        value, later = periods[0][1], periods[1:]
        limit = make_limit(
            ev, value, quirks, purpose="TxProfile", now=now, valid_to=valid_to, later=later
        )
        v2x = renewal_v2x(self.state, ev, limit, self.ctx.settings, now=now, valid_to=valid_to)
        lease = sent.lease
        if lease is not None and lease_to is not None:
            lease = replace(lease, to=lease_to)
        ev.sent = Sent(
            value,
            "TxProfile",
            now,
            valid_to=valid_to,
            transaction_id=ev.tx.id,
            periods=((now, value), *later),
            gives=tuple(g for g in sent.gives if g[1] > now) if v2x is not None else (),
            lease=lease,
        )
        await (self.send(ev, limit) if v2x is None else self.send_v2x(ev, v2x, limit))

    async def carry_over(
        self,
        controlled: tuple[EvseState, ...],
        constraints: list[GridConstraint],
        uncontrolled_w: dict[str, float],
        *,
        valid_from: datetime,
        valid_to: datetime,
        supply: Callable[[str, datetime], float] | None = None,
    ) -> None:
        """Renew the accepted TxProfiles into the next window ``[valid_from, valid_to)``:
        first those at or below their EVSE's fallback, then, once those are answered, the
        raises that still fit every node at every instant of that window (its window
        edges too) with whatever was not carried on its fallback and the idle EVSEs on
        their defaults. ``supply(node, at)``: what the plan gives the EVs under a node on
        top of its limit (the PV counted on, the planned storage discharge), as the plan's
        own sends count it (decision 0914)."""

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
        await self.renew(lows, valid_to=valid_to)
        site = self.state.site
        extended = {ev.key for ev in controlled if carried(ev)}
        instants = self._instants(controlled, constraints, valid_from, valid_to)
        raises = carry_over_timed(
            site,
            [ev for ev in candidates if renewable(ev) and not carried(ev)],
            extended,
            controlled,
            instants=sorted(instants),
            limit_at=self._limit_at(constraints, instants, supply),
            base_w=self._base_w(uncontrolled_w),
        )
        await self.renew(raises, valid_to=valid_to)

    def _base_w(self, uncontrolled_w: dict[str, float]) -> dict[str, float]:
        """What each node carries besides the renewals: the uncontrolled draw, and the idle
        EVSEs on their fallback."""
        site = self.state.site
        base_w = dict(uncontrolled_w)
        for ev in self.state.evses.values():
            if ev.tx is None and self.state.controllable(ev):
                add_under(base_w, site, ev.node_id, fallback_w(ev))
        return base_w

    @staticmethod
    def _instants(
        controlled: tuple[EvseState, ...],
        constraints: list[GridConstraint],
        valid_from: datetime,
        valid_to: datetime,
    ) -> set[datetime]:
        """Where anything changes in the window: its start, the constraints' edges, the
        schedules' periods."""
        instants = {valid_from, *edges(constraints, valid_from, valid_to)}
        for ev in controlled:
            if ev.sent is not None:
                instants.update(at for at, _ in ev.sent.periods if valid_from < at < valid_to)
        return instants

    def _limit_at(
        self,
        constraints: list[GridConstraint],
        instants: set[datetime],
        supply: Callable[[str, datetime], float] | None,
    ) -> Callable[[str, datetime], float | None]:
        """Each node's import limit at each of ``instants`` (computed once per instant), plus
        the supply the plan gives the EVs under it then."""
        site = self.state.site
        by_instant = {at: limits_in_force(site, constraints, at) for at in instants}

        def limit_at(node_id: str, at: datetime) -> float | None:
            limit = by_instant[at].get(node_id)
            if limit is None or limit.max_import_w is None:
                return None
            return limit.max_import_w + (supply(node_id, at) if supply is not None else 0.0)

        return limit_at
