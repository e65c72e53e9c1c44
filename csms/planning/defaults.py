"""A site's safe TxDefaultProfiles: the share of every limit above each EVSE, sent when a
station boots (after asking it what it supports), renewed when the limits move, and for an
idle EVSE held to its share of what the sessions leave (decision 0613)."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from datetime import datetime

from csms.exceptions import CsmsError
from csms.planning.context import PlanningContext
from csms.planning.dispatch import current_w, executable_w, make_limit, node_limit_at
from csms.planning.problem import default_problem
from csms.planning.quirks import CONFIG_KEYS_16, VARIABLES_201, detected_quirks
from csms.planning.sending import why_failed
from csms.planning.state import EvseState, SiteState, StationState
from csms.planning.windows import idle_shares, room_left
from csms.sites.constraints import GridConstraint, NodeLimit
from csms.sites.model import StationQuirks
from optimizer import safe_evse_limits_w

__all__ = ["SafeDefaults"]

logger = logging.getLogger(__name__)

#: (EVSE, limit W) pairs: defaults to send
Changes = list[tuple[EvseState, float]]


class SafeDefaults:
    """The TxDefaultProfile limits of one site's EVSEs and their sending."""

    def __init__(self, ctx: PlanningContext, state: SiteState) -> None:
        self.ctx = ctx
        self.state = state
        self.site_id = state.site.id
        #: Each EVSE's safe share of every limit above it (W), by EVSE key.
        self.defaults_w: dict[str, float] = {}
        #: Idle EVSEs' share of what the sessions leave under every node (W): their
        #: TxDefaultProfile is held to it, so an EV arriving there fits (decision 0613).
        self.idle_caps_w: dict[str, float] = {}

    async def refresh(self, constraints: list[GridConstraint], now: datetime) -> None:
        """Recompute the safe shares; resend the defaults of the stations whose changed."""
        problem = default_problem(self.state.site, constraints, now=now)
        safe = await asyncio.to_thread(safe_evse_limits_w, problem) if problem.evses else {}
        changed = {
            key
            for key, value in safe.items()
            if abs(value - self.defaults_w.get(key, -1e9)) > self.ctx.settings.deadband_w
            or value < self.defaults_w.get(key, value)
        }
        self.defaults_w = safe
        if not changed or not self.ctx.settings.default_profiles:
            return
        # Every station at once (a re-plan waits for them before it plans; one after the
        # other they took a round trip each, 0025); a station whose settings are known is
        # not asked them again.
        sends = []
        for station_id in sorted({ev.station.id for ev in self.state.evses.values()
                                  if ev.key in changed}):  # fmt: skip
            st = self.state.stations[station_id]
            if st.online and st.defaults_sent:
                sends.append(self.send(station_id) if st.quirks is None else self._evses(st))
        await asyncio.gather(*sends)

    async def send(self, station_id: str) -> None:
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
        await self._evses(st)

    async def _evses(self, st: StationState) -> None:
        """Each EVSE of the station its TxDefaultProfile, all at once."""
        evs = [e for e in self.state.evses.values() if e.station.id == st.station.id]
        await asyncio.gather(*(self.send_one(ev, self.default_for(ev, st.quirks)) for ev in evs))

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
                "site %s: %s reports no smart-charging settings: %s",
                self.site_id,
                station_id,
                why_failed(exc, ctx.settings.send_timeout_s),
            )
            return
        for item in found:
            values[item.variable] = item.value
        st.quirks = detected_quirks(st.station.model, values, configured)
        st.learned.update({k: v for k, v in values.items() if v is not None})

    def default_for(self, ev: EvseState, quirks: StationQuirks | None) -> float:
        """What an EVSE's TxDefaultProfile allows: the safe share, and for an idle EVSE no
        more than its share of the room the sessions leave."""
        value = self.defaults_w.get(ev.key, 0.0)
        if ev.tx is None and ev.key in self.idle_caps_w:
            value = min(value, self.idle_caps_w[ev.key])
        return executable_w(ev, value, quirks)

    async def send_one(self, ev: EvseState, value: float) -> bool:
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
            why = why_failed(exc, ctx.settings.send_timeout_s)
            logger.warning("site %s: default profile to %s: %s", self.site_id, ev.key, why)
            return False
        ev.default_w = value
        ev.confirmed_w, ev.confirmed_at = value, ctx.clock.now()
        return True

    async def send_all(self, changes: Changes) -> None:
        await asyncio.gather(*(self.send_one(ev, w) for ev, w in changes))

    # -- idle EVSEs ---------------------------------------------------------------------
    def idle(
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

        limit_at = functools.partial(
            node_limit_at,
            site,
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
        self.idle_caps_w = self._whole_deadbands(idle_shares(site, idle=idle, headroom_w=room))
        return self._executable(idle)

    def _whole_deadbands(self, shares: dict[str, float]) -> dict[str, float]:
        """Whole deadbands (rounded down): the room moves a little at every re-plan, the
        idle EVSEs' defaults only when it crosses a step."""
        step_w = self.ctx.settings.deadband_w
        return {
            key: math.floor(share / step_w + 1e-9) * step_w if step_w > 0 else share
            for key, share in shares.items()
        }

    def _executable(self, idle: dict[str, str]) -> dict[str, float]:
        """Each idle EVSE's default as its station can take it: its cap (at most its safe
        share), or its safe share under no limited node."""
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

    def changes(self, wanted: dict[str, float]) -> tuple[Changes, Changes]:
        """(defaults to lower, defaults to raise) among ``wanted``: any decrease, an increase
        only past the deadband; only to stations that have their defaults already."""
        settings = self.ctx.settings
        lower: Changes = []
        higher: Changes = []
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
