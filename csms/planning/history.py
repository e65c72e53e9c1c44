"""What a site's own history tells the plan (sans-I/O): the sessions expected to arrive
later today, and the peak already set in the billing period (decision 0411).

Expected sessions are the site's ended sessions of the same weekday one week earlier (the
most recent such day with any), moved to today: each on its own EVSE if that is free for its
whole stay, else on a free EVSE under the same node, else dropped. They enter the problem
as low-priority sessions (their unmet energy weighs ``EXPECTED_PRIORITY`` of a driver's,
still above any money a kWh saves), so the plan keeps room, battery and peak for them; a
session is never charged before its arrival, and one whose arrival has passed is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from csms.domain import Transaction
from csms.planning.state import SiteState
from optimizer import Session

__all__ = ["EXPECTED_PRIORITY", "BillingPeak", "expected_sessions", "history_window"]

#: A driver's kWh outweighs an expected one's five times; an expected kWh still outweighs
#: every price, demand charge and storage wear (the optimizer's penalty has a 10x margin).
EXPECTED_PRIORITY = 0.2


def history_window(site_state: SiteState, now: datetime) -> tuple[datetime, datetime]:
    """The past transactions to read: those that started on the same weekday a week ago
    (site local time)."""
    local = site_state.site.local_time(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=7), midnight - timedelta(days=6)


def expected_sessions(
    state: SiteState,
    past: list[Transaction],
    *,
    now: datetime,
    busy_until: dict[str, datetime],
    evse_ids: set[str],
    horizon_end: datetime,
) -> list[Session]:
    """Sessions expected later today from the same weekday of an earlier week (the most
    recent one among ``past``). ``busy_until``: EVSE key -> the planned departure of the EV
    plugged in there; ``evse_ids``: the EVSEs in the problem."""
    site = state.site
    today = site.local_time(now).date()
    by_day: dict[int, list[Transaction]] = {}
    for tx in past:
        if tx.stopped_at is None or tx.energy_wh is None or tx.energy_wh <= 0:
            continue
        day = site.local_time(tx.started_at).date()
        back = (today - day).days
        if back > 0 and back % 7 == 0:
            by_day.setdefault(back, []).append(tx)
    if not by_day:
        return []
    back = min(by_day)
    taken: dict[str, list[tuple[datetime, datetime]]] = {
        key: [(now, until)] for key, until in busy_until.items()
    }

    def free(key: str, start: datetime, end: datetime) -> bool:
        return all(end <= lo or start >= hi for lo, hi in taken.get(key, []))

    out: list[Session] = []
    shift = timedelta(days=back)
    for tx in sorted(by_day[back], key=lambda t: (t.started_at, t.id)):
        assert tx.stopped_at is not None and tx.energy_wh is not None
        arrival, departure = tx.started_at + shift, tx.stopped_at + shift
        if arrival <= now or departure <= arrival or arrival >= horizon_end:
            continue
        own = state.evse_of(tx.station_id, tx.evse_id)
        if own is None:
            continue
        peers = [
            ev.key for ev in state.evses.values() if ev.node_id == own.node_id and ev.key != own.key
        ]
        choice = next(
            (k for k in [own.key, *peers] if k in evse_ids and free(k, arrival, departure)), None
        )
        if choice is None:
            continue
        taken.setdefault(choice, []).append((arrival, departure))
        out.append(
            Session(
                session_id=f"expected:{tx.id}",
                evse_id=choice,
                arrival=arrival,
                departure=departure,
                energy_requested_wh=tx.energy_wh,
                priority=EXPECTED_PRIORITY,
            )
        )
    return out


@dataclass
class BillingPeak:
    """The highest site import metered in the billing period (a calendar month, site local
    time), as the planner saw it at its re-plans."""

    period: tuple[int, int] | None = None
    peak_w: float = 0.0

    def update(self, state: SiteState, now: datetime, import_w: float) -> float:
        local = state.site.local_time(now)
        period = (local.year, local.month)
        if period != self.period:
            self.period, self.peak_w = period, 0.0
        self.peak_w = max(self.peak_w, import_w)
        return self.peak_w
