"""The planning service: per site, live state in, optimizer plan out, TxProfiles to stations.

See ``docs/sites.md`` (section "The planning loop"). Only the settings and the exceptions are
imported eagerly: ``csms.config`` needs :class:`PlanningSettings`, and the rest pulls in the
optimizer, which ``chargegrid station list`` and friends should not wait for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from csms.planning.config import PlanningSettings
from csms.planning.exceptions import PlanningError

if TYPE_CHECKING:
    from csms.planning.context import PlanningContext
    from csms.planning.dispatch import Dispatch, choose, executable_w, make_limit
    from csms.planning.loop import SiteLoop
    from csms.planning.problem import Built, build_problem, default_problem, session_needs
    from csms.planning.readmodel import PlanReadModel
    from csms.planning.service import PlanningService
    from csms.planning.state import AckState, EvseState, SiteState, StationState
    from csms.planning.view import EvseView, PlanView

__all__ = [
    "AckState",
    "Built",
    "Dispatch",
    "EvseState",
    "EvseView",
    "PlanReadModel",
    "PlanView",
    "PlanningContext",
    "PlanningError",
    "PlanningService",
    "PlanningSettings",
    "SiteLoop",
    "SiteState",
    "StationState",
    "build_problem",
    "choose",
    "default_problem",
    "executable_w",
    "make_limit",
    "session_needs",
]

_LAZY = {
    "AckState": "csms.planning.state",
    "Built": "csms.planning.problem",
    "Dispatch": "csms.planning.dispatch",
    "EvseState": "csms.planning.state",
    "EvseView": "csms.planning.view",
    "PlanReadModel": "csms.planning.readmodel",
    "PlanView": "csms.planning.view",
    "PlanningContext": "csms.planning.context",
    "PlanningService": "csms.planning.service",
    "SiteLoop": "csms.planning.loop",
    "SiteState": "csms.planning.state",
    "StationState": "csms.planning.state",
    "build_problem": "csms.planning.problem",
    "choose": "csms.planning.dispatch",
    "default_problem": "csms.planning.problem",
    "executable_w": "csms.planning.dispatch",
    "make_limit": "csms.planning.dispatch",
    "session_needs": "csms.planning.problem",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'csms.planning' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
