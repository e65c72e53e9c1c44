"""The plan view per site: per EVSE what was planned, sent, acknowledged and measured."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optimizer import Plan

__all__ = ["EvseView", "PlanView"]


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
