"""The plan view per site: per EVSE what was planned, sent, acknowledged and measured."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optimizer import Plan

__all__ = ["EvseView", "PlanView", "RackView"]


@dataclass(frozen=True, slots=True)
class EvseView:
    station_id: str
    evse_id: int
    online: bool | None  # None: not known here (no loop plans the site in this process)
    transaction_id: int | None
    planned_w: float | None
    sent_w: float | None
    ack: str | None  # "pending", "accepted", "rejected", "failed" or None (nothing sent)
    confirmed_w: float | None  # the limit the station last confirmed
    default_w: float | None
    measured_w: float | None  # None: not known here
    non_compliant: bool


@dataclass(frozen=True, slots=True)
class RackView:
    """A swap station's rack: what the plan gives it, what was sent, how ready it is, and
    the swaps that found no ready pack."""

    swap_id: str
    station_id: str
    planned_w: float | None  # the first step's rack power
    sent_w: float | None
    ack: str | None  # "accepted", "rejected", "failed" or None (nothing sent)
    packs_ready: int | None  # packs at the threshold or above as last reported
    swaps_seen: int
    no_ready_pack_count: int
    last_no_ready_pack_at: datetime | None
    unready_swaps_expected: tuple[datetime, ...]  # forecast swaps the plan cannot ready


@dataclass(frozen=True, slots=True)
class PlanView:
    site_id: str
    at: datetime | None
    status: str | None  # "optimal", "fallback", or None before the first plan
    solve_s: float | None
    evses: tuple[EvseView, ...]
    binding: dict[str, str | None]  # node id -> binding constraint of the first step
    non_compliance_count: int
    #: the optimizer's per-step plan behind the view (None before the first plan, or where
    #: only what was dispatched is known)
    plan: Plan | None = None
    swap_racks: tuple[RackView, ...] = ()
