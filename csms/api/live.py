"""What the dashboard asks for on every refresh, kept up to date from the event bus instead of
read from the store each time: each connector's latest status, each EVSE's latest power,
and each session's energy and cost so far.

Each figure is read from the store once (the same queries as before: ``connector_statuses``,
``latest_samples``, the session's register readings), the first time someone asks for that
station or session, and then follows the domain events: a 1,000-EVSE site's overview costs a
few dictionary lookups instead of thousands of queries. A value read from the store never
overwrites a newer one an event brought meanwhile.

A session's cost follows its register readings, each step priced at its midpoint like
:func:`csms.api.costs.energy_cost`; a change of the site or its constraints (the prices)
forgets the site's sessions, which are read again on the next request.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chargegrid.measurands import Measurand
from csms import events as ev
from csms.api.costs import energy_cost
from csms.domain import StatusReport, Transaction
from csms.sites import GridConstraint, Site, price_in_force
from csms.store.base import Store

__all__ = ["MAX_SESSIONS", "LiveView", "SessionFigures"]

#: sessions followed at most; the oldest ended ones are forgotten first (read again if asked)
MAX_SESSIONS = 50_000
_REGISTER = Measurand.ENERGY_ACTIVE_IMPORT_REGISTER
_POWER = Measurand.POWER_ACTIVE_IMPORT


@dataclass(slots=True)
class SessionFigures:
    """A session's energy (Wh) and cost so far, and its last register reading."""

    site_id: str
    start_wh: float
    last_at: datetime
    last_wh: float
    cost: float
    currency: str
    ended: bool = False

    @property
    def energy_wh(self) -> float:
        return max(0.0, self.last_wh - self.start_wh)


#: (site, its constraints) for pricing, or None when unknown
Pricing = tuple[Site, list[GridConstraint]]


class LiveView:
    def __init__(self, store: Store, *, site_of: Callable[[str], str | None]) -> None:
        self._store = store
        self._site_of = site_of
        self._statuses: dict[str, dict[tuple[int, int], StatusReport]] = {}
        self._power: dict[str, dict[int, tuple[float, datetime]]] = {}
        self._sessions: dict[int, SessionFigures] = {}
        self._pricing: dict[str, Pricing] = {}

    # -- events (the bus calls this synchronously; never blocks) -----------------------
    def on_event(self, event: Any) -> None:
        if isinstance(event, ev.StatusChanged):
            self._status(event.report)
        elif isinstance(event, ev.MeterValuesReceived):
            self._meter(event)
        elif isinstance(event, ev.TransactionStarted):
            self._started(event.transaction)
        elif isinstance(event, ev.TransactionEnded):
            self._ended(event.transaction)
        elif isinstance(event, ev.SiteChanged | ev.ConstraintsChanged):
            self.forget_site(event.site_id)

    def _status(self, report: StatusReport) -> None:
        known = self._statuses.get(report.station_id)
        if known is None:
            return  # read from the store when first asked for
        key = (report.evse_id, report.connector_id)
        old = known.get(key)
        if old is None or report.timestamp >= old.timestamp:
            known[key] = report

    def _meter(self, event: ev.MeterValuesReceived) -> None:
        power = self._power.get(event.station_id)
        figures = self._sessions.get(event.transaction_id) if event.transaction_id else None
        for s in event.samples:
            if s.phase is not None:
                continue
            if s.measurand == _POWER and power is not None:
                old = power.get(event.evse_id)
                if old is None or s.timestamp >= old[1]:
                    power[event.evse_id] = (s.value, s.timestamp)
            elif s.measurand == _REGISTER and figures is not None and not figures.ended:
                self._step(figures, s.timestamp, s.value)

    def _step(self, figures: SessionFigures, at: datetime, wh: float) -> None:
        if at <= figures.last_at:
            return
        pricing = self._pricing.get(figures.site_id)
        if pricing is None:
            return
        delta = wh - figures.last_wh
        if delta > 0:
            mid = figures.last_at + (at - figures.last_at) / 2
            figures.cost += delta / 1000.0 * price_in_force(pricing[0], pricing[1], mid)
        figures.last_at, figures.last_wh = at, wh

    def _started(self, tx: Transaction) -> None:
        """A session that starts while its site's prices are known is followed from its
        first reading on: it never needs a store read."""
        site_id = self._site_of(tx.station_id)
        pricing = self._pricing.get(site_id) if site_id is not None else None
        if pricing is None or site_id is None or tx.meter_start_wh is None:
            return
        self._sessions.setdefault(
            tx.id,
            SessionFigures(
                site_id=site_id,
                start_wh=tx.meter_start_wh,
                last_at=tx.started_at,
                last_wh=tx.meter_start_wh,
                cost=0.0,
                currency=pricing[0].tariff.currency,
            ),
        )

    def _ended(self, tx: Transaction) -> None:
        figures = self._sessions.get(tx.id)
        if figures is None:
            return
        if tx.stopped_at is not None and tx.meter_stop_wh is not None:
            self._step(figures, tx.stopped_at, tx.meter_stop_wh)
        figures.ended = True

    def forget_site(self, site_id: str) -> None:
        self._pricing.pop(site_id, None)
        for tx_id in [k for k, f in self._sessions.items() if f.site_id == site_id]:
            del self._sessions[tx_id]

    # -- reads ---------------------------------------------------------------------------
    async def statuses(self, station_id: str) -> list[StatusReport]:
        """The latest status per (EVSE, connector), ordered by them."""
        known = self._statuses.get(station_id)
        if known is None:
            stored = {
                (r.evse_id, r.connector_id): r
                for r in await self._store.connector_statuses(station_id)
            }
            known = self._statuses.setdefault(station_id, {})
            for key, report in stored.items():
                if key not in known or known[key].timestamp < report.timestamp:
                    known[key] = report
        return [known[k] for k in sorted(known)]

    async def power(self, station_id: str) -> dict[int, tuple[float, datetime]]:
        """Per EVSE: the latest ``Power.Active.Import`` (no phase) in W and its time."""
        known = self._power.get(station_id)
        if known is None:
            found: dict[int, tuple[float, datetime]] = {}
            for stored in await self._store.latest_samples(station_id):
                s = stored.sample
                if s.measurand == _POWER and s.phase is None:
                    old = found.get(stored.evse_id)
                    if old is None or old[1] < s.timestamp:
                        found[stored.evse_id] = (s.value, s.timestamp)
            known = self._power.setdefault(station_id, {})
            for evse_id, value in found.items():
                if evse_id not in known or known[evse_id][1] < value[1]:
                    known[evse_id] = value
        return known

    async def sessions(
        self,
        txs: Iterable[Transaction],
        site: Site,
        constraints: Callable[[], Awaitable[list[GridConstraint]]],
        points: Callable[[Transaction], Awaitable[list[tuple[datetime, float]]]],
    ) -> dict[int, SessionFigures]:
        """Energy and cost so far of ``txs`` (sessions of ``site``); a session not followed
        yet is read once: its register ``points`` priced with :func:`energy_cost`."""
        wanted = [tx for tx in txs if tx.meter_start_wh is not None]
        missing = [tx for tx in wanted if tx.id not in self._sessions]
        if missing:
            if site.id not in self._pricing:
                self._pricing[site.id] = (site, await constraints())
            pricing = self._pricing[site.id]
            price_at = functools.partial(price_in_force, pricing[0], pricing[1])
            for tx in missing:
                assert tx.meter_start_wh is not None
                read = sorted(await points(tx), key=lambda p: p[0])
                last_at, _ = read[-1]
                figures = SessionFigures(
                    site_id=site.id,
                    start_wh=tx.meter_start_wh,
                    last_at=last_at,
                    last_wh=max(wh for _, wh in read),
                    cost=energy_cost(read, price_at),
                    currency=site.tariff.currency,
                    ended=tx.stopped_at is not None,
                )
                self._sessions.setdefault(tx.id, figures)
            self._prune(keep={tx.id for tx in wanted})
        return {tx.id: self._sessions[tx.id] for tx in wanted if tx.id in self._sessions}

    def _prune(self, keep: set[int]) -> None:
        extra = len(self._sessions) - MAX_SESSIONS
        if extra <= 0:
            return
        ended = sorted(
            (f.last_at, tx_id)
            for tx_id, f in self._sessions.items()
            if f.ended and tx_id not in keep
        )
        for _, tx_id in ended[:extra]:
            del self._sessions[tx_id]
