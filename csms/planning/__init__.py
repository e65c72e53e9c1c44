"""The planner service: per site, live state in, optimizer plan out, TxProfiles to stations.

See ``docs/sites.md`` (section "The planner loop").
"""

from __future__ import annotations

from csms.planning.config import PlanningSettings
from csms.planning.dispatch import Dispatch, choose, executable_w, make_limit
from csms.planning.exceptions import PlanningError
from csms.planning.problem import Built, build_problem, default_problem, session_needs
from csms.planning.service import EvseView, PlannerService, PlanView, SitePlanner
from csms.planning.state import AckState, EvseState, SiteState, StationState

__all__ = [
    "AckState",
    "Built",
    "Dispatch",
    "EvseState",
    "EvseView",
    "PlanView",
    "PlannerService",
    "PlanningError",
    "PlanningSettings",
    "SitePlanner",
    "SiteState",
    "StationState",
    "build_problem",
    "choose",
    "default_problem",
    "executable_w",
    "make_limit",
    "session_needs",
]
